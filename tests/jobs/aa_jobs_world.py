"""The world shared by the test process and the worker processes of tests/jobs.

Configuration comes from environment variables (set by the tests for the workers):

* ``AA_JOBS_REDIS_URL``: the Redis database (``redis://127.0.0.1:6379/14``).
* ``AA_JOBS_PREFIX``: the key prefix of this test (unique per test).

The directory (accounts, inboxes, members, policies) is read-only configuration, built
identically in every process. Conversations live in Redis (a hash per conversation and a
Lua compare-and-set claim that also logs every successful claim), so every process sees
the same ones; presence, ledger, rotation and the inbox lease are
``autoassign.adapters.redis``; assignments are also logged as events.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import redis

from autoassign import build_autoassign
from autoassign.adapters.memory import InMemoryWorld
from autoassign.adapters.redis import RedisBackend
from autoassign.clock import SystemClock
from autoassign.events import AssigneeChanged
from autoassign.model import (
    ASSIGNMENT_V2_FEATURE,
    Account,
    AgentId,
    AssignmentPolicy,
    Conversation,
    ConversationId,
    ConversationPriority,
    ConversationStatus,
    ExclusionRules,
    Inbox,
    InboxId,
    TeamId,
)
from autoassign.ports import JobQueue
from autoassign.wiring import Autoassign

REDIS_URL_ENV = "AA_JOBS_REDIS_URL"
PREFIX_ENV = "AA_JOBS_PREFIX"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"

ACCOUNT = 1
AGENTS: tuple[AgentId, ...] = ("a1", "a2", "a3", "a4")
TRIGGERED_INBOXES: tuple[InboxId, ...] = (101, 102, 103)
PERIODIC_ONLY_INBOX: InboxId = 104
"""Only the periodic cycle ever reaches this inbox: the tests save into it without
calling the trigger."""
INBOXES = (*TRIGGERED_INBOXES, PERIODIC_ONLY_INBOX)


def redis_url() -> str:
    return os.environ.get(REDIS_URL_ENV, DEFAULT_REDIS_URL)


def prefix() -> str:
    return os.environ[PREFIX_ENV]


def client(url: str | None = None) -> redis.Redis:
    return redis.Redis.from_url(url or redis_url(), socket_timeout=5)


def directory() -> InMemoryWorld:
    world = InMemoryWorld(SystemClock())
    world.put_account(Account(id=ACCOUNT, features=frozenset({ASSIGNMENT_V2_FEATURE})))
    world.put_policy(AssignmentPolicy(id=1, account=ACCOUNT))
    for inbox in INBOXES:
        world.put_inbox(Inbox(id=inbox, account=ACCOUNT), AGENTS)
        world.link_policy(inbox, 1)
    return world


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


_CLAIM = """
if redis.call('HGET', KEYS[1], 'status') ~= 'open' then return 0 end
if redis.call('HGET', KEYS[1], 'assignee') ~= '' then return 0 end
if ARGV[3] ~= '' then
  local held = tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or '0')
  if held >= tonumber(ARGV[3]) then return 0 end
end
redis.call('HSET', KEYS[1], 'assignee', ARGV[2])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
redis.call('RPUSH', KEYS[4], ARGV[1] .. '=' .. ARGV[2])
return 1
"""


class RedisConversations:
    """A small :class:`~autoassign.ports.ConversationRepository` over Redis, for tests:
    one hash per conversation, a set of waiting ids per inbox, open counts per inbox, and
    a compare-and-set claim that logs each successful claim in ``{prefix}:claims``."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._claim = client.register_script(_CLAIM)

    def _conv(self, conversation: ConversationId) -> str:
        return f"{self.prefix}:conv:{json.dumps(conversation)}"

    def _waiting(self, inbox: InboxId) -> str:
        return f"{self.prefix}:waiting:{json.dumps(inbox)}"

    def _open(self, inbox: InboxId) -> str:
        return f"{self.prefix}:open:{json.dumps(inbox)}"

    @property
    def claims_key(self) -> str:
        return f"{self.prefix}:claims"

    def put_new(self, conversation: Conversation) -> None:
        """Store a new, open, unassigned conversation."""
        assert conversation.is_assignable
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(
            self._conv(conversation.id),
            mapping={
                "id": json.dumps(conversation.id),
                "inbox": json.dumps(conversation.inbox),
                "account": json.dumps(conversation.account),
                "status": conversation.status.value,
                "assignee": "",
                "created_at": conversation.created_at.isoformat(),
                "last_activity_at": conversation.last_activity_at.isoformat(),
            },
        )
        pipe.sadd(self._waiting(conversation.inbox), json.dumps(conversation.id))
        pipe.execute()

    def get(self, conversation: ConversationId) -> Conversation | None:
        raw: Mapping[Any, Any] = self.client.hgetall(self._conv(conversation))
        if not raw:
            return None
        fields = {_text(key): _text(value) for key, value in raw.items()}
        assignee = fields["assignee"]
        return Conversation(
            id=json.loads(fields["id"]),
            inbox=json.loads(fields["inbox"]),
            account=json.loads(fields["account"]),
            status=ConversationStatus(fields["status"]),
            assignee=json.loads(assignee) if assignee else None,
            created_at=datetime.fromisoformat(fields["created_at"]),
            last_activity_at=datetime.fromisoformat(fields["last_activity_at"]),
        )

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
        ids = [json.loads(raw) for raw in self.client.smembers(self._waiting(inbox))]
        found = [self.get(conversation) for conversation in ids]
        waiting = [
            c
            for c in found
            if c is not None
            and c.is_assignable
            and not exclusions.excludes(c, now)
            and c.on_page(priority, after=after, exclude_teams=exclude_teams)
        ]
        waiting.sort(key=lambda c: c.priority_key(priority))
        return waiting[:limit]

    def open_counts(
        self, inbox: InboxId, agents: Collection[AgentId]
    ) -> Mapping[AgentId, int]:
        wanted = list(agents)
        if not wanted:
            return {}
        values = self.client.hmget(self._open(inbox), [json.dumps(a) for a in wanted])
        return {
            agent: int(value)
            for agent, value in zip(wanted, values, strict=True)
            if value is not None
        }

    def claim(
        self,
        conversation: ConversationId,
        agent: AgentId,
        *,
        capacity_limit: int | None = None,
    ) -> bool:
        current = self.get(conversation)
        if current is None:
            return False
        keys = [
            self._conv(conversation),
            self._waiting(current.inbox),
            self._open(current.inbox),
            self.claims_key,
        ]
        args = [
            json.dumps(conversation),
            json.dumps(agent),
            "" if capacity_limit is None else str(capacity_limit),
        ]
        return bool(self._claim(keys=keys, args=args))

    def claims(self) -> list[tuple[ConversationId, AgentId]]:
        out = []
        for raw in self.client.lrange(self.claims_key, 0, -1):
            conversation, _, agent = _text(raw).partition("=")
            out.append((json.loads(conversation), json.loads(agent)))
        return out


class RedisEventLog:
    """An :class:`~autoassign.ports.EventBus` logging ``AssigneeChanged`` to a list."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.key = f"{prefix}:assignee-changed"

    def publish(self, event: object) -> None:
        if isinstance(event, AssigneeChanged):
            self.client.rpush(
                self.key, json.dumps([event.conversation, event.agent, event.inbox])
            )

    def assigned(self) -> list[tuple[ConversationId, AgentId]]:
        return [
            (item[0], item[1])
            for item in (json.loads(raw) for raw in self.client.lrange(self.key, 0, -1))
        ]


def build(
    jobs: JobQueue, *, url: str | None = None, key_prefix: str | None = None
) -> Autoassign:
    """The bundle every process of a test builds (test process and workers)."""
    connection = client(url)
    chosen = key_prefix or prefix()
    backend = RedisBackend(connection, prefix=chosen, require_heartbeat=False)
    return build_autoassign(
        directory=directory(),
        conversations=RedisConversations(connection, chosen),
        presence=backend.presence,
        ledger=backend.ledger,
        reservations=backend.reservations,
        rotation=backend.rotation,
        lease=backend.lease,
        events=RedisEventLog(connection, chosen),
        jobs=jobs,
    )


def new_conversation(conversation: ConversationId, inbox: InboxId) -> Conversation:
    now = datetime.now(timezone.utc)
    return Conversation(
        id=conversation,
        inbox=inbox,
        account=ACCOUNT,
        created_at=now,
        last_activity_at=now,
    )


def set_everyone_online(connection: redis.Redis, key_prefix: str) -> None:
    backend = RedisBackend(connection, prefix=key_prefix, require_heartbeat=False)
    for agent in AGENTS:
        backend.presence.set_status(ACCOUNT, agent, "online")


def delete_keys(connection: redis.Redis, pattern: str) -> int:
    """Delete the keys matching ``pattern`` (SCAN, never FLUSH)."""
    deleted = 0
    batch: list[Any] = []
    for key in connection.scan_iter(match=pattern, count=500):
        batch.append(key)
        if len(batch) >= 500:
            deleted += int(connection.delete(*batch))
            batch = []
    if batch:
        deleted += int(connection.delete(*batch))
    return deleted
