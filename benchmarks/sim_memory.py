"""Measurement 5 (run in its own process): speed and peak memory of a simulation.

``python -m benchmarks.sim_memory CONVERSATIONS AGENTS`` prints one JSON object:
the conversations the workload generated, the wall and CPU time (workload, run and
report) and the peak resident set size of this process, including the interpreter and
imports: ``VmHWM`` from ``/proc/self/status`` where there is one. Not ``ru_maxrss``: on
Linux it keeps the peak of the process image before ``exec``, so a child started by a
large benchmark process reports the parent's peak. ``python -m benchmarks.sim_memory
default`` runs the built-in default scenario instead (``autoassign simulate``).
"""

from __future__ import annotations

import json
import resource
import sys
import time

from autoassign.simulate import default_scenario, generate_workload, parse_scenario_text
from autoassign.simulate.engine import Simulation

DURATION_MINUTES = 1440


def scenario_text(conversations: int, agents: int) -> str:
    """One day, ``agents`` always-on agents over 4 inboxes, about ``conversations``
    arrivals (Poisson), round robin with fair distribution, capacity and exclusions."""
    inboxes = 4
    names = [f"a{n}" for n in range(agents)]
    per_hour = conversations / (DURATION_MINUTES / 60) / inboxes
    agent_list = ", ".join(f'"{name}"' for name in names)
    lines = [
        "[simulation]",
        'name = "bench-memory"',
        "seed = 7",
        f"duration_minutes = {DURATION_MINUTES}",
        "bulk_limit = 100",
        "",
        "[policies.fair]",
        'assignment_order = "round_robin"',
        "fair_distribution_limit = 1000",
        "fair_distribution_window = 3600",
        "",
        "[policies.balanced]",
        'assignment_order = "balanced"',
        "fair_distribution_limit = 1000",
        "fair_distribution_window = 3600",
        "",
    ]
    lines += [f'[[agents]]\nid = "{name}"\n' for name in names]
    limits = ", ".join(f"in{n} = 50" for n in range(inboxes))
    lines += [
        "[[capacity_policies]]",
        'id = "all"',
        f"agents = [{agent_list}]",
        f"inbox_limits = {{ {limits} }}",
        'excluded_labels = ["vip"]',
        "",
    ]
    for n in range(inboxes):
        policy = "fair" if n % 2 == 0 else "balanced"
        lines += [
            "[[inboxes]]",
            f'id = "in{n}"',
            f'policy = "{policy}"',
            f"members = [{agent_list}]",
            f"arrivals_per_hour = {per_hour:.3f}",
            'resolve = { distribution = "lognormal", median = 7, sigma = 0.6 }',
            "labels = { vip = 0.01 }",
            "",
        ]
    return "\n".join(lines)


def _peak_rss_kib() -> float:
    """This process image's peak RSS in KiB (``VmHWM``; ``ru_maxrss`` elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1])
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def main(argv: list[str]) -> int:
    if argv[:1] == ["default"]:
        scenario = default_scenario()
        conversations, agents = 0, len(scenario.agents)
    else:
        conversations, agents = int(argv[0]), int(argv[1])
        scenario = parse_scenario_text(scenario_text(conversations, agents))
    start = time.perf_counter()
    cpu = time.process_time()
    workload = generate_workload(scenario)
    run = Simulation(scenario, workload)
    run.run()
    report = run.report()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    peak_kib = _peak_rss_kib()
    totals = report.get("totals", {})
    print(
        json.dumps(
            {
                "scenario": scenario.name,
                "target_conversations": conversations,
                "agents": agents,
                "totals": totals,
                "seconds": elapsed,
                "cpu_seconds": cpu,
                "conversations_per_second": totals.get("conversations", 0) / elapsed,
                "peak_rss_mb": peak_kib / 1024,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
