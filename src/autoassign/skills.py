"""Skills-based routing (issue 18): a conversation may require skills, and only agents
holding every one of them (at the level asked, or above) may take it.

Opt-in: ``build_autoassign(skills=SkillRouting(book, ...))``. With no
:class:`SkillRouting`, or for a conversation that requires nothing, every behaviour of
Assignment v2 is unchanged.

* **Agents' skills** come from a :class:`~autoassign.ports.SkillBook` (a port: the
  host's own table, or :class:`InMemorySkillBook`): each a name and a level ``>= 1``.
  The pass reads the skills of the online members its walks reach, in batches (of
  ``usage_batch``), once per presence snapshot: its cost does not grow with the team.
* **A conversation's requirements** come from :attr:`SkillRouting.required`, a function
  of the conversation: by default :func:`skills_from_labels` (labels ``skill:billing``,
  or ``skill:billing:2`` for level 2 or above), or the host's own (a field, a channel).
* **The filter** runs after the team filter and before the rate limit (the chain is
  online, team, skills, rate limit, capacity): an agent without every required skill is
  removed with :attr:`~autoassign.decisions.AgentFilter.MISSING_SKILL`; if nobody is
  left the conversation is skipped with
  :attr:`~autoassign.decisions.SkipReason.NO_AGENT_WITH_SKILLS` (or the reason of the
  filter that removed the skilled agents, as for teams). Such a skip holds for that
  conversation only: it never stops the pass for the conversations behind it.
* **Relaxation** (:attr:`SkillRouting.relax_after`): once a conversation has waited that
  long (from when it became assignable: the later of its creation and its last
  activity, the wait of :attr:`~autoassign.results.Assignment.waiting_since`), its
  requirements are dropped and any agent of the inbox may take it, as TaskRouter's and
  Omni-Channel's skill relaxation do.
* **A failing book**: the pass cannot tell who holds a skill, so a conversation with
  requirements is skipped with ``backend_error`` (never given to someone who may lack
  them); conversations without requirements are assigned as usual.

``explain_conversation`` shows the requirements in force (``required_skills``, and
whether they were relaxed) and each agent's missing skills.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from autoassign.errors import ConfigurationError
from autoassign.model import AccountId, AgentId, Conversation
from autoassign.ports import SkillBook

__all__ = [
    "InMemorySkillBook",
    "SkillBook",
    "SkillRouting",
    "check_skills",
    "missing_skills",
    "skills_from_labels",
]

_MAX_LEVEL = 1_000_000


def check_skills(skills: object, *, field: str = "skills") -> dict[str, int]:
    """``skills`` as a plain dict, or :class:`ConfigurationError` naming ``field``: each
    name a non-empty string, each level an int from 1 to 1,000,000."""
    if not isinstance(skills, Mapping):
        raise ConfigurationError(
            f"{field} must map skill names to levels, got {type(skills).__name__}",
            field=field,
        )
    checked: dict[str, int] = {}
    given: Mapping[object, object] = skills
    for name, level in given.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError(
                f"{field}: a skill name must be a non-empty string, got {name!r}",
                field=field,
            )
        if (
            isinstance(level, bool)
            or not isinstance(level, int)
            or not 1 <= level <= _MAX_LEVEL
        ):
            raise ConfigurationError(
                f"{field}: the level of {name!r} must be an int from 1 to "
                f"{_MAX_LEVEL:,}, got {level!r}",
                field=field,
            )
        checked[name] = level
    return checked


def skills_from_labels(
    prefix: str = "skill:",
) -> Callable[[Conversation], dict[str, int]]:
    """Requirements read from a conversation's labels: ``<prefix><name>`` requires
    ``name`` at level 1, ``<prefix><name>:<level>`` at ``level`` or above (a positive
    int; a last part that is not one is part of the name). Several labels of one skill:
    the highest level. Labels without the prefix require nothing."""
    raw: object = prefix
    if not isinstance(raw, str) or not raw:
        raise ConfigurationError(
            f"prefix must be a non-empty string, got {prefix!r}", field="prefix"
        )

    def required(conversation: Conversation) -> dict[str, int]:
        found: dict[str, int] = {}
        for label in conversation.labels:
            if not label.startswith(prefix):
                continue
            name, level = label[len(prefix) :], 1
            head, sep, tail = name.rpartition(":")
            if sep and head and tail.isdigit() and 1 <= int(tail) <= _MAX_LEVEL:
                name, level = head, int(tail)
            if name:
                found[name] = max(level, found.get(name, 0))
        return found

    return required


def missing_skills(required: Mapping[str, int], held: Mapping[str, int]) -> list[str]:
    """The required skills ``held`` lacks (or holds below the level), sorted."""
    return sorted(name for name, level in required.items() if held.get(name, 0) < level)


def _positive_delay(
    instance: object, attribute: attrs.Attribute[timedelta | None], value: object
) -> None:
    if value is None:
        return
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ConfigurationError(
            f"relax_after must be a positive timedelta or None, got {value!r}",
            field="relax_after",
        )


def _callable(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not callable(value):
        raise ConfigurationError(
            f"{attribute.name} must be callable, got {type(value).__name__}",
            field=attribute.name,
        )


def _book(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, SkillBook):
        raise ConfigurationError(
            "book must be a SkillBook (an object with agent_skills(account, agents)), "
            f"got {type(value).__name__}",
            field="book",
        )


def _labels() -> Callable[[Conversation], Mapping[str, int]]:
    return skills_from_labels()


@attrs.frozen(kw_only=True)
class SkillRouting:
    """Skills-based routing for every inbox of a wiring (``build_autoassign(skills=)``).

    ``book`` gives agents' skills; ``required`` a conversation's requirements (default:
    :func:`skills_from_labels`); ``relax_after`` drops them once the conversation has
    waited that long (``None``: never)."""

    book: SkillBook = attrs.field(validator=_book)
    required: Callable[[Conversation], Mapping[str, int]] = attrs.field(
        factory=_labels, validator=_callable
    )
    relax_after: timedelta | None = attrs.field(default=None, validator=_positive_delay)

    def requirements(
        self, conversation: Conversation, *, waiting_since: datetime, now: datetime
    ) -> tuple[dict[str, int], bool]:
        """The requirements in force for ``conversation`` now, and whether they were
        relaxed (then the dict is empty). A requirement function that returns
        something invalid raises :class:`ConfigurationError`."""
        wanted = check_skills(self.required(conversation), field="required")
        relax = self.relax_after
        if wanted and relax is not None and now - waiting_since >= relax:
            return {}, True
        return wanted, False


@attrs.define
class InMemorySkillBook:
    """A :class:`~autoassign.ports.SkillBook` in memory (tests, simulations, a host
    that keeps skills in its own settings). Thread-safe."""

    _skills: dict[tuple[AccountId, AgentId], dict[str, int]] = attrs.field(
        factory=dict, init=False
    )
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False)

    def set_skills(
        self, account: AccountId, agent: AgentId, skills: Mapping[str, int]
    ) -> None:
        """Replace ``agent``'s skills (``{}``: none). Checked first: a bad name or
        level raises :class:`ConfigurationError` and changes nothing."""
        checked = check_skills(skills)
        with self._lock:
            if checked:
                self._skills[account, agent] = checked
            else:
                self._skills.pop((account, agent), None)

    def set_many(
        self, account: AccountId, skills: Mapping[AgentId, Mapping[str, int]]
    ) -> None:
        """:meth:`set_skills` for several agents (all checked before any change)."""
        checked = {agent: check_skills(held) for agent, held in skills.items()}
        with self._lock:
            for agent, held in checked.items():
                if held:
                    self._skills[account, agent] = held
                else:
                    self._skills.pop((account, agent), None)

    def agent_skills(
        self, account: AccountId, agents: Collection[AgentId]
    ) -> dict[AgentId, dict[str, int]]:
        with self._lock:
            return {
                agent: dict(self._skills[account, agent])
                for agent in agents
                if (account, agent) in self._skills
            }
