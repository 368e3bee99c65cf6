"""A small Redis-backed ConversationRepository for the multi-worker tests: a hash per
conversation and a Lua compare-and-set claim, so claims are atomic across threads and
processes. Test code only (standalone Redis; every key shares one hash tag)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from autoassign.model import (
    AgentId,
    Conversation,
    ConversationId,
    ConversationPriority,
    ConversationStatus,
    ExclusionRules,
    InboxId,
    TeamId,
)
from autoassign.testing import EPOCH

CLAIM = """
local state = redis.call('HMGET', KEYS[1], 'status', 'assignee')
if not state[1] or state[1] ~= 'open' or (state[2] and state[2] ~= '') then
  return 0
end
if ARGV[2] ~= '' then
  local held = tonumber(redis.call('GET', KEYS[2]) or '0')
  if held >= tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('HSET', KEYS[1], 'assignee', ARGV[1])
redis.call('INCR', KEYS[2])
return 1
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisRepository:
    """Conversation ids are ``"<inbox>-<n>"``; agents are str ids."""

    def __init__(self, client: Any, prefix: str, account: int = 1) -> None:
        self.client = client
        self.prefix = f"{prefix}:{{repo}}"
        self.account = account
        self._claim = client.register_script(CLAIM)

    def _conv(self, conversation: ConversationId) -> str:
        return f"{self.prefix}:conv:{conversation}"

    def _inbox(self, inbox: InboxId) -> str:
        return f"{self.prefix}:inbox:{inbox}"

    def _open(self, inbox: InboxId, agent: AgentId) -> str:
        return f"{self.prefix}:open:{inbox}:{agent}"

    def add(self, inbox: int, count: int) -> None:
        pipe = self.client.pipeline(transaction=False)
        for n in range(count):
            cid = f"{inbox}-{n}"
            pipe.hset(
                self._conv(cid), mapping={"inbox": inbox, "status": "open", "n": n}
            )
            pipe.zadd(self._inbox(inbox), {cid: n})
        pipe.execute()

    def _build(self, cid: str, raw: Mapping[Any, Any]) -> Conversation | None:
        if not raw:
            return None
        fields = {_text(k): _text(v) for k, v in raw.items()}
        created = EPOCH + timedelta(seconds=int(fields["n"]))
        return Conversation(
            id=cid,
            inbox=int(fields["inbox"]),
            account=self.account,
            status=ConversationStatus(fields["status"]),
            assignee=fields.get("assignee") or None,
            created_at=created,
            last_activity_at=created,
        )

    def get(self, conversation: ConversationId) -> Conversation | None:
        return self._build(
            str(conversation), self.client.hgetall(self._conv(conversation))
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
        ids = [_text(i) for i in self.client.zrange(self._inbox(inbox), 0, -1)]
        pipe = self.client.pipeline(transaction=False)
        for cid in ids:
            pipe.hgetall(self._conv(cid))
        found = [
            self._build(cid, raw) for cid, raw in zip(ids, pipe.execute(), strict=True)
        ]
        out = [
            c
            for c in found
            if c is not None
            and c.is_assignable
            and c.on_page(priority, after=after, exclude_teams=exclude_teams)
        ]
        out.sort(key=lambda c: c.priority_key(priority))
        return out[:limit]

    def open_counts(
        self, inbox: InboxId, agents: Collection[AgentId]
    ) -> Mapping[AgentId, int]:
        wanted = list(agents)
        values = self.client.mget([self._open(inbox, a) for a in wanted])
        return {a: int(v) for a, v in zip(wanted, values, strict=True) if v is not None}

    def claim(
        self,
        conversation: ConversationId,
        agent: AgentId,
        *,
        capacity_limit: int | None = None,
    ) -> bool:
        inbox = str(conversation).split("-")[0]
        reply = self._claim(
            keys=[self._conv(conversation), self._open(inbox, agent)],
            args=[str(agent), "" if capacity_limit is None else str(capacity_limit)],
        )
        return int(reply) == 1

    def assignees(self, inbox: int, count: int) -> dict[str, str | None]:
        pipe = self.client.pipeline(transaction=False)
        ids = [f"{inbox}-{n}" for n in range(count)]
        for cid in ids:
            pipe.hget(self._conv(cid), "assignee")
        return {
            cid: (None if v is None else _text(v))
            for cid, v in zip(ids, pipe.execute(), strict=True)
        }
