"""autoassign: fair, capacity-aware automatic assignment of helpdesk conversations.

The core is written against the ports in :mod:`autoassign.ports`; wire it to adapters
with :func:`build_autoassign`. See ``docs/concepts.md``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from autoassign.clock import SystemClock
from autoassign.decisions import (
    AgentFilter,
    AgentVerdict,
    GateFailure,
    SkipReason,
    check_gates,
    evaluate_agent,
    evaluate_agents,
)
from autoassign.errors import (
    AutoassignError,
    BackendError,
    BackendUnavailable,
    ConfigurationError,
    ContractViolation,
)
from autoassign.events import AssigneeChanged, ConversationUpdated
from autoassign.jobs import (
    AssignmentJob,
    JobOutcome,
    PeriodicAssignmentJob,
    PeriodicOutcome,
    request_assignment,
)
from autoassign.metrics import Metrics, NullMetrics
from autoassign.model import (
    ASSIGNMENT_V2_FEATURE,
    OFF_SCHEDULE,
    ONLINE,
    Account,
    AssignmentOrder,
    AssignmentPolicy,
    CapacityPolicy,
    Conversation,
    ConversationPriority,
    ConversationStatus,
    EffectivePolicy,
    ExclusionRules,
    Inbox,
    LedgerUsage,
    OverridePrecedence,
    PolicyOverrides,
    Team,
)
from autoassign.outbox import OutboxRecord, OutboxRelay, RelayReport
from autoassign.results import Assignment, AssignmentResult, Degradation, Skip
from autoassign.selection import (
    BalancedSelector,
    MostAvailableSelector,
    Ranking,
    RankingInput,
    RoundRobinSelector,
    SelectionContext,
    Selector,
    WeightedRoundRobinSelector,
    WeightedStanding,
)
from autoassign.service import AssignmentService
from autoassign.triggers import (
    AssignmentTriggers,
    LegacyAssigner,
    Reassigner,
    RoundRobinLegacyAssigner,
    TriggerOutcome,
)
from autoassign.wiring import Autoassign, build_autoassign, bulk_limit_from_env

try:
    __version__ = version("autoassign")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "ASSIGNMENT_V2_FEATURE",
    "OFF_SCHEDULE",
    "ONLINE",
    "Account",
    "AgentFilter",
    "AgentVerdict",
    "AssigneeChanged",
    "Assignment",
    "AssignmentJob",
    "AssignmentOrder",
    "AssignmentPolicy",
    "AssignmentResult",
    "AssignmentService",
    "AssignmentTriggers",
    "Autoassign",
    "AutoassignError",
    "BackendError",
    "BackendUnavailable",
    "BalancedSelector",
    "CapacityPolicy",
    "ConfigurationError",
    "ContractViolation",
    "Conversation",
    "ConversationPriority",
    "ConversationStatus",
    "ConversationUpdated",
    "Degradation",
    "EffectivePolicy",
    "ExclusionRules",
    "GateFailure",
    "Inbox",
    "JobOutcome",
    "LedgerUsage",
    "LegacyAssigner",
    "Metrics",
    "MostAvailableSelector",
    "NullMetrics",
    "OutboxRecord",
    "OutboxRelay",
    "OverridePrecedence",
    "PeriodicAssignmentJob",
    "PeriodicOutcome",
    "PolicyOverrides",
    "Ranking",
    "RankingInput",
    "Reassigner",
    "RelayReport",
    "RoundRobinLegacyAssigner",
    "RoundRobinSelector",
    "SelectionContext",
    "Selector",
    "Skip",
    "SkipReason",
    "SystemClock",
    "Team",
    "TriggerOutcome",
    "WeightedRoundRobinSelector",
    "WeightedStanding",
    "__version__",
    "build_autoassign",
    "bulk_limit_from_env",
    "check_gates",
    "evaluate_agent",
    "evaluate_agents",
    "request_assignment",
]
