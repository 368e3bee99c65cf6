"""The capability flags and hooks of the repository and directory suites, on strict
in-memory hosts that fail as a real host would: a host with int ids only, one account,
no teams, policies keyed by inbox, and agents as rows (a claim or a count for an agent
not passed to ``prepare_agents`` first raises, like a foreign key). Each flag skips
exactly the cases listed here, with a reason naming it; every other case passes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import pytest

from autoassign.adapters.memory import InMemoryWorld
from autoassign.model import (
    Account,
    AgentId,
    AssignmentPolicy,
    CapacityPolicy,
    Conversation,
    ConversationId,
    Id,
    Inbox,
    InboxId,
    PolicyId,
    Team,
)
from autoassign.ports import ConversationRepository, Directory
from autoassign.testing import FakeClock, seed_directory
from autoassign.testing.contracts import (
    ConversationRepositoryContract,
    DirectoryContract,
    ReassignerContract,
)

SHARED_FLAGS = ("single_account", "integer_ids", "no_teams")
REPOSITORY_FLAGS = (
    *SHARED_FLAGS,
    "no_urgency",
    "no_due_at",
    "no_total_capacity",
    "no_weights",
)
DIRECTORY_FLAGS = (*SHARED_FLAGS, "policy_id_is_inbox_id", "no_policy_routing")
SKIPPED: dict[str, set[str]] = {
    "reassigner/single_account": set(),
    "reassigner/integer_ids": set(),
    "reassigner/no_teams": set(),
    "reassigner/no_urgency": set(),
    "reassigner/no_due_at": set(),
    "reassigner/no_total_capacity": set(),
    "reassigner/no_weights": set(),
    "repository/single_account": set(),
    "repository/integer_ids": {"test_str_ids_order_is_total"},
    "repository/no_teams": {"test_excluded_teams_are_left_out"},
    "repository/no_urgency": {"test_highest_urgency_order"},
    "repository/no_due_at": {"test_earliest_due_order"},
    "repository/no_total_capacity": {
        "test_open_totals_count_every_inbox_of_the_account",
        "test_claim_respects_the_total_limit",
        "test_concurrent_claims_respect_the_total_limit",
        "test_claim_compares_weights_with_the_total_limit",
    },
    "repository/no_weights": {
        "test_weights_are_stored_and_summed",
        "test_claim_compares_weights_with_the_limit",
        "test_claim_compares_weights_with_the_total_limit",
        "test_concurrent_weighted_claims_never_overshoot",
    },
    "directory/single_account": {
        "test_iter_accounts_in_batches",
        "test_iter_inboxes_with_policies_pages_across_accounts",
    },
    "directory/integer_ids": set(),
    "directory/no_teams": {"test_team"},
    "directory/policy_id_is_inbox_id": set(),
    "directory/no_policy_routing": {"test_policy_routing_settings"},
}


def _ints(*ids: Id | None) -> None:
    for value in ids:
        assert value is None or type(value) is int, f"{value!r} is not an int id"


class _RowsWorld(InMemoryWorld):
    """Claims and counts only for prepared agents, as a foreign key would."""

    def __init__(self, agents: set[AgentId]) -> None:
        super().__init__(FakeClock())
        self.agents = agents

    def _known(self, agents: Sequence[AgentId]) -> None:
        missing = set(agents) - self.agents
        assert not missing, f"agents {missing!r} were not passed to prepare_agents"

    def claim(
        self,
        conversation: ConversationId,
        agent: AgentId,
        *,
        capacity_limit: int | None = None,
        total_limit: int | None = None,
    ) -> bool:
        self._known([agent])
        return super().claim(
            conversation, agent, capacity_limit=capacity_limit, total_limit=total_limit
        )

    def reassign(
        self, conversation: ConversationId, agent: AgentId, *, previous: AgentId
    ) -> bool:
        self._known([agent, previous])
        return super().reassign(conversation, agent, previous=previous)

    def open_counts(
        self, inbox: InboxId, agents: Collection[AgentId]
    ) -> Mapping[AgentId, int]:
        self._known(list(agents))
        return super().open_counts(inbox, agents)

    def open_totals(
        self, account: Id, agents: Collection[AgentId]
    ) -> Mapping[AgentId, int]:
        self._known(list(agents))
        return super().open_totals(account, agents)


class StrictRepository(ConversationRepositoryContract):
    """Checks what each set flag promises about what reaches the hooks."""

    def setup_method(self) -> None:
        self.prepared: set[AgentId] = set()
        self.closed: list[threading.Thread] = []

    def prepare_agents(self, agents: Sequence[AgentId]) -> None:
        if self.integer_ids:
            _ints(*agents)
        self.prepared |= set(agents)

    def close_connections(self) -> None:
        self.closed.append(threading.current_thread())

    def make_repository(
        self, conversations: Sequence[Conversation]
    ) -> ConversationRepository:
        world = _RowsWorld(self.prepared)
        for c in conversations:
            if self.integer_ids:
                _ints(c.id, c.inbox, c.account, c.assignee, c.team)
            if self.single_account:
                assert c.account == 1
            if self.no_teams:
                assert c.team is None
            if self.no_urgency:
                assert c.urgency is None
            if self.no_due_at:
                assert c.due_at is None
            world._known([c.assignee] if c.assignee is not None else [])
            world.put_conversation(c)
        return world


class StrictReassigner(ReassignerContract):
    setup_method = StrictRepository.setup_method
    prepare_agents = StrictRepository.prepare_agents
    close_connections = StrictRepository.close_connections

    def make_repository(self, conversations: Sequence[Conversation]) -> _RowsWorld:
        world = StrictRepository.make_repository(self, conversations)  # type: ignore[arg-type]
        assert isinstance(world, _RowsWorld)
        return world


class StrictDirectory(DirectoryContract):
    def make_directory(
        self,
        *,
        accounts: Sequence[Account],
        inboxes: Sequence[Inbox],
        members: Mapping[InboxId, Sequence[AgentId]],
        teams: Sequence[Team],
        policies: Sequence[AssignmentPolicy],
        links: Mapping[InboxId, PolicyId],
        capacity_policies: Sequence[CapacityPolicy],
    ) -> Directory:
        if self.integer_ids:
            _ints(*(a.id for a in accounts), *(i.id for i in inboxes))
            _ints(*(agent for ms in members.values() for agent in ms))
            _ints(*(t.id for t in teams), *(a for t in teams for a in t.members))
            _ints(*(p.id for p in policies), *links, *links.values())
            _ints(*(p.id for p in capacity_policies))
            _ints(*(a for p in capacity_policies for a in p.agents))
        if self.single_account:
            assert {a.id for a in accounts} <= {1}
            assert {i.account for i in inboxes} <= {1}
            assert {p.account for p in policies} <= {1}
            assert {p.account for p in capacity_policies} <= {1}
        if self.no_teams:
            assert teams == []
        if self.no_policy_routing:
            assert not any(p.routing_set for p in policies)
        if self.policy_id_is_inbox_id:
            assert all(inbox == policy for inbox, policy in links.items())
            assert {p.id for p in policies} == set(links.values())
        world = InMemoryWorld(FakeClock())
        seed_directory(
            world,
            accounts=accounts,
            inboxes=inboxes,
            members=members,
            teams=teams,
            policies=policies,
            links=links,
            capacity_policies=capacity_policies,
        )
        return world


def _flagged(base: type[Any], flags: Sequence[str]) -> type[Any]:
    return type(f"{base.__name__}Flagged", (base,), dict.fromkeys(flags, True))


class TestRepositoryAllFlags(
    _flagged(StrictRepository, REPOSITORY_FLAGS)  # type: ignore[misc]
):
    """The whole suite, every flag set, under pytest: skips are reported as skips."""


class TestReassignerAllFlags(
    _flagged(StrictReassigner, REPOSITORY_FLAGS)  # type: ignore[misc]
):
    pass


class TestDirectoryAllFlags(
    _flagged(StrictDirectory, DIRECTORY_FLAGS)  # type: ignore[misc]
):
    pass


def _run(suite: type[Any]) -> dict[str, str]:
    """Every case of ``suite`` on a fresh instance; the skipped ones with reasons."""
    skipped: dict[str, str] = {}
    for name in sorted(n for n in dir(suite) if n.startswith("test_")):
        instance = suite()
        getattr(instance, "setup_method", lambda: None)()
        try:
            getattr(instance, name)()
        except pytest.skip.Exception as exc:
            skipped[name] = str(exc.msg)
    return skipped


CASES: list[tuple[str, type[Any], str]] = [
    *(("repository", StrictRepository, flag) for flag in REPOSITORY_FLAGS),
    *(("reassigner", StrictReassigner, flag) for flag in REPOSITORY_FLAGS),
    *(("directory", StrictDirectory, flag) for flag in DIRECTORY_FLAGS),
]


@pytest.mark.parametrize(
    ("port", "base", "flag"), CASES, ids=[f"{p}/{f}" for p, _, f in CASES]
)
def test_each_flag_skips_exactly_what_the_host_cannot_represent(
    port: str, base: type[Any], flag: str
) -> None:
    skipped = _run(_flagged(base, [flag]))
    assert set(skipped) == SKIPPED[f"{port}/{flag}"]
    assert all(reason.startswith(f"{flag}: ") for reason in skipped.values())


@pytest.mark.parametrize("base", [StrictRepository, StrictReassigner, StrictDirectory])
def test_without_flags_nothing_is_skipped(base: type[Any]) -> None:
    assert _run(base) == {}


def test_every_flag_together_skips_the_union() -> None:
    repository = _run(_flagged(StrictRepository, REPOSITORY_FLAGS))
    assert set(repository) == set().union(
        *(SKIPPED[f"repository/{f}"] for f in REPOSITORY_FLAGS)
    )
    directory = _run(_flagged(StrictDirectory, DIRECTORY_FLAGS))
    assert set(directory) == set().union(
        *(SKIPPED[f"directory/{f}"] for f in DIRECTORY_FLAGS)
    )


def test_integer_ids_rewrites_names_as_ints() -> None:
    suite = _flagged(StrictRepository, ["integer_ids"])()
    assert [suite.agent(n) for n in ("ann", "bob", "agent-3", 7)] == [1, 2, 103, 7]
    assert suite.team_id("blocked") == 1
    plain = StrictRepository()
    assert plain.agent("ann") == "ann"


def test_claims_are_for_prepared_agents_only() -> None:
    """The strict host really refuses an agent it has no row for (so the suite
    passing on it shows that every claimed agent was prepared)."""
    world = _RowsWorld({"ann"})
    with pytest.raises(AssertionError, match="prepare_agents"):
        world.claim(1, "bob")


@pytest.mark.parametrize(
    "case",
    [
        "test_concurrent_claims_respect_capacity",
        "test_concurrent_claims_have_exactly_one_winner",
    ],
)
def test_each_thread_the_suite_starts_closes_its_connections(case: str) -> None:
    suite = StrictRepository()
    suite.setup_method()
    run: Callable[[], None] = getattr(suite, case)
    run()
    assert suite.closed, "close_connections was never called"
    assert threading.main_thread() not in suite.closed
    races = 1 if case.endswith("capacity") else 5
    assert len(suite.closed) == 8 * races
    assert len(set(suite.closed)) == len(suite.closed)  # once per thread
