"""`rvbbit-analytics`: the command line of contract.md."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Sequence
from datetime import date

# Light imports only: each command imports what it uses (`materialize` starts its workers'
# imports, and stops collecting the heap, before its own).
from rvbbit_assets.config import ConfigError
from rvbbit_assets.demo.worlds import DEFAULT_WORLD, WORLDS


def _init(args: argparse.Namespace) -> int:
    from rvbbit_assets.store import ClickHouseStore
    from rvbbit_assets.store.migrations import apply_migrations

    store = ClickHouseStore()
    with store.session("rvbbit-analytics init") as session:
        applied = apply_migrations(session, with_source=args.with_source)
    print(
        f"{store.describe()}: applied {', '.join(applied)}"
        if applied
        else f"{store.describe()}: schema up to date"
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from rvbbit_assets.cli.progress_line import ProgressLine
    from rvbbit_assets.demo import generate_demo
    from rvbbit_assets.store import ClickHouseStore
    from rvbbit_assets.store.migrations import apply_migrations

    store = ClickHouseStore()
    with store.session("rvbbit-analytics demo") as session:
        apply_migrations(session, with_source=True)
        existing = session.scalar("SELECT count() FROM ${source}.cascade_sessions")
        if args.if_empty and existing:
            print(f"{store.describe()}: the source already holds {existing:,} runs; "
                  "no demo added")
            return 0
        line = ProgressLine()
        line.status(f"Writing demo runs: 0/{args.days} days")
        summary = generate_demo(
            session, days=args.days, sessions_per_day=args.sessions_per_day, seed=args.seed,
            world=args.world,
            progress=lambda done, days: line.step(f"Writing demo runs: {done}/{days} days"),
        )
        line.close()
    print(summary.summary())
    return 0


def _materialize(args: argparse.Namespace) -> int:
    if args.owns_process:
        from rvbbit_assets.analysis.worker_pool import start_forkserver

        start_forkserver(__name__)  # its imports beside this process's
        # What the imports build (modules, the assets' definitions) lives as long as the
        # process: no collections while they run (their full passes over the growing heap
        # took 0.5-0.8 s), and frozen after, so later full passes leave it out.
        gc.disable()
    from rvbbit_assets.cli.materialize import materialize_days
    from rvbbit_assets.cli.progress_line import ProgressLine

    if args.owns_process:
        gc.freeze()
        gc.enable()
    outcome = materialize_days(args.start, args.end, progress=ProgressLine(),
                               verbose=args.verbose)
    print(outcome.summary())
    return 0 if outcome.success else 1


def _session(args: argparse.Namespace) -> int:
    from rvbbit_assets.serving.views import BadRequest, checked_id, session_analytics, to_json
    from rvbbit_assets.store import ClickHouseStore

    try:
        session_id = checked_id(args.session_id, "session id")
    except BadRequest as exc:
        print(f"rvbbit-analytics: {exc}", file=sys.stderr)
        return 1
    with ClickHouseStore().session("rvbbit-analytics session") as session:
        document = session_analytics(session, session_id)
    if document is None:
        print(f"rvbbit-analytics: no analytics for session {session_id!r}", file=sys.stderr)
        return 1
    print(to_json(document, indent=2))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from rvbbit_assets.serving import serve

    serve(args.host, args.port)  # ConfigError: no token where one is needed, or a bad one
    return 0


def _predict(args: argparse.Namespace) -> int:
    from rvbbit_assets.serving.reads.cost_estimate import estimate_cost
    from rvbbit_assets.serving.views import BadRequest, checked_text
    from rvbbit_assets.store import ClickHouseStore

    try:  # undecodable argument bytes arrive as lone surrogates
        checked_text(args.cascade_id, "cascade id")
        checked_text(args.input, "--input")
    except BadRequest as exc:
        print(f"rvbbit-analytics: {exc}", file=sys.stderr)
        return 1
    with ClickHouseStore().session("rvbbit-analytics predict") as session:
        estimate = estimate_cost(session, args.cascade_id, args.input)
    if estimate is None:
        print("No cost model yet: analyse more runs first (`rvbbit-analytics materialize`).",
              file=sys.stderr)
        return 1
    print(estimate.sentence())
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rvbbit-analytics", description="Post-run analytics for RVBBIT cascades."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    init = commands.add_parser("init", help="create or migrate the analytics schema")
    init.add_argument(
        "--with-source", action="store_true", help="also create RVBBIT's source tables"
    )
    init.set_defaults(handler=_init)

    demo = commands.add_parser("demo", help="write synthetic RVBBIT runs into the source tables")
    demo.add_argument("--days", type=int, default=30)
    demo.add_argument("--sessions-per-day", type=int, default=300)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument(
        "--world", choices=sorted(WORLDS), default=DEFAULT_WORLD,
        help=f"the shape of the costs (default {DEFAULT_WORLD}): routine model fallbacks, "
        "completion-length tails, retries; classic is the first demo's tidy shape, heavy has "
        "heavier tails and more fallbacks",
    )
    demo.add_argument(
        "--if-empty", action="store_true", help="only when the source has no runs yet"
    )
    demo.set_defaults(handler=_demo)

    run = commands.add_parser("materialize", help="analyse every finished run of those days")
    run.add_argument("--start", type=date.fromisoformat, help="first day, YYYY-MM-DD")
    run.add_argument("--end", type=date.fromisoformat, help="last day, YYYY-MM-DD")
    run.add_argument(
        "--verbose", action="store_true",
        help="print every Dagster event (they are in the Dagster instance and UI either way)",
    )
    run.set_defaults(handler=_materialize)

    show = commands.add_parser("session", help="print a run's analytics as the API's JSON")
    show.add_argument("session_id")
    show.set_defaults(handler=_session)

    serve = commands.add_parser("serve", help="serve the HTTP API (read only)")
    serve.add_argument(
        "--host", default="127.0.0.1",
        help="address to bind (127.0.0.1); any other needs RVBBIT_API_TOKEN",
    )
    serve.add_argument("--port", type=int, default=8765, help="port (8765)")
    serve.set_defaults(handler=_serve)

    predict = commands.add_parser("predict", help="a run's cost before it runs, with an interval")
    predict.add_argument("cascade_id")
    predict.add_argument("--input", required=True, help="the run's input, JSON text")
    predict.set_defaults(handler=_predict)
    return parser


def _told_to_the_user(exc: Exception) -> bool:
    """A busy store or a setting out of range: a message, not a traceback. (Only the store's
    code raises StoreError, so the command has imported it by then.)"""
    from rvbbit_assets.store import StoreError

    return isinstance(exc, (StoreError, ConfigError))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.owns_process = argv is None  # run as the program, not called in another's process
    try:
        return args.handler(args)
    except Exception as exc:
        if not _told_to_the_user(exc):
            raise
        print(f"rvbbit-analytics: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nrvbbit-analytics: interrupted", file=sys.stderr)
        return 130
    finally:
        if args.owns_process:
            # About to exit, which collects the whole heap once more, all of it about to go
            # anyway (2.4 s after a 60-day materialize): frozen objects are left out.
            gc.freeze()

