"""SQL adapters (SQLAlchemy 2 Core): conversations, directory and policy store in a
relational database. Needs the ``autoassign[sql]`` extra (``autoassign[postgres]`` adds
the PostgreSQL driver). See ``docs/sql.md``.

::

    engine = create_sqlite_engine("autoassign.db")      # or create_engine(postgres_url)
    schema = SqlSchema()                                 # the library's own tables
    schema.create_all(engine)
    conversations = SqlConversationRepository(engine, schema)
    directory = SqlDirectory(engine, schema)
    policies = SqlPolicyStore(engine, schema)           # for autoassign.admin.PolicyAdmin
    outbox = SqlEventOutbox(conversations)              # build_autoassign(outbox=...)
"""

from __future__ import annotations

try:
    import sqlalchemy as _sqlalchemy  # noqa: F401
except ImportError as exc:  # exercised in a subprocess test
    raise ImportError(
        "autoassign.adapters.sql needs SQLAlchemy: install autoassign[sql] "
        "(autoassign[postgres] for PostgreSQL)"
    ) from exc

from autoassign.adapters.sql._db import create_sqlite_engine, translate_errors
from autoassign.adapters.sql.directory import (
    SqlDirectory,
    exclusion_rules_from_json,
    overrides_from_json,
)
from autoassign.adapters.sql.outbox import SqlEventOutbox
from autoassign.adapters.sql.policy_store import AgentLinks, SqlPolicyStore
from autoassign.adapters.sql.repository import SqlConversationRepository
from autoassign.adapters.sql.schema import (
    DEFAULT_ORDER_ENCODING,
    DEFAULT_PRIORITY_ENCODING,
    DEFAULT_STATUS_ENCODING,
    HEAD_REVISION,
    LOGICAL_TABLES,
    EnumEncoding,
    IdKind,
    OpenCondition,
    SqlSchema,
    TableMap,
    UtcDateTime,
)
from autoassign.adapters.sql.writer import SqlWriter

from .labels import ArrayLabels, TaggingLabels

__all__ = [
    "DEFAULT_ORDER_ENCODING",
    "DEFAULT_PRIORITY_ENCODING",
    "DEFAULT_STATUS_ENCODING",
    "HEAD_REVISION",
    "LOGICAL_TABLES",
    "AgentLinks",
    "ArrayLabels",
    "EnumEncoding",
    "IdKind",
    "OpenCondition",
    "SqlConversationRepository",
    "SqlDirectory",
    "SqlEventOutbox",
    "SqlPolicyStore",
    "SqlSchema",
    "SqlWriter",
    "TableMap",
    "TaggingLabels",
    "UtcDateTime",
    "create_sqlite_engine",
    "exclusion_rules_from_json",
    "overrides_from_json",
    "translate_errors",
]
