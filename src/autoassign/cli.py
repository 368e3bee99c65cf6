"""The ``autoassign`` command: ``simulate``, ``replay``, ``explain`` and ``db upgrade``.

``explain`` runs on a simulated scenario by default, or read-only on a live system: the
host's own wiring (``--wiring module:factory``) or the library's own schema and Redis
keys (``--redis-url`` and ``--sql-url``); see :mod:`autoassign._live`.

Exit codes: 0 ok; 2 usage or scenario errors, and a live explain whose wiring or backends
cannot be set up or read (a one-line message, no traceback); 1 when a simulation counted
invariant violations. Terminal tables use ``rich`` (the ``cli`` extra) when it is
installed, plain text otherwise; ``--json`` output needs nothing beyond the core.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import IO, Any

from autoassign._live import (
    LiveError,
    LiveTarget,
    connect_urls,
    id_candidates,
    load_wiring,
    resolve_conversation,
    resolve_inbox,
)
from autoassign.errors import AutoassignError
from autoassign.explain import (
    ConversationExplanation,
    InboxExplanation,
    explain_conversation,
    explain_inbox,
)
from autoassign.simulate import (
    Scenario,
    ScenarioError,
    Simulation,
    compare,
    default_scenario,
    generate_workload,
    load_scenario,
    replay,
    report_json,
    simulate,
    write_event_log,
)

__all__ = ["main"]

EXIT_OK = 0
EXIT_VIOLATIONS = 1
EXIT_USAGE = 2

Progress = Callable[[float, float], None]


class _UsageError(Exception):
    pass


def _package_version() -> str:
    from autoassign import __version__  # noqa: PLC0415 - the package imports this module lazily

    return __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autoassign",
        description="Try assignment policies on a virtual clock, and see why conversations "
        "are (not) assigned.",
    )
    parser.add_argument(
        "--version", action="version", version=f"autoassign {_package_version()}"
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
        description="Explain without writing anything: the spec's troubleshooting "
        "checklist for an inbox, or every member agent for one conversation. By default "
        "on a simulated scenario (run up to --at minutes); with --wiring, or --redis-url "
        "and --sql-url, on a live system (read-only). See docs/troubleshooting.md.",
        epilog="Live examples:  autoassign explain --wiring myapp.autoassign:build_app "
        "--inbox 42   |   autoassign explain --redis-url redis://localhost:6379/0 "
        "--sql-url postgresql+psycopg://app@db/app --conversation 1234 --json. Ids that "
        "look like integers are tried as int, then as text. Exit codes: 0 ok; 2 bad "
        "arguments, unknown inbox, or a backend that cannot be reached or read.",
    )
    exp.add_argument(
        "--inbox", help="explain this inbox (scenario: default every inbox)"
    )
    exp.add_argument("--conversation", help="explain this conversation id")
    exp.add_argument(
        "--jobs-scheduled",
        choices=("yes", "no"),
        help="whether PeriodicAssignmentJob is scheduled, for the job_scheduled gate "
        "(scenario default: yes; live default: judged from the pending mark and lease)",
    )
    sim_group = exp.add_argument_group("simulated (the default)")
    sim_group.add_argument(
        "--scenario", metavar="FILE", help="default: the built-in scenario"
    )
    sim_group.add_argument(
        "--at",
        type=float,
        metavar="MINUTES",
        help="minutes after the scenario start (default: half the duration)",
    )
    _common(sim_group, duration=False, json=False)
    exp.add_argument("--json", action="store_true", help="print JSON instead of tables")
    live = exp.add_argument_group(
        "live, through the host's own wiring",
        "Import the host's factory (module:attribute, called with no arguments; the "
        "current directory is searched first) returning its autoassign.Autoassign or "
        "AssignmentService.",
    )
    live.add_argument("--wiring", metavar="MODULE:FACTORY")
    urls = exp.add_argument_group(
        "live, over the library's own schema and Redis keys",
        "Both URLs are needed. The SQL connection is read-only (PostgreSQL read-only "
        "transactions; SQLite opened read-only); nothing is written to Redis.",
    )
    urls.add_argument("--redis-url", metavar="URL", help="e.g. redis://host:6379/0")
    urls.add_argument(
        "--redis-cluster", action="store_true", help="the URL names a Redis Cluster"
    )
    urls.add_argument(
        "--redis-prefix", metavar="PREFIX", help="key prefix (default: autoassign)"
    )
    urls.add_argument(
        "--presence-window",
        type=float,
        metavar="SECONDS",
        help="heartbeat freshness (default: 20)",
    )
    urls.add_argument(
        "--no-heartbeat",
        action="store_true",
        help="statuses alone decide presence (RedisBackend(require_heartbeat=False))",
    )
    urls.add_argument(
        "--sql-url", metavar="URL", help="e.g. postgresql+psycopg://user@host/db"
    )
    urls.add_argument(
        "--sql-schema", metavar="NAME", help="the PostgreSQL schema of the tables"
    )
    urls.add_argument(
        "--sql-table-prefix", metavar="PREFIX", help="SqlSchema(prefix=...)"
    )
    urls.add_argument(
        "--sql-ids",
        choices=("int", "str", "mixed"),
        help="how ids are stored (SqlSchema(ids=...); default: int)",
    )
    urls.add_argument(
        "--override-precedence",
        choices=("inbox", "policy"),
        help="as given to build_autoassign (default: inbox)",
    )
    db = commands.add_parser(
        "db",
        help="the library's own SQL tables: migrations",
        description="Manage the tables of autoassign.adapters.sql (the sql extra).",
    )
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    up = db_commands.add_parser(
        "upgrade",
        help="bring the library's tables to the latest schema (creates them if missing)",
        description="Apply the library's Alembic migrations to the database: create the "
        "tables of an empty one, adopt one made by SqlSchema.create_all, upgrade an older "
        "one. Give the options the application's SqlSchema uses.",
    )
    up.add_argument(
        "--url", required=True, help="SQLAlchemy URL, e.g. postgresql+psycopg://..."
    )
    up.add_argument("--schema", metavar="NAME", help="the PostgreSQL schema")
    up.add_argument(
        "--table-prefix", metavar="PREFIX", default="", help="SqlSchema(prefix=...)"
    )
    up.add_argument(
        "--ids",
        choices=("int", "str", "mixed"),
        default="int",
        help="SqlSchema(ids=...) (default: int)",
    )
    up.add_argument(
        "--naive-datetimes", action="store_true", help="SqlSchema(naive_datetimes=True)"
    )
    up.add_argument(
        "--revision", default="head", help="target revision (default: head)"
    )
    return parser


def _cmd_db(args: argparse.Namespace, out: IO[str]) -> int:
    try:
        import sqlalchemy as sa  # noqa: PLC0415

        from autoassign.adapters.sql import SqlSchema  # noqa: PLC0415
        from autoassign.adapters.sql.migrations import upgrade  # noqa: PLC0415
    except ImportError as exc:
        raise _UsageError(str(exc)) from None
    schema = SqlSchema(
        schema=args.schema,
        prefix=args.table_prefix,
        ids=args.ids,
        naive_datetimes=args.naive_datetimes,
    )
    try:
        engine = sa.create_engine(args.url)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise _UsageError(f"--url: {exc}") from None
    try:
        revision = upgrade(engine, schema, revision=args.revision)
    except (sa.exc.SQLAlchemyError, AutoassignError) as exc:
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        raise _UsageError(f"cannot upgrade {engine.url!r}: {lines[0]}") from None
    finally:
        engine.dispose()
    out.write(f"{engine.url!r}: the library's tables are at revision {revision}\n")
    return EXIT_OK


def _common(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    *,
    seed: bool = True,
    duration: bool = True,
    json: bool = True,
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
    if json:
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
    except ImportError:  # the cli extra is missing: plain tables, no colour
        from autoassign.simulate._plain import (  # type: ignore[assignment]  # noqa: PLC0415
            Console,
        )
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
    record: list[dict[str, object]] = []
    with _progress(1) as progress:
        report = simulate(
            scenario,
            policy=args.policy,
            record=record if args.record else None,
            progress=progress,
        )
    if args.record:
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
    with _progress(1) as progress:
        report = replay(scenario, args.log, policy=args.policy, progress=progress)
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
            title=f"Replay of {args.log} ({report['totals']['conversations']} conversations)",
        )
    return EXIT_VIOLATIONS if _violations(report) else EXIT_OK


_URL_OPTIONS = (
    "redis_cluster",
    "redis_prefix",
    "presence_window",
    "no_heartbeat",
    "sql_schema",
    "sql_table_prefix",
    "sql_ids",
    "override_precedence",
)
_SCENARIO_OPTIONS = ("scenario", "at", "policy")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _given(args: argparse.Namespace, name: str) -> bool:
    value = getattr(args, name, None)
    return value is not None and value is not False


def _jobs_scheduled(args: argparse.Namespace, default: bool | None) -> bool | None:
    if args.jobs_scheduled is None:
        return default
    return bool(args.jobs_scheduled == "yes")


def _cmd_explain(args: argparse.Namespace, out: IO[str]) -> int:
    if (
        args.wiring is not None
        or args.redis_url is not None
        or args.sql_url is not None
    ):
        return _explain_live(args, out)
    for name in ("wiring", "redis_url", "sql_url", *_URL_OPTIONS):
        if _given(args, name):
            raise _UsageError(f"{_flag(name)} applies to a live explain (--redis-url)")
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
    conversation: int | None = None
    if args.conversation is not None:
        text = args.conversation
        if not (text.isascii() and text.isdigit()):
            raise ScenarioError(
                "--conversation",
                f"scenario conversations are numbered 1, 2, ...; got {text!r}",
            )
        conversation = int(text)
    run = Simulation(scenario, generate_workload(scenario), policy=args.policy)
    run.run(until=at)
    header = f"Scenario {scenario.name!r}, minute {at:g}"
    if conversation is not None:
        explanation = explain_conversation(run.app, conversation)
        history = run.history(conversation)
        console = _show_conversation(args, out, header, explanation, history=history)
        if console is not None and not explanation.found:
            if history is None:
                console.print(
                    f"(conversation {conversation} has not arrived by minute {at:g})"
                )
            else:
                console.print(
                    f"(resolved at minute {history['resolved']} after being assigned to "
                    f"{history['agent']} at minute {history['assigned']}; the simulator "
                    "archives resolved conversations)"
                )
        return EXIT_OK
    chosen = [args.inbox] if args.inbox is not None else inbox_ids
    scheduled = _jobs_scheduled(args, True)
    note = (
        f"(the simulator runs PeriodicAssignmentJob every "
        f"{scenario.periodic_interval_minutes} min)"
    )
    return _show_inboxes(
        args,
        out,
        f"{header} {note}",
        [explain_inbox(run.app, inbox, jobs_scheduled=scheduled) for inbox in chosen],
    )


def _show_conversation(
    args: argparse.Namespace,
    out: IO[str],
    header: str,
    explanation: ConversationExplanation,
    **extra: object,
) -> Any:
    """Print one conversation's explanation (``extra`` joins its JSON). Returns the
    console the tables went to, for a footnote; ``None`` after ``--json``."""
    if args.json:
        out.write(json.dumps({**explanation.to_dict(), **extra}, indent=2) + "\n")
        return None
    from autoassign.simulate.render import render_conversation  # noqa: PLC0415

    console = _console(out)
    console.print(header)
    render_conversation(console, explanation)
    return console


def _show_inboxes(
    args: argparse.Namespace,
    out: IO[str],
    header: str,
    explanations: Sequence[InboxExplanation],
) -> int:
    """Print inbox explanations (a JSON list with ``--json``)."""
    if args.json:
        out.write(json.dumps([e.to_dict() for e in explanations], indent=2) + "\n")
        return EXIT_OK
    from autoassign.simulate.render import render_inbox  # noqa: PLC0415

    console = _console(out)
    console.print(header)
    for explanation in explanations:
        render_inbox(console, explanation)
    return EXIT_OK


def _live_target(args: argparse.Namespace) -> LiveTarget:
    for name in _SCENARIO_OPTIONS:
        if _given(args, name):
            raise _UsageError(
                f"{_flag(name)} applies to a simulated explain, not a live one"
            )
    if (args.inbox is None) == (args.conversation is None):
        raise _UsageError("a live explain needs exactly one of --inbox, --conversation")
    if args.wiring is not None:
        for name in ("redis_url", "sql_url", *_URL_OPTIONS):
            if _given(args, name):
                raise _UsageError(
                    f"{_flag(name)} cannot be combined with --wiring (the host's "
                    "factory configures its own adapters)"
                )
        return load_wiring(args.wiring)
    for name in ("redis_url", "sql_url"):
        if not _given(args, name):
            raise _UsageError(
                f"a live explain without --wiring needs both --redis-url and "
                f"--sql-url ({_flag(name)} is missing)"
            )
    window = None
    if args.presence_window is not None:
        if not args.presence_window > 0:
            raise _UsageError(
                f"--presence-window must be > 0 seconds, got {args.presence_window:g}"
            )
        window = timedelta(seconds=args.presence_window)
    return connect_urls(
        redis_url=args.redis_url,
        sql_url=args.sql_url,
        redis_cluster=args.redis_cluster,
        redis_prefix=args.redis_prefix or "autoassign",
        presence_window=window,
        require_heartbeat=not args.no_heartbeat,
        sql_schema=args.sql_schema,
        sql_table_prefix=args.sql_table_prefix or "",
        sql_ids=args.sql_ids or "int",
        override_precedence=args.override_precedence or "inbox",
    )


def _explain_live(args: argparse.Namespace, out: IO[str]) -> int:
    target = _live_target(args)
    try:
        return _explain_live_target(args, target, out)
    except AutoassignError as exc:
        cause = exc.__cause__
        detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
        raise _UsageError(
            f"cannot explain on {target.description}: {exc}{detail}"
        ) from None
    finally:
        target.close()


def _explain_live_target(
    args: argparse.Namespace, target: LiveTarget, out: IO[str]
) -> int:
    app = target.app
    header = f"Live: {target.description} (read-only)"
    if args.conversation is not None:
        found = resolve_conversation(app, args.conversation)
        conversation = id_candidates(args.conversation)[0] if found is None else found
        _show_conversation(args, out, header, explain_conversation(app, conversation))
        return EXIT_OK
    inbox = resolve_inbox(app, args.inbox)
    if inbox is None:
        raise _UsageError(f"--inbox: no inbox {args.inbox!r} on {target.description}")
    return _show_inboxes(
        args,
        out,
        header,
        [explain_inbox(app, inbox, jobs_scheduled=_jobs_scheduled(args, None))],
    )


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
        "db": _cmd_db,
    }
    try:
        return handlers[args.command](args, out)
    except (ScenarioError, _UsageError, LiveError) as exc:
        print(f"autoassign {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"autoassign {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _entry() -> None:  # pragma: no cover - the console script
    raise SystemExit(main())


if __name__ == "__main__":  # pragma: no cover
    _entry()
