"""Per-policy routing settings (issue 18): skills routing and sticky agents as they
apply to one assignment policy's inboxes.

The ports stay wired by the host (``build_autoassign(skills=SkillRouting(book, ...),
sticky=StickyRouting(history, window=...))``); a policy may only tune or turn off
what is wired, with three optional fields of
:class:`~autoassign.model.AssignmentPolicy`, each ``None`` (the default: as wired):

* ``sticky_window`` (seconds): ``0`` turns sticky agents off for the policy's inboxes;
  ``1`` to :data:`~autoassign.model.MAX_ROUTING_SECONDS` replaces the wired
  :attr:`StickyRouting.window <autoassign.sticky.StickyRouting.window>` there.
* ``skill_routing``: ``False`` turns skills routing off there (the conversations'
  requirements are ignored, no skill is read); ``True`` is the same as ``None`` when
  skills routing is wired, and says that the policy expects it.
* ``skill_relax_after`` (seconds): ``0`` never relaxes; ``1`` and up relaxes after that
  long, instead of the wired
  :attr:`SkillRouting.relax_after <autoassign.skills.SkillRouting.relax_after>`.

A setting that needs a port the host did not wire (``sticky_window`` above 0 without
``sticky=``; ``skill_routing=True`` or a ``skill_relax_after`` without ``skills=``)
cannot apply: the policy's inboxes are routed as without it, a pass logs it once per
policy and setting (WARNING) and ``explain`` names it. It never fails a pass.

:func:`resolve_routing` is pure; a pass resolves its policy once, when it starts (from
the policy it loads anyway: no read of its own), so a change takes effect on the next
pass, as capacity limits do.
"""

from __future__ import annotations

from datetime import timedelta

import attrs

from autoassign.model import AssignmentPolicy
from autoassign.skills import SkillRouting
from autoassign.sticky import StickyRouting

__all__ = ["PolicyRouting", "resolve_routing"]


def _seconds(delay: timedelta) -> int:
    return int(delay.total_seconds())


def _relax_text(delay: timedelta | None) -> str:
    return "never relax" if delay is None else f"relax after {_seconds(delay)} s"


@attrs.frozen(kw_only=True)
class PolicyRouting:
    """Skills routing and sticky agents for one policy's inboxes: what the wiring and
    the policy's settings make of them (:func:`resolve_routing`)."""

    skills: SkillRouting | None
    """Skills routing there (the wired one, with the policy's relaxation); ``None``:
    off there."""
    sticky: StickyRouting | None
    """Sticky agents there (the wired history, with the policy's window); ``None``:
    off there."""
    skills_note: str
    """Which setting decided skills routing, for people (``explain``)."""
    sticky_note: str
    """Which setting decided sticky agents, for people (``explain``)."""
    ignored: tuple[str, ...] = ()
    """The policy's settings that cannot apply because their port is not wired
    (field names, in field order)."""

    @property
    def sticky_window(self) -> int | None:
        """The sticky window in force, in seconds (``None``: sticky agents off)."""
        return None if self.sticky is None else _seconds(self.sticky.window)

    @property
    def skill_relax_after(self) -> int | None:
        """The relaxation in force, in seconds (``None``: never, or skills off)."""
        if self.skills is None or self.skills.relax_after is None:
            return None
        return _seconds(self.skills.relax_after)

    def notes(self) -> dict[str, str]:
        """``{"skills": ..., "sticky": ...}``: :attr:`skills_note` and
        :attr:`sticky_note`."""
        return {"skills": self.skills_note, "sticky": self.sticky_note}


def _skills(
    policy: AssignmentPolicy, wired: SkillRouting | None
) -> tuple[SkillRouting | None, str, list[str]]:
    if policy.skill_routing is False:
        return None, "off: the policy's skill_routing is false", []
    if wired is None:
        ignored = [
            name
            for name, value in (
                ("skill_routing", policy.skill_routing),
                ("skill_relax_after", policy.skill_relax_after),
            )
            if value is not None
        ]
        if not ignored:
            return None, "off: skills routing is not wired", []
        return (
            None,
            "off: skills routing is not wired (build_autoassign(skills=...)); "
            f"ignored: the policy's {' and '.join(ignored)}",
            ignored,
        )
    relax = policy.skill_relax_after
    if relax is None:
        return wired, f"as wired ({_relax_text(wired.relax_after)})", []
    delay = None if relax == 0 else timedelta(seconds=relax)
    routing = (
        wired if delay == wired.relax_after else attrs.evolve(wired, relax_after=delay)
    )
    return (
        routing,
        f"the policy's skill_relax_after: {_relax_text(delay)} (wired: "
        f"{_relax_text(wired.relax_after)})",
        [],
    )


def _sticky(
    policy: AssignmentPolicy, wired: StickyRouting | None
) -> tuple[StickyRouting | None, str, list[str]]:
    window = policy.sticky_window
    if window == 0:
        return None, "off: the policy's sticky_window is 0", []
    if wired is None:
        if window is None:
            return None, "off: sticky agents are not wired", []
        return (
            None,
            "off: sticky agents are not wired (build_autoassign(sticky=...)); "
            "ignored: the policy's sticky_window",
            ["sticky_window"],
        )
    wired_window = _seconds(wired.window)
    if window is None:
        return wired, f"as wired (window {wired_window} s)", []
    routing = (
        wired
        if window == wired_window
        else attrs.evolve(wired, window=timedelta(seconds=window))
    )
    return (
        routing,
        f"the policy's sticky_window: {window} s (wired: {wired_window} s)",
        [],
    )


def resolve_routing(
    policy: AssignmentPolicy,
    *,
    skills: SkillRouting | None,
    sticky: StickyRouting | None,
) -> PolicyRouting:
    """Skills routing and sticky agents for ``policy``'s inboxes, from what is wired
    (``skills``, ``sticky``: the arguments of ``build_autoassign``) and the policy's
    routing settings (see the module's documentation). Pure: reads nothing."""
    skill_routing, skills_note, skills_ignored = _skills(policy, skills)
    sticky_routing, sticky_note, sticky_ignored = _sticky(policy, sticky)
    return PolicyRouting(
        skills=skill_routing,
        sticky=sticky_routing,
        skills_note=skills_note,
        sticky_note=sticky_note,
        ignored=(*sticky_ignored, *skills_ignored),
    )
