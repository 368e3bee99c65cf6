"""Run the benchmarks: ``python -m benchmarks.run [--quick | --smoke]``.

Writes ``bench-results/results.json`` and ``bench-results/results.md`` and prints every
target with PASS or FAIL. See ``docs/benchmarks.md`` for what each number means.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa

from autoassign import AssignmentOrder
from autoassign.model import MAX_FAIR_DISTRIBUTION_LIMIT

from . import memory_ledger, memory_pass, periodic_cycle, redis_pass, sql_pass
from ._common import machine_info, measure_interleaved

ORDERS = (AssignmentOrder.ROUND_ROBIN, AssignmentOrder.BALANCED)
DEFAULT_URL = "redis://127.0.0.1:6379/13"

MODES: dict[str, dict[str, Any]] = {
    "full": {
        "repeat": 5,
        "memory_agents": [10, 100, 1_000, 10_000],
        "memory_ledgers": [0, 10_000, 1_000_000],
        "redis_agents": [10, 100, 1_000, 10_000],
        "ledgers": [0, 10_000, 1_000_000],
        "unrelated_keys": 100_000,
        "redis_scaling": (100, 10_000),
        "reference_agents": 20,
        "reference_conversations": 5,
        "workers": [1, 2, 4],
        "worker_passes": 10,
        "simulation": (100_000, 200),
        "simulation_default": True,
        "periodic_accounts": (100, 1_000),
        "sql_rows": [10_000, 1_000_000],
        "sql_members": [10, 1_000],
    },
    "quick": {
        "repeat": 3,
        "memory_agents": [10, 1_000],
        "memory_ledgers": [0, 1_000_000],
        "redis_agents": [10, 1_000],
        "ledgers": [0, 10_000],
        "unrelated_keys": 10_000,
        "redis_scaling": (100, 1_000),
        "reference_agents": 20,
        "reference_conversations": 5,
        "workers": [1, 2],
        "worker_passes": 3,
        "simulation": (10_000, 200),
        "simulation_default": True,
        "periodic_accounts": (10, 100),
        "sql_rows": [10_000, 100_000],
        "sql_members": [10, 1_000],
    },
    "smoke": {
        "repeat": 1,
        "memory_agents": [10, 20],
        "memory_ledgers": [0, 1_000],
        "redis": False,
        "simulation": (500, 20),
    },
}

# Targets (issue 6)
MAX_ROUND_TRIPS = 2.0
MAX_LEDGER_RATIO = 1.5
MAX_MEMORY_LEDGER_RATIO = 1.5  # issue 17: 1,000,000 entries vs empty
MIN_REFERENCE_SPEEDUP = 50.0
MAX_AGENT_SCALING = 3.0
MAX_OBSERVER_OVERHEAD = 1.05
"""Issue 20: a pass with do-nothing observability at most this many times one without."""
MAX_MEMORY_TIGHT_RATIO = (
    10.0  # issue 17: the in-memory pass vs the same rules in a loop
)
MAX_REDIS_AGENT_SCALING = 1.5  # issue 17: 10,000 members vs 100, per assignment
MAX_ROUTED_RATIO = 1.5
"""Issue 18: a pass with skills and weighted capacity at the largest team (10,000
agents in full mode) at most this many times one without, per assignment."""
MAX_SIM_MB = 300.0
# Simulator (issue 17): a 100,000-conversation day in under 30 s, at least 3,000
# conversations/s (smaller days: the same rate); the default scenario under 2 s.
# The SQL (PostgreSQL) + Redis host path (issue 17): PostgreSQL round trips per
# assigned conversation, time per assignment against one autocommit conditional UPDATE
# by key (the floor, same run), flat over table sizes and member counts.
MAX_SQL_ROUND_TRIPS = 2.0
MAX_SQL_FLOOR_RATIO = 3.0
MAX_SQL_SCALING = 1.5
DEFAULT_POSTGRES_URL = sql_pass.DEFAULT_POSTGRES_URL
SIM_DAY_CONVERSATIONS = 100_000
MAX_SIM_DAY_SECONDS = 30.0
MAX_SIM_DEFAULT_SECONDS = 2.0
# Periodic cycle (issue 17): 10,000 inboxes in 1,000 accounts in under 1 s on
# PostgreSQL + Redis (smaller worlds: the same rate), and O(1) round trips per page:
# the counts of two worlds 10x apart with the same number of pages at most this ratio.
PERIODIC_INBOXES = 10_000
MAX_PERIODIC_SECONDS = 1.0
MAX_PERIODIC_PAGE_RATIO = 1.5


def log(text: str) -> None:
    print(text, flush=True)


def run_memory(
    cfg: dict[str, Any],
) -> tuple[
    list[dict[str, Any]],
    list[dict[str, Any]],
    list[dict[str, Any]],
    list[dict[str, Any]],
]:
    """The passes, and beside them the tight-loop floor (same rules, plain Python) at the
    smallest team, round robin, and (issue 18) the routed pass at the largest."""
    # Every size and order in turns: the agent-scaling ratio compares runs taken side
    # by side.
    runs: list[Any] = [
        memory_pass.MemoryRuns(agents, order)
        for agents in cfg["memory_agents"]
        for order in ORDERS
    ]
    runs.append(
        memory_pass.TightLoop(min(cfg["memory_agents"]), AssignmentOrder.ROUND_ROBIN)
    )
    smallest = min(cfg["memory_agents"])
    runs.extend(
        memory_pass.MemoryRuns(smallest, AssignmentOrder.ROUND_ROBIN, observed=kind)
        for kind in memory_pass.OBSERVERS
    )
    runs.append(
        memory_pass.MemoryRuns(
            max(cfg["memory_agents"]), AssignmentOrder.ROUND_ROBIN, routed=True
        )
    )
    rows, floors, observed, routed = [], [], [], []
    for row in measure_interleaved(runs, repeat=cfg["repeat"]):
        if row.get("routed"):
            log(
                f"  memory  skills + weights  agents={row['agents']:>6}  "
                f"{row['per_assignment_us']:>9.1f} us/assignment"
            )
            routed.append(row)
            continue
        if row.get("observed"):
            log(
                f"  memory  observed by {row['observed']:<10} agents={row['agents']:>6}  "
                f"{row['per_assignment_us']:>9.1f} us/assignment"
            )
            observed.append(row)
            continue
        if "floor" in row:
            log(
                f"  floor   tight loop  agents={row['agents']:>6}  "
                f"{row['per_assignment_us']:>9.2f} us/assignment"
            )
            floors.append(row)
            continue
        log(
            f"  memory  {row['order']:<11} agents={row['agents']:>6}  "
            f"{row['assignments_per_second']:>10.0f} assignments/s  "
            f"{row['per_assignment_us']:>9.1f} us/assignment"
        )
        rows.append(row)
    return rows, floors, observed, routed


def routed_target(results: dict[str, Any]) -> dict[str, Any]:
    """Issue 18: skills and weighted capacity on the largest team cost at most
    :data:`MAX_ROUTED_RATIO` times the same pass without them."""
    routed = results.get("memory_routed") or []
    if not routed:
        return _target("routing_vs_plain", None, None, "not run")
    row = routed[0]
    plain = _memory_row(results["memory_pass"], row)
    ratio = row["per_assignment_us"] / plain["per_assignment_us"]
    return _target(
        "routing_vs_plain",
        ratio <= MAX_ROUTED_RATIO,
        ratio,
        f"in-memory pass with skills and weighted capacity "
        f"{row['per_assignment_us']:.1f} us per assignment vs "
        f"{plain['per_assignment_us']:.1f} us without ({row['agents']:,} agents, "
        f"round robin): {ratio:.2f}x (target <= {MAX_ROUTED_RATIO}x)",
    )


def observability_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 20: observability off costs nothing. A do-nothing observer and tracer
    (the hooks' own cost, which the off path skips too) at most
    ``MAX_OBSERVER_OVERHEAD`` of the unobserved pass measured in the same turns; and
    what Prometheus and OpenTelemetry (no-op providers) cost when on, reported."""
    observed = {row["observed"]: row for row in results.get("memory_observed") or []}
    memory = results.get("memory_pass") or []
    if "null" not in observed or not memory:
        return [_target("observability_off_overhead", None, None, "not run")]
    null = observed["null"]
    base = next(
        r
        for r in memory
        if r["agents"] == null["agents"] and r["order"] == null["order"]
    )
    ratio = null["per_assignment_us"] / base["per_assignment_us"]
    on = ", ".join(
        f"{kind} {row['per_assignment_us'] / base['per_assignment_us']:.2f}x"
        for kind, row in observed.items()
        if kind != "null"
    )
    return [
        _target(
            "observability_off_overhead",
            ratio <= MAX_OBSERVER_OVERHEAD,
            ratio,
            f"a pass with a do-nothing observer and tracer {null['per_assignment_us']:.1f}"
            f" us per assignment vs none {base['per_assignment_us']:.1f} us: "
            f"{ratio:.3f}x (target <= {MAX_OBSERVER_OVERHEAD}); on: {on}",
        )
    ]


def _memory_row(rows: list[dict[str, Any]], like: dict[str, Any]) -> dict[str, Any]:
    """The in-memory pass row with ``like``'s team size and order."""
    return next(
        r for r in rows if r["agents"] == like["agents"] and r["order"] == like["order"]
    )


def memory_floor_target(results: dict[str, Any]) -> dict[str, Any]:
    """Issue 17: the in-memory pass per assignment at most 10x the tight loop."""
    floors = results.get("memory_floor") or []
    memory = results.get("memory_pass") or []
    if not floors or not memory:
        return _target("memory_vs_tight_loop", None, None, "not run")
    floor = floors[0]
    row = _memory_row(memory, floor)
    ratio = row["per_assignment_us"] / floor["per_assignment_us"]
    return _target(
        "memory_vs_tight_loop",
        ratio <= MAX_MEMORY_TIGHT_RATIO,
        ratio,
        f"in-memory pass {row['per_assignment_us']:.1f} us per assignment vs the same "
        f"rules in a tight loop {floor['per_assignment_us']:.2f} us ({floor['agents']} "
        f"agents, round robin): {ratio:.0f}x (target <= {MAX_MEMORY_TIGHT_RATIO:.0f}x)",
    )


def run_memory_ledger(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    runs = [memory_ledger.LedgerRuns(entries) for entries in cfg["memory_ledgers"]]
    rows = []
    for row in measure_interleaved(runs, repeat=max(cfg["repeat"], 3)):
        log(
            f"  ledger  entries={row['ledger_entries']:>9}  "
            f"{row['per_call_us']:>7.2f} us/call"
        )
        rows.append(row)
    return rows


def max_ledger_per_agent() -> int:
    return MAX_FAIR_DISTRIBUTION_LIMIT * 9 // 10


def run_redis(cfg: dict[str, Any], url: str, results: dict[str, Any]) -> None:
    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as exc:
        results["redis_skipped"] = f"no Redis at {url}: {exc}"
        log(f"  redis: skipped ({exc})")
        return
    prefix = f"aa-bench-{uuid.uuid4().hex[:12]}"
    bench = redis_pass.RedisBench(url, prefix)
    results["machine"]["redis_server"] = bench.server_version()
    results["redis_url"] = url
    results["redis_prefix"] = prefix
    try:
        bench.fill_unrelated(cfg["unrelated_keys"])
        rows = []
        for agents in cfg["redis_agents"]:
            # Every ledger size and order of one agent count is timed in turns, so the
            # ledger-size ratios compare runs taken side by side.
            runs: list[redis_pass.PassRuns] = []
            skipped = []
            for entries in cfg["ledgers"]:
                if entries / agents > max_ledger_per_agent():
                    skipped.append(
                        {
                            "agents": agents,
                            "ledger_entries": entries,
                            "skipped": "more entries per agent than the largest "
                            "fair_distribution_limit allows (everyone would be full)",
                        }
                    )
                    continue
                runs.extend(
                    bench.prepare_pass(agents, entries, order) for order in ORDERS
                )
            for row in measure_interleaved(runs, repeat=cfg["repeat"]):
                log(
                    f"  redis   {row['order']:<11} agents={agents:>6} "
                    f"ledger={row['ledger_entries']:>9}  "
                    f"{row['assignments_per_second']:>8.0f} assignments/s  "
                    f"{row['round_trips_per_assignment']:.2f} round trips/assignment"
                )
                rows.append(row)
            rows.extend(skipped)
        results["redis_pass"] = rows
        results["redis_scaling"] = run_redis_scaling(cfg, bench)

        ours = bench.measure_pass(
            cfg["reference_agents"],
            0,
            AssignmentOrder.ROUND_ROBIN,
            repeat=cfg["repeat"],
        )
        ref = bench.measure_reference(
            cfg["reference_agents"],
            cfg["reference_conversations"],
            repeat=cfg["repeat"],
        )
        speedup = ref["per_assignment_us"] / ours["per_assignment_us"]
        results["reference"] = {"ours": ours, "reference": ref, "speedup": speedup}
        log(
            f"  reference agents={cfg['reference_agents']} "
            f"unrelated={cfg['unrelated_keys']}: ours {ours['per_assignment_us']:.0f} us, "
            f"reference {ref['per_assignment_us']:.0f} us per assignment "
            f"({ref['round_trips_per_assignment']:.0f} round trips): {speedup:.0f}x"
        )

        workers = []
        for count in cfg["workers"]:
            row = redis_pass.measure_workers(
                bench, count, agent_count=100, passes=cfg["worker_passes"]
            )
            log(f"  workers={count}  {row['assignments_per_second']:.0f} assignments/s")
            workers.append(row)
        if workers:
            base = workers[0]["assignments_per_second"]
            for row in workers:
                row["speedup_vs_1"] = row["assignments_per_second"] / base
        results["workers"] = workers
    finally:
        results["redis_keys_deleted"] = bench.cleanup()


def run_sql(
    cfg: dict[str, Any], args: argparse.Namespace, results: dict[str, Any]
) -> None:
    """Measurement 8: the SQL (PostgreSQL) + Redis host path against its floor."""
    problem = sql_pass.postgres_problem(args.postgres_url)
    if problem is None:
        try:
            redis.Redis.from_url(args.redis_url).ping()
        except redis.RedisError as exc:
            problem = f"no Redis at {args.redis_url}: {exc}"
    if problem is not None:
        results["sql_skipped"] = problem
        log(f"  sql: skipped ({problem})")
        return
    bench = redis_pass.RedisBench(
        args.redis_url, f"aa-bench-sql-{uuid.uuid4().hex[:12]}"
    )
    worlds: list[sql_pass.SqlWorld] = []
    try:
        built = sql_pass.build_worlds(
            args.postgres_url, bench, cfg["sql_rows"], cfg["sql_members"]
        )
        worlds = [world for world, _ in built]
        results["machine"]["postgres_server"] = worlds[0].server_version()
        runs = [run for _, each in built for run in each]
        rows, floors = [], []
        for row in measure_interleaved(runs, repeat=cfg["repeat"]):
            if "per_update_us" in row:
                log(
                    f"  floor   rows={row['rows']:>9}  {row['per_update_us']:>8.0f} us/"
                    f"UPDATE ({row['pg_round_trips_per_update']:.0f} round trip each)"
                )
                floors.append(row)
                continue
            log(
                f"  sql     rows={row['rows']:>9} members={row['members']:>5}  "
                f"{row['per_assignment_us']:>8.0f} us/assignment  "
                f"{row['pg_round_trips_per_assignment']:.2f} PostgreSQL + "
                f"{row['redis_round_trips_per_assignment']:.2f} Redis round trips/"
                "assignment"
            )
            rows.append(row)
        results["sql_pass"] = rows
        results["sql_floor"] = floors
    finally:
        for world in worlds:
            world.close()
        results["sql_redis_keys_deleted"] = bench.cleanup()


def run_redis_scaling(
    cfg: dict[str, Any], bench: redis_pass.RedisBench
) -> dict[str, Any]:
    """Issue 17: per assignment with many members vs 100, both orders, every pass timed
    in turns with the others; beside them the floor: the reservation pipeline alone
    (one ``reserve`` per conversation, nothing else)."""
    small, large = cfg["redis_scaling"]
    runs: list[Any] = [
        bench.prepare_pass(agents, 0, order)
        for agents in (small, large)
        for order in ORDERS
    ]
    runs.append(redis_pass.ReservationFloor(bench))
    *rows, floor = measure_interleaved(runs, repeat=max(3 * cfg["repeat"], 9))
    for row in rows:
        log(
            f"  scaling {row['order']:<11} agents={row['agents']:>6}  "
            f"{row['per_assignment_us']:>7.1f} us/assignment"
        )
    log(f"  floor   one reservation pipeline  {floor['per_assignment_us']:>7.1f} us")
    return {"small": small, "large": large, "rows": rows, "floor": floor}


def redis_scaling_target(results: dict[str, Any]) -> dict[str, Any]:
    scaling = results.get("redis_scaling")
    if not scaling:
        return _target("redis_agent_scaling", None, None, "no Redis")
    small, large = scaling["small"], scaling["large"]
    floor = scaling["floor"]["per_assignment_us"]
    worst: tuple[float, str] | None = None
    parts = []
    for order in sorted({r["order"] for r in scaling["rows"]}):
        a = next(
            r for r in scaling["rows"] if r["order"] == order and r["agents"] == small
        )
        b = next(
            r for r in scaling["rows"] if r["order"] == order and r["agents"] == large
        )
        ratio = b["per_assignment_us"] / a["per_assignment_us"]
        parts.append(
            f"{order} {b['per_assignment_us']:.0f} vs {a['per_assignment_us']:.0f} us "
            f"= {ratio:.2f}x"
        )
        if worst is None or ratio > worst[0]:
            worst = (ratio, order)
    assert worst is not None
    return _target(
        "redis_agent_scaling",
        worst[0] <= MAX_REDIS_AGENT_SCALING,
        worst[0],
        f"Redis pass per assignment with {large:,} members vs {small}: "
        f"{'; '.join(parts)} (target <= {MAX_REDIS_AGENT_SCALING}x at 10,000 vs 100); "
        f"floor (one reservation pipeline) {floor:.0f} us",
    )


def run_simulation(*args: object) -> dict[str, Any]:
    """``benchmarks.sim_memory`` with ``args`` in its own process: its JSON row."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.sim_memory", *map(str, args)],
        capture_output=True,
        text=True,
        check=True,
    )
    row: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    log(
        f"  simulation {row['scenario']}: {row['totals'].get('conversations')} "
        f"conversations, {row['agents']} agents: {row['seconds']:.1f} s "
        f"({row['cpu_seconds']:.1f} s CPU), "
        f"{row['conversations_per_second']:,.0f} conversations/s, "
        f"peak {row['peak_rss_mb']:.0f} MB"
    )
    return row


def run_periodic(cfg: dict[str, Any], url: str, results: dict[str, Any]) -> None:
    try:
        redis.Redis.from_url(url).ping()
        engine = sa.create_engine(
            periodic_cycle.POSTGRES_URL, connect_args={"connect_timeout": 3}
        )
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("select 1"))
        finally:
            engine.dispose()
    except Exception as exc:  # any failure means "not reachable"
        results["periodic_cycle"] = {"skipped": f"{type(exc).__name__}: {exc}"}
        log(f"  periodic: skipped ({exc})")
        return
    results["periodic_cycle"] = periodic_cycle.run(
        url, sizes=cfg["periodic_accounts"], repeat=cfg["repeat"], log=log
    )


def periodic_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The cycle's time at the big world, and its counts per page at both sizes."""
    names = ("periodic_cycle_seconds", "periodic_round_trips_per_page")
    cycle = results.get("periodic_cycle")
    if cycle is None:
        return []
    if "rows" not in cycle:
        return [_target(name, None, None, cycle.get("skipped", "")) for name in names]
    by_role = {row["role"]: row for row in cycle["rows"]}
    small, big, legacy = by_role["small"], by_role["big"], by_role["fallback"]
    timed = by_role.get("timed", big)
    bound = MAX_PERIODIC_SECONDS * timed["inboxes"] / PERIODIC_INBOXES

    def total(row: dict[str, Any]) -> int:
        return int(row["statements"] + row["redis_round_trips"])

    ratio = total(big) / total(small)
    return [
        _target(
            names[0],
            timed["seconds"] < bound,
            timed["seconds"],
            f"{timed['seconds'] * 1000:.0f} ms ({timed['cpu_seconds'] * 1000:.0f} ms CPU "
            f"in this process) for {timed['inboxes']:,} inboxes in "
            f"{timed['accounts']:,} accounts, batch {timed['batch_size']:,}, "
            f"{timed['statements']} statements + {timed['redis_round_trips']} Redis "
            f"round trips on PostgreSQL + Redis (target < {bound:g} s: "
            f"{MAX_PERIODIC_SECONDS:g} s at {PERIODIC_INBOXES:,}); per-inbox fallback: "
            f"{legacy['seconds'] * 1000:.0f} ms for {legacy['inboxes']:,}",
        ),
        _target(
            names[1],
            ratio <= MAX_PERIODIC_PAGE_RATIO,
            ratio,
            f"{big['pages']} pages of {big['batch_size']:,} inboxes: "
            f"{big['statements']} statements + {big['redis_round_trips']} Redis round "
            f"trips; {small['pages']} pages of {small['batch_size']:,}: "
            f"{small['statements']} + {small['redis_round_trips']}; ratio {ratio:.2f} "
            f"(target <= {MAX_PERIODIC_PAGE_RATIO}); per-inbox fallback at "
            f"{legacy['inboxes']:,} inboxes: {legacy['statements']} + "
            f"{legacy['redis_round_trips']}",
        ),
    ]


def simulation_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Peak memory and speed of the simulated day, and the default scenario's time."""
    sim = results.get("simulation")
    if not sim:
        return [
            _target(name, None, None, "not run")
            for name in (
                "simulation_peak_memory",
                "simulation_day_seconds",
                "simulation_default_seconds",
            )
        ]
    size = sim["target_conversations"]
    bound = MAX_SIM_DAY_SECONDS * size / SIM_DAY_CONVERSATIONS
    rate = SIM_DAY_CONVERSATIONS / MAX_SIM_DAY_SECONDS
    targets = [
        _target(
            "simulation_peak_memory",
            sim["peak_rss_mb"] < MAX_SIM_MB,
            sim["peak_rss_mb"],
            f"{sim['peak_rss_mb']:.0f} MB for {size} conversations "
            f"(target < {MAX_SIM_MB:.0f} MB at 100,000)",
        ),
        _target(
            "simulation_day_seconds",
            sim["seconds"] < bound,
            sim["seconds"],
            f"{sim['seconds']:.1f} s ({sim['cpu_seconds']:.1f} s CPU), "
            f"{sim['conversations_per_second']:,.0f} conversations/s for {size} "
            f"conversations and {sim['agents']} agents (target < {bound:g} s: "
            f"{MAX_SIM_DAY_SECONDS:g} s at 100,000, at least {rate:,.0f}/s)",
        ),
    ]
    default = results.get("simulation_default")
    if default:
        targets.append(
            _target(
                "simulation_default_seconds",
                default["seconds"] < MAX_SIM_DEFAULT_SECONDS,
                default["seconds"],
                f"{default['seconds']:.1f} s ({default['cpu_seconds']:.1f} s CPU) for "
                f"the default scenario, {default['totals'].get('conversations')} "
                f"conversations (target < {MAX_SIM_DEFAULT_SECONDS:g} s)",
            )
        )
    else:
        targets.append(_target("simulation_default_seconds", None, None, "not run"))
    return targets


def sql_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The host path's four targets (SKIP without PostgreSQL or Redis)."""
    names = (
        "sql_round_trips_per_assignment",
        "sql_vs_floor",
        "sql_rows_flat",
        "sql_members_flat",
    )
    rows = results.get("sql_pass")
    if not rows:
        reason = results.get("sql_skipped", "not run")
        return [_target(name, None, None, reason) for name in names]
    floors = {f["rows"]: f for f in results["sql_floor"]}
    worst = max(rows, key=lambda r: r["pg_round_trips_per_assignment"])
    trips = worst["pg_round_trips_per_assignment"]
    split = ", ".join(
        sorted(
            {
                f"{r['pg_round_trips_per_conversation']:g} per conversation + "
                f"{r['pg_round_trips_per_pass']:g} per pass"
                for r in rows
            }
        )
    )
    ratios = [
        (r["per_assignment_us"] / floors[r["rows"]]["per_update_us"], r) for r in rows
    ]
    ratio, at = max(ratios, key=lambda item: item[0])
    floor = floors[at["rows"]]["per_update_us"]
    out = [
        _target(
            "sql_round_trips_per_assignment",
            trips <= MAX_SQL_ROUND_TRIPS,
            trips,
            f"max {trips:.2f} PostgreSQL round trips per assigned conversation "
            f"({split}; target <= {MAX_SQL_ROUND_TRIPS:g}); Redis "
            f"{worst['redis_round_trips_per_assignment']:.2f}",
        ),
        _target(
            "sql_vs_floor",
            ratio <= MAX_SQL_FLOOR_RATIO,
            ratio,
            f"worst {at['per_assignment_us']:.0f} us per assignment vs {floor:.0f} us "
            f"per autocommit conditional UPDATE ({at['rows']:,} rows, "
            f"{at['members']} members): {ratio:.2f}x (target <= "
            f"{MAX_SQL_FLOOR_RATIO:g}x)",
        ),
    ]
    for name, key, other in (
        ("sql_rows_flat", "rows", "members"),
        ("sql_members_flat", "members", "rows"),
    ):
        low, high = min(r[key] for r in rows), max(r[key] for r in rows)
        worst_ratio = None
        for r in rows:
            if r[key] != high:
                continue
            base = next(x for x in rows if x[key] == low and x[other] == r[other])
            value = r["per_assignment_us"] / base["per_assignment_us"]
            if worst_ratio is None or value > worst_ratio[0]:
                worst_ratio = (value, r[other])
        assert worst_ratio is not None
        out.append(
            _target(
                name,
                worst_ratio[0] <= MAX_SQL_SCALING,
                worst_ratio[0],
                f"per assignment with {high:,} {key} vs {low:,}: worst "
                f"{worst_ratio[0]:.2f}x (at {worst_ratio[1]:,} {other}; target <= "
                f"{MAX_SQL_SCALING:g}x)",
            )
        )
    return out


def _target(name: str, passed: bool | None, value: Any, detail: str) -> dict[str, Any]:
    return {
        "name": name,
        "status": "SKIP" if passed is None else ("PASS" if passed else "FAIL"),
        "value": value,
        "detail": detail,
    }


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    targets = []
    rows = [r for r in results.get("redis_pass", []) if "skipped" not in r]
    if rows:
        worst = max(r["round_trips_per_assignment"] for r in rows)
        by_order: dict[str, set[float]] = {}
        for r in rows:
            by_order.setdefault(r["order"], set()).add(
                round(r["round_trips_per_assignment"], 2)
            )
        constant = all(len(values) == 1 for values in by_order.values())
        per_order = ", ".join(
            f"{order} {sorted(values)}" for order, values in sorted(by_order.items())
        )
        split = sorted(
            {
                (
                    r["order"],
                    round(r.get("round_trips_per_conversation", 0.0), 2),
                    round(r.get("round_trips_per_pass", 0.0), 2),
                )
                for r in rows
            }
        )
        per_order += "; split: " + ", ".join(
            f"{order} {slope:g} per conversation + {fixed:g} per pass"
            for order, slope, fixed in split
        )
        targets.append(
            _target(
                "redis_round_trips_per_assignment",
                worst <= MAX_ROUND_TRIPS and constant,
                worst,
                f"max {worst:.2f} (target <= {MAX_ROUND_TRIPS}); per order: {per_order}; "
                f"constant across agents and ledgers: {constant}",
            )
        )
        ratios = []
        for r in rows:
            if r["ledger_entries"] == 0:
                continue
            big = max(x["ledger_entries"] for x in rows if x["agents"] == r["agents"])
            if r["ledger_entries"] != big:
                continue
            empty = next(
                x
                for x in rows
                if x["agents"] == r["agents"]
                and x["order"] == r["order"]
                and x["ledger_entries"] == 0
            )
            ratios.append(
                (
                    r["per_assignment_us"] / empty["per_assignment_us"],
                    r["agents"],
                    r["order"],
                    r["ledger_entries"],
                )
            )
        if ratios:
            worst_ratio = max(ratios)
            targets.append(
                _target(
                    "ledger_size_ratio",
                    worst_ratio[0] <= MAX_LEDGER_RATIO,
                    worst_ratio[0],
                    f"largest ledger vs empty, worst {worst_ratio[0]:.2f}x at "
                    f"{worst_ratio[1]} agents / {worst_ratio[2]} / "
                    f"{worst_ratio[3]} entries (target <= {MAX_LEDGER_RATIO}x)",
                )
            )
    else:
        targets.append(
            _target("redis_round_trips_per_assignment", None, None, "no Redis")
        )
        targets.append(_target("ledger_size_ratio", None, None, "no Redis"))
    ref = results.get("reference")
    if ref:
        unrelated = ref["reference"]["unrelated_keys"]
        targets.append(
            _target(
                "speedup_vs_reference",
                ref["speedup"] >= MIN_REFERENCE_SPEEDUP,
                ref["speedup"],
                f"{ref['speedup']:.0f}x with {unrelated} unrelated keys and "
                f"{ref['reference']['agents']} agents (target >= {MIN_REFERENCE_SPEEDUP:.0f}x"
                " with 100,000 keys)",
            )
        )
    else:
        targets.append(_target("speedup_vs_reference", None, None, "no Redis"))
    ledger_rows = results.get("memory_ledger", [])
    if ledger_rows:
        empty = min(ledger_rows, key=lambda r: r["ledger_entries"])
        big = max(ledger_rows, key=lambda r: r["ledger_entries"])
        ratio = big["per_call_us"] / empty["per_call_us"]
        targets.append(
            _target(
                "memory_ledger_size_ratio",
                ratio <= MAX_MEMORY_LEDGER_RATIO,
                ratio,
                f"in-memory ledger, one agent with {big['ledger_entries']:,} entries vs "
                f"{empty['ledger_entries']:,}: {big['per_call_us']:.2f} vs "
                f"{empty['per_call_us']:.2f} us per call, {ratio:.2f}x (target <= "
                f"{MAX_MEMORY_LEDGER_RATIO}x at 1,000,000 vs empty)",
            )
        )
    else:
        targets.append(_target("memory_ledger_size_ratio", None, None, "not run"))
    memory = results.get("memory_pass", [])
    if memory:
        low = min(r["agents"] for r in memory)
        high = max(r["agents"] for r in memory)
        worst = None
        for order in {r["order"] for r in memory}:
            a = next(r for r in memory if r["order"] == order and r["agents"] == low)
            b = next(r for r in memory if r["order"] == order and r["agents"] == high)
            ratio = b["per_assignment_us"] / a["per_assignment_us"]
            if worst is None or ratio > worst[0]:
                worst = (ratio, order)
        assert worst is not None
        targets.append(
            _target(
                "memory_agent_scaling",
                worst[0] <= MAX_AGENT_SCALING,
                worst[0],
                f"per assignment with {high} agents vs {low}: worst {worst[0]:.1f}x "
                f"({worst[1]}; target <= {MAX_AGENT_SCALING}x at 10,000 vs 10)",
            )
        )
    targets.append(memory_floor_target(results))
    targets.append(routed_target(results))
    targets.extend(observability_targets(results))
    targets.append(redis_scaling_target(results))
    targets.extend(simulation_targets(results))
    targets.extend(periodic_targets(results))
    targets.extend(sql_targets(results))
    return targets


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    out = [
        f"# Benchmark results ({results['mode']} mode)",
        "",
        f"- Machine: {m['nproc']} CPUs, {m['cpu_model']}, {m['memory']} RAM; "
        f"{m['platform']}",
        f"- Python {m['python']}, redis-py {m['redis_py']}, Redis server "
        f"{m['redis_server'] or 'n/a'}; commit {m['git_commit']}",
        f"- Median of {results['repeat']} runs each; total {results['seconds']:.0f} s",
        "",
        "## Targets",
        "",
        "| target | status | detail |",
        "| --- | --- | --- |",
    ]
    out += [
        f"| {t['name']} | {t['status']} | {t['detail']} |" for t in results["targets"]
    ]
    out += [
        "",
        "## 1. In-memory pass (100 conversations, all filters on)",
        "",
        "| order | agents | assignments/s | us/assignment |",
        "| --- | ---: | ---: | ---: |",
    ]
    out += [
        f"| {r['order']} | {r['agents']:,} | {r['assignments_per_second']:,.0f} | "
        f"{r['per_assignment_us']:,.1f} |"
        for r in results.get("memory_pass", [])
    ]
    if results.get("redis_pass"):
        out += [
            "",
            "## 2. Redis pass (100 conversations, "
            f"{results['redis_pass'][0].get('unrelated_keys', 0):,} unrelated keys)",
            "",
            "| order | agents | ledger entries | assignments/s | us/assignment "
            "| round trips/assignment | per conversation + per pass |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in results["redis_pass"]:
            if "skipped" in r:
                out.append(
                    f"| - | {r['agents']:,} | {r['ledger_entries']:,} | skipped: "
                    f"{r['skipped']} | | | |"
                )
                continue
            out.append(
                f"| {r['order']} | {r['agents']:,} | {r['ledger_entries']:,} | "
                f"{r['assignments_per_second']:,.0f} | {r['per_assignment_us']:,.1f} | "
                f"{r['round_trips_per_assignment']:.2f} | "
                f"{r.get('round_trips_per_conversation', 0):g} + "
                f"{r.get('round_trips_per_pass', 0):g} |"
            )
    scaling = results.get("redis_scaling")
    if scaling:
        floor = scaling["floor"]
        out += [
            "",
            "## 2b. Redis pass, members side by side (100 conversations, empty ledger)",
            "",
            "| order | agents | us/assignment | vs the floor |",
            "| --- | ---: | ---: | ---: |",
        ]
        out += [
            f"| {r['order']} | {r['agents']:,} | {r['per_assignment_us']:,.1f} | "
            f"{r['per_assignment_us'] / floor['per_assignment_us']:.1f}x |"
            for r in scaling["rows"]
        ]
        out.append(
            f"| floor: one reservation pipeline | | {floor['per_assignment_us']:,.1f} "
            "| 1.0x |"
        )
    ref = results.get("reference")
    if ref:
        ours, theirs = ref["ours"], ref["reference"]
        out += [
            "",
            f"## 3. Against the reference ({theirs['agents']} agents, "
            f"{theirs['unrelated_keys']:,} unrelated keys)",
            "",
            "| approach | assignments/s | us/assignment | round trips/assignment |",
            "| --- | ---: | ---: | ---: |",
            f"| autoassign (round robin) | {ours['assignments_per_second']:,.0f} | "
            f"{ours['per_assignment_us']:,.1f} | "
            f"{ours['round_trips_per_assignment']:.2f} |",
            f"| reference (SCAN per agent) | {theirs['assignments_per_second']:,.1f} | "
            f"{theirs['per_assignment_us']:,.0f} | "
            f"{theirs['round_trips_per_assignment']:,.0f} |",
            f"| ratio | {ref['speedup']:,.0f}x | | |",
        ]
    if results.get("workers"):
        out += [
            "",
            "## 4. Worker processes (100 agents each, own inbox, one Redis)",
            "",
            "| workers | assignments/s | vs 1 worker |",
            "| ---: | ---: | ---: |",
        ]
        out += [
            f"| {r['workers']} | {r['assignments_per_second']:,.0f} | "
            f"{r['speedup_vs_1']:.2f}x |"
            for r in results["workers"]
        ]
    if results.get("sql_pass"):
        out += [
            "",
            "## 8. SQL (PostgreSQL) + Redis host path (100 conversations a pass)",
            "",
            f"PostgreSQL {m.get('postgres_server') or 'n/a'}.",
            "",
            "| rows | members | us/assignment | PostgreSQL round trips/assignment "
            "| per conversation + per pass | Redis round trips/assignment |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        out += [
            f"| {r['rows']:,} | {r['members']:,} | {r['per_assignment_us']:,.0f} | "
            f"{r['pg_round_trips_per_assignment']:.2f} | "
            f"{r['pg_round_trips_per_conversation']:g} + "
            f"{r['pg_round_trips_per_pass']:g} | "
            f"{r['redis_round_trips_per_assignment']:.2f} |"
            for r in results["sql_pass"]
        ]
        out += [
            "",
            "| floor: rows | us per autocommit conditional UPDATE by key "
            "| round trips each |",
            "| ---: | ---: | ---: |",
        ]
        out += [
            f"| {f['rows']:,} | {f['per_update_us']:,.0f} | "
            f"{f['pg_round_trips_per_update']:.0f} |"
            for f in results["sql_floor"]
        ]
    if results.get("memory_ledger"):
        out += [
            "",
            "## 6. In-memory ledger (one agent, every entry in the window)",
            "",
            "| ledger entries | us/call (try_record, usage, last_assigned, discard) |",
            "| ---: | ---: |",
        ]
        out += [
            f"| {r['ledger_entries']:,} | {r['per_call_us']:,.2f} |"
            for r in results["memory_ledger"]
        ]
    cycle = results.get("periodic_cycle", {})
    if cycle.get("rows"):
        out += [
            "",
            "## 7. Periodic cycle (PostgreSQL + Redis, "
            f"{periodic_cycle.PER_ACCOUNT} inboxes per account)",
            "",
            "| world | path | accounts | inboxes | batch | pages | time | CPU "
            "| statements | Redis round trips | per page |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        out += [
            f"| {r['role']} | {r['path']} | {r['accounts']:,} | {r['inboxes']:,} | "
            f"{r['batch_size']:,} | {r['pages']} | {r['seconds'] * 1000:,.1f} ms | "
            f"{r['cpu_seconds'] * 1000:,.0f} ms | "
            f"{r['statements']:,} | {r['redis_round_trips']:,} | "
            f"{r['round_trips_per_page']:,.1f} |"
            for r in cycle["rows"]
        ]
    rows = [
        results[key] for key in ("simulation", "simulation_default") if key in results
    ]
    if rows:
        out += [
            "",
            "## 5. Simulation speed and peak memory",
            "",
            "| scenario | conversations | agents | wall time | CPU time "
            "| conversations/s | peak RSS |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        out += [
            f"| {sim['scenario']} | {sim['totals'].get('conversations', 0):,} | "
            f"{sim['agents']} | {sim['seconds']:.1f} s | {sim['cpu_seconds']:.1f} s | "
            f"{sim['conversations_per_second']:,.0f} | {sim['peak_rss_mb']:.0f} MB |"
            for sim in rows
        ]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="small sizes, under 60 s")
    group.add_argument(
        "--smoke", action="store_true", help="tiny, in-memory only (for the test suite)"
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("AUTOASSIGN_BENCH_REDIS_URL", DEFAULT_URL),
        help=f"Redis for measurements 2-4, 7 and 8 (default {DEFAULT_URL})",
    )
    parser.add_argument(
        "--no-redis", action="store_true", help="skip measurements 2-4, 7 and 8"
    )
    parser.add_argument(
        "--sql-only",
        action="store_true",
        help="only measurement 8 (the SQL + Redis host path)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("AUTOASSIGN_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help=f"PostgreSQL for measurement 8 (default {DEFAULT_POSTGRES_URL})",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("bench-results"), help="output directory"
    )
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "smoke" if args.smoke else "full"
    cfg = MODES[mode]
    started = time.perf_counter()
    results: dict[str, Any] = {
        "mode": mode,
        "repeat": cfg["repeat"],
        "machine": machine_info(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    log(f"autoassign benchmarks, {mode} mode")
    if not args.sql_only:
        log("1. in-memory pass")
        (
            results["memory_pass"],
            results["memory_floor"],
            results["memory_observed"],
            results["memory_routed"],
        ) = run_memory(cfg)
        log("6. in-memory ledger")
        results["memory_ledger"] = run_memory_ledger(cfg)
    if cfg.get("redis", True) and not args.no_redis and not args.sql_only:
        log("2-4. Redis")
        run_redis(cfg, args.redis_url, results)
    if cfg.get("periodic_accounts") and not args.no_redis and not args.sql_only:
        log("7. periodic cycle (PostgreSQL + Redis)")
        run_periodic(cfg, args.redis_url, results)
    if cfg.get("sql_rows") and not args.no_redis:
        log("8. SQL (PostgreSQL) + Redis host path")
        run_sql(cfg, args, results)
    if cfg["simulation"] and not args.sql_only:
        log("5. simulation speed and memory")
        results["simulation"] = run_simulation(*cfg["simulation"])
        if cfg.get("simulation_default"):
            results["simulation_default"] = run_simulation("default")
    results["seconds"] = time.perf_counter() - started
    results["targets"] = evaluate_targets(results)
    log("targets:")
    for target in results["targets"]:
        log(f"  {target['status']:<4} {target['name']}: {target['detail']}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "results.md").write_text(markdown(results))
    log(f"wrote {args.out / 'results.json'} and {args.out / 'results.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
