"""The ``autoassign`` command: ``simulate``, ``replay`` and ``explain``.

Exit codes: 0 ok; 2 usage or scenario errors (a one-line message, no traceback); 1 when
a simulation counted invariant violations. Terminal output needs the ``cli`` extra
(``rich``); ``--json`` output needs nothing beyond the core.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any

from autoassign.explain import explain_conversation, explain_inbox
from autoassign.simulate import (
    Scenario,
    ScenarioError,
    Simulation,
    compare,
    default_scenario,
    generate_workload,
    load_scenario,
    read_event_log,
    report_json,
    write_event_log,
)

__all__ = ["main"]

EXIT_OK = 0
EXIT_VIOLATIONS = 1
EXIT_USAGE = 2

Progress = Callable[[float, float], None]


class _UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autoassign",
        description="Try assignment policies on a virtual clock, and see why conversations "
        "are (not) assigned.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = commands.add_parser(
        "simulate",
        help="run a scenario (the built-in default if none is given) and print the report",
        description="Run a scenario through the real core on a virtual clock.",
    )
    sim.add_argument("scenario", nargs="?", metavar="SCENARIO.toml")
    _common(sim)
    sim.add_argument(
        "--compare",
        nargs=2,
        metavar=("POLICY_A", "POLICY_B"),
        help="run the same seeded workload with every inbox on POLICY_A, then on POLICY_B "
        "(names from the scenario's [policies])",
    )
    sim.add_argument(
        "--plot", metavar="FILE.png", help="draw backlog and per-agent load"
    )
    sim.add_argument(
        "--record",
        metavar="LOG.jsonl",
        help="write the run's events as a replayable log",
    )

    rep = commands.add_parser(
        "replay",
        help="feed a recorded JSONL event log through a policy",
        description="Replay conversation_created, status_changed and agent_status_changed "
        "events through the scenario's configuration and report what would have happened.",
    )
    rep.add_argument("log", metavar="LOG.jsonl")
    rep.add_argument(
        "--scenario",
        metavar="FILE",
        help="agents, inboxes and policies (default: built-in)",
    )
    _common(rep, seed=False)
    rep.add_argument("--plot", metavar="FILE.png")

    exp = commands.add_parser(
        "explain",
        help="dry-run a pass: the troubleshooting checklist per inbox, or one conversation",
        description="Run the scenario up to --at minutes, then explain without writing.",
    )
    exp.add_argument(
        "--scenario", metavar="FILE", help="default: the built-in scenario"
    )
    exp.add_argument("--inbox", help="explain this inbox (default: every inbox)")
    exp.add_argument("--conversation", type=int, help="explain this conversation id")
    exp.add_argument(
        "--at",
        type=float,
        metavar="MINUTES",
        help="minutes after the scenario start (default: half the duration)",
    )
    _common(exp, duration=False)
    return parser


def _common(
    parser: argparse.ArgumentParser, *, seed: bool = True, duration: bool = True
) -> None:
    if seed:
        parser.add_argument("--seed", type=int, help="override the scenario's seed")
    if duration:
        parser.add_argument(
            "--duration", type=int, metavar="MINUTES", help="override the duration"
        )
    parser.add_argument(
        "--policy", metavar="NAME", help="link every inbox to this scenario policy"
    )
    parser.add_argument(
        "--json", action="store_true", help="print JSON instead of tables"
    )


def _scenario(args: argparse.Namespace) -> Scenario:
    path = getattr(args, "scenario", None)
    scenario = load_scenario(path) if path else default_scenario()
    changes: dict[str, Any] = {}
    if getattr(args, "seed", None) is not None:
        if args.seed < 0:
            raise ScenarioError("--seed", f"must be >= 0, got {args.seed}")
        changes["seed"] = args.seed
    if getattr(args, "duration", None) is not None:
        if args.duration < 1:
            raise ScenarioError("--duration", f"must be >= 1, got {args.duration}")
        changes["duration_minutes"] = args.duration
    if getattr(args, "policy", None) is not None:
        scenario.policy(args.policy)
    return scenario.with_changes(**changes) if changes else scenario


def _console(stream: IO[str]) -> Any:
    try:
        from rich.console import Console  # noqa: PLC0415
    except ImportError:  # pragma: no cover - the cli extra is missing
        raise _UsageError(
            "terminal output needs rich: pip install 'autoassign[cli]' (or use --json)"
        ) from None
    width = None if stream.isatty() else 120
    return Console(file=stream, width=width, soft_wrap=False)


@contextmanager
def _progress(total_runs: int) -> Iterator[Progress | None]:
    """A rich progress bar on stderr when it is a terminal; otherwise nothing."""
    if not sys.stderr.isatty():
        yield None
        return
    try:
        from rich.progress import Progress as Bar  # noqa: PLC0415
    except ImportError:  # pragma: no cover
        yield None
        return
    with Bar(transient=True) as bar:
        task = bar.add_task("simulating", total=100.0 * total_runs)
        state = {"run": 0, "last": -1.0}

        def update(minute: float, total: float) -> None:
            if minute < state["last"]:
                state["run"] += 1
            state["last"] = minute
            bar.update(task, completed=100.0 * state["run"] + 100.0 * minute / total)

        yield update


def _plot(reports: dict[str, dict[str, Any]], path: str) -> None:
    try:
        import matplotlib  # noqa: F401, PLC0415
    except ImportError:
        raise _UsageError(
            "--plot needs matplotlib: pip install 'autoassign[plot]'"
        ) from None
    from autoassign.simulate.plot import plot_reports  # noqa: PLC0415

    plot_reports(reports, path)


def _violations(*reports: dict[str, Any]) -> int:
    return sum(int(report["invariants"]["total"]) for report in reports)


def _cmd_simulate(args: argparse.Namespace, out: IO[str]) -> int:
    scenario = _scenario(args)
    if args.compare:
        first, second = args.compare
        scenario.policy(first)
        scenario.policy(second)
        with _progress(2) as progress:
            result = compare(scenario, first, second, progress=progress)
        runs = result["runs"]
        if args.plot:
            _plot({name: runs[name] for name in (first, second)}, args.plot)
        if args.json:
            out.write(report_json(result))
        else:
            from autoassign.simulate.render import render_compare  # noqa: PLC0415

            render_compare(_console(out), result)
        return EXIT_VIOLATIONS if _violations(*runs.values()) else EXIT_OK
    record: list[dict[str, object]] | None = [] if args.record else None
    with _progress(1) as progress:
        run = Simulation(
            scenario,
            generate_workload(scenario),
            policy=args.policy,
            record=record,
            progress=progress,
        )
        run.run()
    report = run.report()
    if args.record:
        assert record is not None
        write_event_log(args.record, record)
    if args.plot:
        _plot({args.policy or "scenario": report}, args.plot)
    if args.json:
        out.write(report_json(report))
    else:
        from autoassign.simulate.render import render_report  # noqa: PLC0415

        render_report(_console(out), report)
    return EXIT_VIOLATIONS if _violations(report) else EXIT_OK


def _cmd_replay(args: argparse.Namespace, out: IO[str]) -> int:
    scenario = _scenario(args)
    workload = read_event_log(args.log, scenario)
    last = max(
        [a.minute for a in workload.arrivals]
        + [s.minute for s in workload.status_changes]
        + [p.minute for p in workload.presence]
        + [0.0]
    )
    # The replay runs until just after the log's last event (at least a minute).
    scenario = scenario.with_changes(duration_minutes=max(1, int(last) + 1))
    with _progress(1) as progress:
        run = Simulation(scenario, workload, policy=args.policy, progress=progress)
        run.run()
    report = run.report()
    report["assignments"] = run.decisions
    if args.plot:
        _plot({args.policy or "replay": report}, args.plot)
    if args.json:
        out.write(report_json(report))
    else:
        from autoassign.simulate.render import render_report  # noqa: PLC0415

        console = _console(out)
        render_report(
            console,
            report,
            title=f"Replay of {args.log} ({len(workload.arrivals)} conversations)",
        )
    return EXIT_VIOLATIONS if _violations(report) else EXIT_OK


def _cmd_explain(args: argparse.Namespace, out: IO[str]) -> int:
    scenario = _scenario(args)
    at = scenario.duration_minutes / 2 if args.at is None else args.at
    if not 0 <= at <= scenario.duration_minutes:
        raise ScenarioError(
            "--at", f"must be between 0 and {scenario.duration_minutes}, got {at:g}"
        )
    inbox_ids = [inbox.id for inbox in scenario.inboxes]
    if args.inbox is not None and args.inbox not in inbox_ids:
        raise ScenarioError(
            "--inbox",
            f"unknown inbox {args.inbox!r} (scenario has: {', '.join(inbox_ids)})",
        )
    run = Simulation(scenario, generate_workload(scenario), policy=args.policy)
    run.run(until=at)
    note = (
        f"(the simulator runs PeriodicAssignmentJob every "
        f"{scenario.periodic_interval_minutes} min)"
    )
    if args.conversation is not None:
        explanation = explain_conversation(run.app, args.conversation)
        history = run.history(args.conversation)
        if args.json:
            data = explanation.to_dict()
            data["history"] = history
            out.write(json.dumps(data, indent=2) + "\n")
            return EXIT_OK
        from autoassign.simulate.render import render_conversation  # noqa: PLC0415

        console = _console(out)
        console.print(f"Scenario {scenario.name!r}, minute {at:g}")
        render_conversation(console, explanation)
        if not explanation.found:
            if history is None:
                console.print(
                    f"(conversation {args.conversation} has not arrived by minute {at:g})"
                )
            else:
                console.print(
                    f"(resolved at minute {history['resolved']} after being assigned to "
                    f"{history['agent']} at minute {history['assigned']}; the simulator "
                    "archives resolved conversations)"
                )
        return EXIT_OK
    chosen = [args.inbox] if args.inbox is not None else inbox_ids
    explanations = [
        explain_inbox(run.app, inbox, jobs_scheduled=True) for inbox in chosen
    ]
    if args.json:
        out.write(json.dumps([e.to_dict() for e in explanations], indent=2) + "\n")
        return EXIT_OK
    from autoassign.simulate.render import render_inbox  # noqa: PLC0415

    console = _console(out)
    console.print(f"Scenario {scenario.name!r}, minute {at:g} {note}")
    for inbox_explanation in explanations:
        render_inbox(console, inbox_explanation)
    return EXIT_OK


def main(argv: Sequence[str] | None = None, *, stdout: IO[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    out = stdout or sys.stdout
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage message
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    handlers = {
        "simulate": _cmd_simulate,
        "replay": _cmd_replay,
        "explain": _cmd_explain,
    }
    try:
        return handlers[args.command](args, out)
    except (ScenarioError, _UsageError) as exc:
        print(f"autoassign {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"autoassign {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _entry() -> None:  # pragma: no cover - the console script
    raise SystemExit(main())


if __name__ == "__main__":  # pragma: no cover
    _entry()
