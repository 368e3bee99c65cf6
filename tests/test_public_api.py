"""The public API: ``autoassign.__all__`` is sorted and complete, every module declares
its exports, and the core imports without redis."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import textwrap
from typing import TypeVar

import pytest

import autoassign

# The modules whose public names make up the top-level API.
CORE_MODULES = (
    "autoassign.clock",
    "autoassign.decisions",
    "autoassign.errors",
    "autoassign.events",
    "autoassign.jobs",
    "autoassign.metrics",
    "autoassign.model",
    "autoassign.outbox",
    "autoassign.ports",
    "autoassign.results",
    "autoassign.selection",
    "autoassign.service",
    "autoassign.triggers",
    "autoassign.wiring",
)

# Public in their module but intentionally not re-exported from ``autoassign``: the ports
# (imported from ``autoassign.ports`` by adapter authors), id aliases, limits and
# constants, and helpers of the decision core.
NOT_AT_TOP_LEVEL = {
    "autoassign.clock": {
        "MAX_CLOCK_SKEW_ALLOWED",
        "check_max_clock_skew",
        "ledger_skew_margin",
        "skew_margin",
    },
    "autoassign.decisions": {
        "RecentAssignments",
        "capacity_limits",
        "total_limits",
        "exclusions_for_inbox",
        "skip_reason_for",
        "unlimited_agents",
        "unusable_exclusion_rules",
    },
    "autoassign.events": {"Event"},
    "autoassign.triggers": {
        "TriggerOptions",
        "request_program",
        "saved_program",
        "status_program",
    },
    "autoassign.metrics": {
        "PassSpan",
        "Tracing",
        "check_metrics",
        "check_tracing",
        "observe_quietly",
    },
    "autoassign.selection": {"fallback_ranking", "reconcile_queue"},
    "autoassign.jobs": {
        "DEFAULT_LEASE_TTL",
        "DEFAULT_MAX_ROUNDS",
        "DEFAULT_PENDING_TTL",
        "DEFAULT_RERUN_SLACK",
        "request_assignment_program",
    },
    "autoassign.model": {
        "ADVANCED_ASSIGNMENT_FEATURE",
        "DEFAULT_FAIR_DISTRIBUTION_WINDOW",
        "MAX_DESCRIPTION_LENGTH",
        "MAX_EXCLUDE_OLDER_THAN_HOURS",
        "MAX_FAIR_DISTRIBUTION_LIMIT",
        "MAX_FAIR_DISTRIBUTION_WINDOW",
        "MAX_FEATURE_LENGTH",
        "MAX_ID_LENGTH",
        "MAX_LABEL_LENGTH",
        "MAX_NAME_LENGTH",
        "MAX_ROUTING_SECONDS",
        "MAX_TOTAL_LIMIT",
        "MAX_URGENCY",
        "MAX_WEIGHT",
        "NO_DUE_AT",
        "PriorityKey",
        "WEIGHT_SCALE",
        "Load",
        "add_load",
        "check_weight",
        "fits",
        "load_from_units",
        "stored_due_at",
        "stored_load",
        "stored_routing_seconds",
        "stored_skill_routing",
        "stored_total_limit",
        "stored_urgency",
        "stored_weight",
        "weight_units",
        "AccountId",
        "AgentId",
        "ConversationId",
        "Id",
        "InboxId",
        "PolicyId",
        "Reservation",
        "TeamId",
        "check_text",
        "id_sort_key",
        "presence_matches",
        "text_problem",
    },
    "autoassign.outbox": {
        "DEFAULT_OUTBOX_GRACE",
        "StagedClaims",
        "confirm_quietly",
        "total_claim_options",
        "new_event_id",
        "stage_then_claim",
    },
    "autoassign.ports": {
        "AgentWeights",
        "BatchPendingLease",
        "CheckedClaims",
        "CheckedOutboxClaims",
        "ContactHistory",
        "TotalCapacity",
        "Clock",
        "ConversationRepository",
        "DelayedJobQueue",
        "Directory",
        "EventBus",
        "EventOutbox",
        "HandOff",
        "InboxLease",
        "JobQueue",
        "Lease",
        "PagedPolicyDirectory",
        "OnlinePresence",
        "Presence",
        "RateLimitLedger",
        "Reservations",
        "RotationStore",
        "ScheduleBook",
        "SkillBook",
        "WeightedRotation",
    },
    "autoassign.service": {
        "DEFAULT_BULK_LIMIT",
        "DEFAULT_MAX_PAGES",
        "DEFAULT_RECHECK_INTERVAL",
        "DEFAULT_USAGE_BATCH",
        "InboxState",
        "check_bulk_limit",
        "check_recheck_interval",
    },
    "autoassign.wiring": {"BULK_LIMIT_ENV"},
}

# Modules with their own ``__all__`` that are not re-exported at the top level.
OTHER_MODULES = (
    "autoassign.adapters.memory",
    "autoassign.integrations.django",
    "autoassign.integrations.django.conf",
    "autoassign.integrations.django.directory",
    "autoassign.integrations.django.jobs",
    "autoassign.integrations.django.presence",
    "autoassign.integrations.django.repository",
    "autoassign.integrations.django.signals",
    "autoassign.integrations.prometheus",
    "autoassign.reservations",
    "autoassign.routing",
    "autoassign.schedules",
    "autoassign.skills",
    "autoassign.sticky",
    "autoassign.testing",
    "autoassign.testing.contracts",
    "autoassign.testing.skew",
    "autoassign.testing.strategies",
    "autoassign.testing.stateful",
)


def _isort_style(name: str) -> tuple[int, list[tuple[int, int | str]]]:
    """The order ruff's RUF022 keeps ``__all__`` in: SCREAMING_SNAKE_CASE first, then
    CamelCase, then the rest; case-sensitive natural order within each group."""
    if len(name) > 1 and name.isupper():
        group = 0
    elif name[:1].isupper():
        group = 1
    else:
        group = 2
    chunks = re.findall(r"\d+|\D+", name)
    return group, [(0, int(c)) if c.isdigit() else (1, c) for c in chunks]


def test_all_is_sorted() -> None:
    names = list(autoassign.__all__)
    assert names == sorted(names, key=_isort_style)


def test_all_has_no_duplicates_and_every_name_exists() -> None:
    assert len(set(autoassign.__all__)) == len(autoassign.__all__)
    for name in autoassign.__all__:
        assert hasattr(autoassign, name), name


@pytest.mark.parametrize("module_name", CORE_MODULES)
def test_every_public_name_is_exported_or_intentionally_not(module_name: str) -> None:
    module = importlib.import_module(module_name)
    declared = set(module.__all__)
    missing = (
        declared - set(autoassign.__all__) - NOT_AT_TOP_LEVEL.get(module_name, set())
    )
    assert not missing, f"{module_name} names neither exported nor listed: {missing}"
    stale = NOT_AT_TOP_LEVEL.get(module_name, set()) - declared
    assert not stale, (
        f"NOT_AT_TOP_LEVEL lists names {module_name} no longer has: {stale}"
    )


def _defined_here(module_name: str) -> set[str]:
    module = importlib.import_module(module_name)
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and getattr(value, "__module__", None) == module_name
        and not isinstance(value, TypeVar)
    }


@pytest.mark.parametrize("module_name", CORE_MODULES + OTHER_MODULES)
def test_module_all_is_complete(module_name: str) -> None:
    module = importlib.import_module(module_name)
    declared = set(module.__all__)
    assert len(declared) == len(module.__all__), f"{module_name}.__all__ has duplicates"
    for name in declared:
        assert hasattr(module, name), f"{module_name}.__all__ names missing {name}"
    undeclared = _defined_here(module_name) - declared
    assert not undeclared, (
        f"{module_name} defines public names not in __all__: {undeclared}"
    )


def test_top_level_names_come_from_core_modules() -> None:
    exported = set()
    for module_name in CORE_MODULES:
        exported |= set(importlib.import_module(module_name).__all__)
    assert set(autoassign.__all__) - exported == {"__version__"}


def test_core_imports_without_redis() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["redis"] = None  # any "import redis" now raises ImportError
        import autoassign
        import autoassign.adapters.memory
        import autoassign.testing
        import autoassign.testing.contracts
        assert sys.modules["redis"] is None
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr


def test_core_imports_without_django() -> None:
    code = textwrap.dedent(
        """
        import sys
        import autoassign
        import autoassign.adapters.memory
        import autoassign.integrations
        import autoassign.testing
        import autoassign.testing.contracts
        import autoassign.wiring
        leaked = sorted(m for m in sys.modules if m == "django" or m.startswith("django."))
        assert not leaked, leaked
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr


def test_the_django_integration_explains_a_missing_django() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["django"] = None
        try:
            import autoassign.integrations.django
        except ImportError as exc:
            assert str(exc) == (
                "autoassign.integrations.django needs Django: install autoassign[django]"
            ), exc
        else:
            raise AssertionError("imported without Django")
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr


def test_strategies_explain_a_missing_hypothesis() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["hypothesis"] = None
        import autoassign.testing
        try:
            import autoassign.testing.strategies
        except ImportError as exc:
            assert "install autoassign[testing]" in str(exc), exc
        else:
            raise AssertionError("strategies imported without hypothesis")
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr


def test_core_runs_a_job_without_prometheus_client() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["prometheus_client"] = None
        from autoassign.testing import FakeClock, InMemoryBackend, build_in_memory
        app = build_in_memory(InMemoryBackend(clock=FakeClock()))
        assert app.job.metrics is None
        app.job.run(1)
        assert sys.modules["prometheus_client"] is None
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
