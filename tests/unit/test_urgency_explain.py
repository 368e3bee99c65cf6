"""``explain_conversation`` shows a conversation's urgency and due time (issue 18):
set, in the explanation, its JSON and the CLI's rendering; unset, left out, so an
explanation without them is what it was."""

from __future__ import annotations

import io
from datetime import timedelta

from rich.console import Console

from autoassign.explain import explain_conversation
from autoassign.simulate.render import render_conversation

from .conftest import Scenario


def _rendered(explanation: object) -> str:
    buffer = io.StringIO()
    render_conversation(Console(file=buffer, width=200), explanation)  # type: ignore[arg-type]
    return buffer.getvalue()


def test_urgency_and_due_time_are_explained(scenario: Scenario) -> None:
    scenario.setup()
    due = scenario.clock.now() + timedelta(minutes=30)
    scenario.conv(1, urgency=3, due_at=due)
    explained = explain_conversation(scenario.app, 1)
    assert (explained.urgency, explained.due_at) == (3, due)
    out = explained.to_dict()
    assert (out["urgency"], out["due_at"]) == (3, due.isoformat())
    assert f"urgency 3, due {due.isoformat()}" in _rendered(explained)


def test_without_them_nothing_is_added(scenario: Scenario) -> None:
    scenario.setup()
    scenario.conv(1)
    explained = explain_conversation(scenario.app, 1)
    out = explained.to_dict()
    assert "urgency" not in out
    assert "due_at" not in out
    assert "urgency" not in _rendered(explained)
