from __future__ import annotations

from autoassign import AssignmentPolicy
from autoassign.testing import InMemoryBackend, build_in_memory


def test_one_online_agent_gets_the_open_conversation(backend: InMemoryBackend) -> None:
    backend.add_account(1)
    backend.add_inbox(10, account=1, members=["ann"])
    backend.add_policy(AssignmentPolicy(id=1, account=1), inboxes=[10])
    backend.set_status(1, "ann", "online")
    backend.add_conversation(100, inbox=10)
    result = build_in_memory(backend, strict=True).service.perform_bulk_assignment(10)
    assert result.assigned_count == 1
    conversation = backend.world.get(100)
    assert conversation is not None
    assert conversation.assignee == "ann"
