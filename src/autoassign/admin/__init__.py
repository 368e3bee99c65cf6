"""Policy administration: validated, authorised CRUD of assignment and capacity policies,
and the admin HTTP API (a standard-library WSGI application).

Not imported by ``import autoassign``; import it as ``autoassign.admin``::

    from autoassign.admin import (
        Actor, AdminApp, ApiAccessTokenAuthenticator, InMemoryPolicyStore, PolicyAdmin,
    )

    store = InMemoryPolicyStore(backend.world, clock)
    admin = PolicyAdmin(store)
    app = AdminApp(admin, ApiAccessTokenAuthenticator({"token": Actor(
        account=1, user="root", role="administrator")}))

See ``docs/admin.md``.
"""

from __future__ import annotations

from autoassign.admin.errors import AdminError, NotFound, Unauthorized, ValidationFailed
from autoassign.admin.http import (
    DEFAULT_MAX_BODY_BYTES,
    ROUTES,
    AdminApp,
    ApiAccessTokenAuthenticator,
    Authenticator,
)
from autoassign.admin.memory import InMemoryPolicyStore
from autoassign.admin.openapi import OPENAPI_RESOURCE, openapi_document
from autoassign.admin.service import (
    Actor,
    PolicyAdmin,
    agent_json,
    capacity_policy_json,
    inbox_json,
    inbox_limit_json,
    policy_json,
)
from autoassign.admin.store import (
    AgentInfo,
    CapacityPolicyRecord,
    CapacityPolicyValues,
    DuplicateInboxLimit,
    InboxInfo,
    InboxLimitRecord,
    NameTaken,
    PolicyRecord,
    PolicyStore,
    PolicyValues,
    StoreConflict,
)

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "OPENAPI_RESOURCE",
    "ROUTES",
    "Actor",
    "AdminApp",
    "AdminError",
    "AgentInfo",
    "ApiAccessTokenAuthenticator",
    "Authenticator",
    "CapacityPolicyRecord",
    "CapacityPolicyValues",
    "DuplicateInboxLimit",
    "InMemoryPolicyStore",
    "InboxInfo",
    "InboxLimitRecord",
    "NameTaken",
    "NotFound",
    "PolicyAdmin",
    "PolicyRecord",
    "PolicyStore",
    "PolicyValues",
    "StoreConflict",
    "Unauthorized",
    "ValidationFailed",
    "agent_json",
    "capacity_policy_json",
    "inbox_json",
    "inbox_limit_json",
    "openapi_document",
    "policy_json",
]
