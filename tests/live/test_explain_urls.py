"""``autoassign explain --redis-url ... --sql-url ...`` on real Redis and SQL (SQLite and
PostgreSQL): right answers, and nothing written.

"Nothing written" is checked three ways: every key under the Redis prefix (value and TTL)
and every row of every table are the same before and after; every command the explain's
Redis client sent is one Redis itself flags read-only (scripts: every command the script
calls); and the SQL connection refuses writes.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import timedelta
from typing import Any

import pytest

from autoassign import _live, build_autoassign, cli
from autoassign.adapters.memory import InMemoryEventBus, InMemoryJobQueue
from autoassign.adapters.redis import RedisBackend
from autoassign.adapters.redis import _scripts as redis_scripts
from autoassign.adapters.sql import (
    SqlConversationRepository,
    SqlDirectory,
    SqlWriter,
)
from autoassign.clock import SystemClock
from autoassign.errors import BackendError
from autoassign.model import (
    AssignmentPolicy,
    CapacityPolicy,
    ExclusionRules,
)
from autoassign.testing import FakeClock, InMemoryBackend
from autoassign.wiring import Autoassign

from .conftest import LiveRedis, LiveSql, RecordingRedis

ACCOUNT, INBOX, POLICY = 1, 10, 7
ANN, BOB, CHO = 101, 102, 103
WINDOW = timedelta(hours=1)


def _seed(sql: LiveSql, rds: LiveRedis) -> tuple[Autoassign, RedisBackend]:
    """Configuration and conversations in SQL, presence in Redis, then one real pass
    (ledger, rotation, claims) and a pending mark: a system in mid-flight."""
    now = SystemClock().now()
    world = InMemoryBackend(clock=FakeClock(now))
    world.add_account(ACCOUNT)
    world.add_inbox(INBOX, account=ACCOUNT, members=[ANN, BOB, CHO])
    world.add_policy(
        AssignmentPolicy(
            id=POLICY,
            account=ACCOUNT,
            fair_distribution_limit=2,
            fair_distribution_window=int(WINDOW.total_seconds()),
        ),
        inboxes=[INBOX],
    )
    world.add_capacity_policy(
        CapacityPolicy(
            id=3,
            account=ACCOUNT,
            inbox_limits={INBOX: 5},
            agents={ANN, BOB, CHO},
            exclusion_rules=ExclusionRules(excluded_labels={"VIP"}),
        )
    )
    for number in range(1, 6):
        world.add_conversation(
            number,
            inbox=INBOX,
            labels={"VIP"} if number == 5 else (),
            created_at=now - timedelta(minutes=10 - number),
        )
    writer = SqlWriter(sql.engine, sql.schema)
    data = world.world
    writer.put_account(data.accounts[ACCOUNT])
    writer.put_inbox(data.inboxes[INBOX], data.members[INBOX])
    writer.put_policy(data.policies[POLICY])
    writer.link_policy(INBOX, POLICY)
    writer.put_capacity_policy(data.capacity_policies[3])
    writer.put_conversations(data.conversations.values())

    backend = RedisBackend(rds.client, prefix=rds.prefix, presence_window=WINDOW)
    for agent, status in ((ANN, "online"), (BOB, "online"), (CHO, "busy")):
        backend.presence.set_status(ACCOUNT, agent, status)
        backend.presence.heartbeat(ACCOUNT, agent)
    app = build_autoassign(
        directory=SqlDirectory(sql.engine, sql.schema),
        conversations=SqlConversationRepository(sql.engine, sql.schema),
        presence=backend.presence,
        ledger=backend.ledger,
        reservations=backend.reservations,
        rotation=backend.rotation,
        lease=backend.lease,
        events=InMemoryEventBus(),
        jobs=InMemoryJobQueue(),
        clock=SystemClock(),
        legacy_fallback=False,
        environ={},
        strict=True,
    )
    result = app.service.perform_bulk_assignment(INBOX, limit=3)
    assert result.assigned_count == 3
    assert backend.lease.mark_pending(INBOX, ttl=timedelta(minutes=15))
    return app, backend


def _redis_state(rds: LiveRedis) -> tuple[dict[str, Any], dict[str, int]]:
    """Every key under the prefix: its value, and its remaining TTL (ms; -1 none)."""
    client = rds.client
    values: dict[str, Any] = {}
    ttls: dict[str, int] = {}
    for key in rds.list_keys():
        kind = client.type(key).decode()
        if kind == "string":
            value: Any = client.get(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "hash":
            value = sorted(client.hgetall(key).items())
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            value = sorted(client.smembers(key))
        else:  # pragma: no cover - the adapters use no other types
            value = client.dump(key)
        values[key] = (kind, value)
        ttls[key] = int(client.pttl(key))
    return values, ttls


def _is_write(client: Any, command: str) -> bool:
    """Whether Redis flags ``command`` as a write (``COMMAND INFO``; redis-py returns
    a dict by name, older ones the raw array)."""
    reply = client.execute_command("COMMAND", "INFO", command)
    if isinstance(reply, dict):
        [entry] = reply.values()
        raw = entry["flags"]
    else:
        [entry] = reply
        raw = entry[2]
    flags = {f.decode() if isinstance(f, bytes) else str(f) for f in raw}
    assert flags, f"no flags for {command}"
    return "write" in flags


def _script_commands(source: str) -> set[str]:
    return {
        name.upper()
        for name in re.findall(r"redis\.p?call\(\s*['\"](\w+)['\"]", source)
    }


def _assert_read_only(client: Any, sent: list[tuple[str, tuple[Any, ...]]]) -> None:
    scripts = {
        hashlib.sha1(redis_scripts.source(name).encode()).hexdigest(): name
        for name in redis_scripts.SCRIPT_NAMES
    }
    assert sent, "explain sent nothing to Redis"
    assert _is_write(client, "SET")
    assert not _is_write(client, "GET")
    for command, args in sent:
        if command == "EVALSHA":
            sha = args[0].decode() if isinstance(args[0], bytes) else args[0]
            source = redis_scripts.source(scripts[sha])
        elif command in ("EVAL", "SCRIPT LOAD"):  # a script, or loading one (NOSCRIPT)
            source = args[0].decode() if isinstance(args[0], bytes) else args[0]
        else:
            name = command.replace(" ", "|")  # COMMAND INFO names subcommands a|b
            assert not _is_write(client, name), f"{command} writes"
            continue
        for called in _script_commands(str(source)):
            assert not _is_write(client, called), f"script calls {called}"


def _explain(
    monkeypatch: pytest.MonkeyPatch,
    sql: LiveSql,
    rds: LiveRedis,
    *argv: str,
) -> tuple[int, str, list[tuple[str, tuple[Any, ...]]]]:
    sent: list[tuple[str, tuple[Any, ...]]] = []

    def recording(url: str, *, cluster: bool) -> Any:
        assert not cluster
        client = RecordingRedis.from_url(url, socket_timeout=30)
        client.sent = sent
        return client

    monkeypatch.setattr(_live, "_redis_client", recording)
    where = [
        "--redis-url",
        rds.url,
        "--redis-prefix",
        rds.prefix,
        "--presence-window",
        str(WINDOW.total_seconds()),
        "--sql-url",
        sql.url,
    ]
    if sql.schema_name is not None:
        where += ["--sql-schema", sql.schema_name]
    out = io.StringIO()
    code = cli.main(["explain", *where, *argv], stdout=out)
    return code, out.getvalue(), sent


def test_live_explain_is_right_and_writes_nothing(
    live_sql: LiveSql, live_redis: LiveRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, backend = _seed(live_sql, live_redis)
    rows_before = live_sql.snapshot()
    values_before, ttls_before = _redis_state(live_redis)
    assert len(values_before) >= 5  # statuses, heartbeats, ledger, rotation, pending

    code, text, sent = _explain(
        monkeypatch, live_sql, live_redis, "--inbox", str(INBOX), "--json"
    )
    assert code == 0, text
    [inbox] = json.loads(text)
    gates = {gate["name"]: gate for gate in inbox["gates"]}
    assert [g["status"] for g in inbox["gates"]] == ["pass"] * 9
    assert inbox["would_assign"] is True
    assert gates["agents_online"]["numbers"] == {"online": 2, "members": 3}
    assert gates["rate_limits"]["numbers"]["at_limit"] == 1
    assert gates["exclusions"]["numbers"]["open_unassigned"] == 2
    assert gates["exclusions"]["numbers"]["excluded_by_label"] == 1
    assert gates["job_scheduled"]["numbers"] == {
        "queued": None,
        "pending": True,
        "lease_held": False,
    }
    assert "marked pending" in gates["job_scheduled"]["detail"]
    _assert_read_only(live_redis.client, sent)

    code, text, sent = _explain(
        monkeypatch, live_sql, live_redis, "--conversation", "4", "--json"
    )
    assert code == 0, text
    conversation = json.loads(text)
    assert conversation["outcome"] == "would_assign"
    removed = {a["agent"]: a["removed_by"] for a in conversation["agents"]}
    assert removed[CHO] == "not_online"
    assert sorted(removed.values(), key=str) == [None, "not_online", "rate_limited"]
    chosen = conversation["chosen"]
    assert removed[chosen] is None
    _assert_read_only(live_redis.client, sent)

    code, text, _sent = _explain(monkeypatch, live_sql, live_redis, "--inbox", "10")
    assert code == 0
    assert "Live: Redis redis://" in text
    assert "(read-only)" in text
    assert "job_scheduled" in text

    assert live_sql.snapshot() == rows_before
    values_after, ttls_after = _redis_state(live_redis)
    assert values_after == values_before
    for key, before in ttls_before.items():
        after = ttls_after[key]
        assert (after == -1) == (before == -1), key
        assert after <= before, f"the TTL of {key} was extended"

    # the dry run agrees with the real pass that follows it
    result = app.service.perform_bulk_assignment(INBOX)
    assert [(a.conversation, a.agent) for a in result.assignments] == [(4, chosen)]
    assert backend.lease.take_pending(INBOX)


def test_the_live_sql_connection_refuses_writes(
    live_sql: LiveSql, live_redis: LiveRedis
) -> None:
    _seed(live_sql, live_redis)
    target = _live.connect_urls(
        redis_url=live_redis.url,
        sql_url=live_sql.url,
        redis_prefix=live_redis.prefix,
        sql_schema=live_sql.schema_name,
    )
    try:
        assert isinstance(target.app, Autoassign)
        service = target.app.service
        conversations = service.conversations
        assert isinstance(conversations, SqlConversationRepository)
        before = live_sql.snapshot()
        with pytest.raises(BackendError):
            conversations.claim(4, BOB)
        with pytest.raises(BackendError):
            SqlWriter(conversations.engine, live_sql.schema).put_account(
                target.app.service.directory.account(ACCOUNT)  # type: ignore[arg-type]
            )
        assert live_sql.snapshot() == before
        with pytest.raises(_live.WriteRefused):
            service.events.publish("an event")
        with pytest.raises(_live.WriteRefused):
            target.app.job.jobs.enqueue_assignment(INBOX)
    finally:
        target.close()


def test_unknown_inbox_and_conversation(
    live_sql: LiveSql,
    live_redis: LiveRedis,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _seed(live_sql, live_redis)
    code, _text, _sent = _explain(monkeypatch, live_sql, live_redis, "--inbox", "99")
    assert code == 2
    assert "--inbox: no inbox '99'" in capsys.readouterr().err
    code, text, _sent = _explain(
        monkeypatch, live_sql, live_redis, "--conversation", "999", "--json"
    )
    assert code == 0
    assert json.loads(text)["found"] is False


def test_a_database_without_the_schema_exits_2(
    live_redis: LiveRedis, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    code = cli.main(
        [
            "explain",
            "--redis-url",
            live_redis.url,
            "--sql-url",
            f"sqlite:///{empty}",
            "--inbox",
            "1",
        ],
        stdout=io.StringIO(),
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "no table 'inboxes'" in err
    assert "Traceback" not in err
