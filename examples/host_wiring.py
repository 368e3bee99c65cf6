"""How a host wires autoassign to its own database.

The host keeps its conversations in its own tables (here: ``sqlite3`` from the standard
library) and implements :class:`~autoassign.ports.ConversationRepository` over them. The
rest comes from the in-memory adapters (in production: the host's own ``Directory`` and
the Redis adapter for presence, ledger, rotation and lease). The host's save function
calls ``triggers.on_conversation_saved(before, after)`` after every write, and a worker
runs the queued assignment jobs.

Run::

    .venv/bin/python examples/host_wiring.py
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta, timezone

import attrs

from autoassign import (
    AssigneeChanged,
    AssignmentPolicy,
    CapacityPolicy,
    Conversation,
    ConversationPriority,
    ExclusionRules,
    SystemClock,
    build_autoassign,
)
from autoassign.adapters.memory import InMemoryBackend
from autoassign.errors import BackendError
from autoassign.model import AgentId, ConversationId, InboxId, TeamId

# Id columns are declared without a type: SQLite then keeps each value as given, so
# int and str ids both round-trip (autoassign's ids are opaque ``int | str``; the shipped
# contract suite uses both). A host with integer ids everywhere may declare INTEGER.
SCHEMA = """
CREATE TABLE conversations (
    id               PRIMARY KEY,
    inbox            NOT NULL,
    account          NOT NULL,
    status           TEXT    NOT NULL,
    assignee,
    team,
    created_at       INTEGER NOT NULL,  -- microseconds since the epoch, UTC
    last_activity_at INTEGER NOT NULL
);
CREATE TABLE conversation_labels (
    conversation NOT NULL REFERENCES conversations(id),
    label        TEXT NOT NULL,
    PRIMARY KEY (conversation, label)
);
CREATE INDEX conversations_waiting ON conversations (inbox, status, assignee);
"""


def connect() -> sqlite3.Connection:
    """The host's database (in memory here), usable from several threads."""
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.executescript(SCHEMA)
    return db


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1)


def _datetime(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


class SqliteConversations:
    """:class:`~autoassign.ports.ConversationRepository` over the host's tables.

    Every ``sqlite3.Error`` becomes a :class:`BackendError` (with the driver's error as
    ``__cause__``), as :mod:`autoassign.ports` asks.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        # One shared connection: its use is serialised. (With a connection per thread
        # or a pool, the atomic UPDATE in claim() alone keeps two workers apart.)
        self._lock = threading.Lock()

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        try:
            with self._lock:
                return self.db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise BackendError(f"conversation query failed: {exc}") from exc

    def put(self, conversation: Conversation) -> None:
        """The host's own write path (not part of the port): insert or replace a row."""
        with self._lock, self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO conversations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation.id,
                    conversation.inbox,
                    conversation.account,
                    conversation.status.value,
                    conversation.assignee,
                    conversation.team,
                    _micros(conversation.created_at),
                    _micros(conversation.last_activity_at),
                ),
            )
            self.db.execute(
                "DELETE FROM conversation_labels WHERE conversation = ?",
                (conversation.id,),
            )
            self.db.executemany(
                "INSERT INTO conversation_labels VALUES (?, ?)",
                [(conversation.id, label) for label in sorted(conversation.labels)],
            )

    def _labels(self, conversation: ConversationId) -> frozenset[str]:
        rows = self._rows(
            "SELECT label FROM conversation_labels WHERE conversation = ?",
            (conversation,),
        )
        return frozenset(row["label"] for row in rows)

    def _conversation(self, row: sqlite3.Row) -> Conversation:
        return Conversation(
            id=row["id"],
            inbox=row["inbox"],
            account=row["account"],
            status=row["status"],
            assignee=row["assignee"],
            team=row["team"],
            labels=self._labels(row["id"]),
            created_at=_datetime(row["created_at"]),
            last_activity_at=_datetime(row["last_activity_at"]),
        )

    # -- the port ---------------------------------------------------------------------

    def get(self, conversation: ConversationId) -> Conversation | None:
        rows = self._rows("SELECT * FROM conversations WHERE id = ?", (conversation,))
        return self._conversation(rows[0]) if rows else None

    def unassigned_open(
        self,
        inbox: InboxId,
        *,
        limit: int,
        priority: ConversationPriority,
        exclusions: ExclusionRules,
        now: datetime,
        after: Conversation | None = None,
        exclude_teams: Collection[TeamId] = (),
    ) -> Sequence[Conversation]:
        where = ["c.inbox = ?", "c.status = 'open'", "c.assignee IS NULL"]
        params: list[object] = [inbox]
        if exclusions.excluded_labels:
            labels = sorted(exclusions.excluded_labels)
            where.append(
                "NOT EXISTS (SELECT 1 FROM conversation_labels l WHERE "
                f"l.conversation = c.id AND l.label IN ({', '.join('?' * len(labels))}))"
            )
            params.extend(labels)
        cutoff = exclusions.cutoff(now)
        if cutoff is not None:
            where.append("c.created_at >= ?")
            params.append(_micros(cutoff))
        if priority is ConversationPriority.LONGEST_WAITING:
            order = "c.last_activity_at, c.created_at, c.id"
            cursor = () if after is None else (after.last_activity_at, after.created_at)
        else:
            order = "c.created_at, c.id"
            cursor = () if after is None else (after.created_at,)
        if after is not None:  # keyset paging: a row value after the cursor's
            where.append(f"({order}) > ({', '.join('?' * (len(cursor) + 1))})")
            params.extend([*(_micros(at) for at in cursor), after.id])
        if exclude_teams:
            teams = list(exclude_teams)
            where.append(
                f"(c.team IS NULL OR c.team NOT IN ({', '.join('?' * len(teams))}))"
            )
            params.extend(teams)
        sql = (
            f"SELECT c.* FROM conversations c WHERE {' AND '.join(where)} "
            f"ORDER BY {order} LIMIT ?"
        )
        return [self._conversation(row) for row in self._rows(sql, [*params, limit])]

    def open_counts(
        self, inbox: InboxId, agents: Collection[AgentId]
    ) -> Mapping[AgentId, int]:
        if not agents:
            return {}
        wanted = list(agents)
        rows = self._rows(
            "SELECT assignee, COUNT(*) AS n FROM conversations "
            "WHERE inbox = ? AND status = 'open' "
            f"AND assignee IN ({', '.join('?' * len(wanted))}) GROUP BY assignee",
            [inbox, *wanted],
        )
        return {row["assignee"]: row["n"] for row in rows}

    def claim(
        self,
        conversation: ConversationId,
        agent: AgentId,
        *,
        capacity_limit: int | None = None,
    ) -> bool:
        # One UPDATE is atomic in SQLite: the compare-and-set and the capacity check
        # happen together, so two workers can never both win.
        try:
            with self._lock, self.db:
                cursor = self.db.execute(
                    """
                    UPDATE conversations SET assignee = :agent
                    WHERE id = :id AND status = 'open' AND assignee IS NULL
                      AND (:limit IS NULL OR (
                            SELECT COUNT(*) FROM conversations held
                            WHERE held.inbox = conversations.inbox
                              AND held.status = 'open' AND held.assignee = :agent
                          ) < :limit)
                    """,
                    {"agent": agent, "id": conversation, "limit": capacity_limit},
                )
        except sqlite3.Error as exc:
            raise BackendError(f"claim failed: {exc}") from exc
        return cursor.rowcount == 1


def main() -> None:
    clock = SystemClock()
    db = connect()
    conversations = SqliteConversations(db)

    # The host's configuration; in production, a Directory over the host's own tables.
    memory = InMemoryBackend(clock=clock)
    memory.add_account("acme")
    memory.add_inbox("support", account="acme", members=["ann", "bob", "cho"])
    memory.add_policy(
        AssignmentPolicy(id="balanced", account="acme", assignment_order="balanced"),
        inboxes=["support"],
    )
    memory.add_capacity_policy(
        CapacityPolicy(
            id="juniors",
            account="acme",
            inbox_limits={"support": 1},
            agents=["cho"],
            exclusion_rules=ExclusionRules(excluded_labels={"VIP"}),
        )
    )
    for agent in ("ann", "bob", "cho"):
        memory.set_status("acme", agent, "online")

    app = build_autoassign(
        directory=memory.directory,
        conversations=conversations,  # the host's own repository
        presence=memory.presence,
        ledger=memory.ledger,
        rotation=memory.rotation,
        lease=memory.lease,
        events=memory.events,
        jobs=memory.jobs,
        clock=clock,
    )

    def announce(event: object) -> None:
        if isinstance(event, AssigneeChanged):
            print(
                f"  event: conversation {event.conversation} assigned to {event.agent}"
            )

    memory.events.subscribe(announce)

    def save(conversation: Conversation) -> None:
        """The host's save path: write the row, then call the trigger (after commit)."""
        before = conversations.get(conversation.id)
        conversations.put(conversation)
        outcome = app.triggers.on_conversation_saved(before, conversation)
        print(
            f"saved conversation {conversation.id} ({conversation.status.value}) "
            f"-> trigger {outcome.value}"
        )

    def worker() -> None:
        """The host's job worker: run the queued assignment jobs."""
        ran = memory.jobs.drain(app.job.run)
        print(f"worker ran {ran} job(s)")

    print("Five conversations arrive (the one labelled VIP is excluded):")
    now = clock.now()
    for number in range(1, 6):
        save(
            Conversation(
                id=number,
                inbox="support",
                account="acme",
                labels={"VIP"} if number == 5 else (),
                created_at=now + timedelta(seconds=number),
                last_activity_at=now + timedelta(seconds=number),
            )
        )
    worker()

    print("\nCho (capacity 1) resolves conversation 3; conversation 6 arrives:")
    resolved = conversations.get(3)
    assert resolved is not None
    save(attrs.evolve(resolved, status="resolved"))
    save(
        Conversation(
            id=6,
            inbox="support",
            account="acme",
            created_at=now + timedelta(seconds=6),
            last_activity_at=now + timedelta(seconds=6),
        )
    )
    worker()

    print("\nThe host's table now:")
    for row in db.execute("SELECT id, status, assignee FROM conversations ORDER BY id"):
        print(
            f"  conversation {row['id']}: {row['status']:<8} {row['assignee'] or '-'}"
        )


if __name__ == "__main__":
    main()
