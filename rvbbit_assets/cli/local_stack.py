"""`make run` after the demo: analyse the store, then serve the Dagster UI and the analytics
page side by side until Ctrl-C (`python -m rvbbit_assets.cli.local_stack`).

- Dagster's daily partitions start on the day of the store's first run, unless
  RVBBIT_PARTITIONS_START says otherwise, so the UI shows the days that have data.
- Both servers share the embedded store under its lock (store/embedded_lock.py); each is a
  process group of its own, stopped with it: Ctrl-C, SIGTERM or a closed terminal stops
  both, and the launcher waits for them, killing what is left after a grace period.
- Their output goes to log files (the Dagster UI shows every run's events); `--verbose`
  sends it to the terminal instead.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from rvbbit_assets.store import ClickHouseStore, StoreError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STARTUP_TIMEOUT_SECONDS = 240.0
STOP_GRACE_SECONDS = 30.0


@dataclass
class Server:
    name: str
    url: str
    ready_path: str
    command: list[str]
    log_path: Path
    process: subprocess.Popen | None = None
    to_terminal: bool = False

    def start(self, env: dict[str, str], verbose: bool) -> None:
        self.to_terminal = verbose
        output = None if verbose else self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command, env=env, stdout=output, stderr=subprocess.STDOUT if output else None,
            stdin=subprocess.DEVNULL, start_new_session=True,  # its own process group
        )
        if output is not None:
            output.close()

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + self.ready_path, timeout=2):
                return True
        except OSError:
            return False

    def terminate(self) -> None:
        """Ask the server to stop (Dagster and uvicorn shut their own children down)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def reap(self, deadline: float) -> None:
        """Wait for the server until `deadline`, then SIGKILL whatever is left of its process
        group."""
        if self.process is None:
            return
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=max(deadline - time.monotonic(), 0.0))
        with suppress(ProcessLookupError):  # no such group: nothing was left over
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        if self.to_terminal:
            return "(its output went to the terminal)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def partitions_start(store: ClickHouseStore) -> tuple[str | None, str]:
    """The first day of the partitions and why: RVBBIT_PARTITIONS_START when set, else the day
    of the store's first run (None when the store has no runs)."""
    from rvbbit_assets.store.source_span import source_day_span

    chosen = os.environ.get("RVBBIT_PARTITIONS_START")
    if chosen:
        return chosen, "RVBBIT_PARTITIONS_START"
    first = source_day_span(store).first_run_day
    return (first.isoformat(), "the store's first run") if first else (None, "")


def servers(args: argparse.Namespace) -> list[Server]:
    bin_dir = Path(sys.executable).parent
    logs = Path(args.log_dir)
    return [
        Server("Dagster UI", f"http://{args.host}:{args.dagster_port}", "/server_info",
               [str(bin_dir / "dagster"), "dev", "-m", "rvbbit_assets.definitions",
                "-h", args.host, "-p", str(args.dagster_port)],
               logs / "dagster.log"),
        Server("Analytics page", f"http://{args.host}:{args.page_port}", "/healthz",
               [sys.executable, "-m", "rvbbit_assets.cli", "serve",
                "--host", args.host, "--port", str(args.page_port)],
               logs / "page.log"),
    ]


def stop_all(both: Sequence[Server]) -> None:
    for server in both:
        server.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for server in both:
        server.reap(deadline)


@contextmanager
def stop_requests() -> Iterator[threading.Event]:
    """An event set by Ctrl-C, SIGTERM or SIGHUP while the block runs."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve_both(both: Sequence[Server], env: dict[str, str], verbose: bool) -> int:
    """Start the servers, print their URLs once all answer, and stop them all when one
    ends or on Ctrl-C, SIGTERM or SIGHUP. Returns the exit code."""
    for server in both:
        server.log_path.parent.mkdir(parents=True, exist_ok=True)
    with stop_requests() as stop, ExitStack() as running:
        running.callback(stop_all, both)
        for server in both:
            server.start(env, verbose)
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        waiting = list(both)
        while waiting and not stop.is_set():
            failed = next((s for s in waiting if s.exited() is not None), None)
            if failed is not None or time.monotonic() > deadline:
                return _gave_up(failed or waiting[0], started=failed is None)
            waiting = [s for s in waiting if not s.answers()]
            stop.wait(0.5)
        if stop.is_set():
            print("Stopping.")
            return 130
        width = max(len(s.name) for s in both) + 1
        for server in both:
            print(f"{server.name + ':':<{width}} {server.url}")
        if not verbose:
            print("Their logs: " + ", ".join(str(s.log_path) for s in both))
        print("Ctrl-C stops both.", flush=True)
        while not stop.wait(0.5):
            ended = next((s for s in both if s.exited() is not None), None)
            if ended is not None:
                print(f"The {ended.name} stopped (exit code {ended.exited()}); stopping the "
                      f"other too. Its last lines:\n{ended.log_tail()}", flush=True)
                return 1
        print("Stopping both.", flush=True)
    return 0


def _gave_up(server: Server, started: bool) -> int:
    why = (f"did not answer at {server.url} in {STARTUP_TIMEOUT_SECONDS:.0f}s" if started
           else f"exited (code {server.exited()}) before answering")
    print(f"The {server.name} {why}. Its last lines:\n{server.log_tail()}", file=sys.stderr,
          flush=True)
    return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rvbbit_assets.cli.local_stack",
        description="Analyse the store, then serve the Dagster UI and the analytics page.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address both bind (127.0.0.1)")
    parser.add_argument("--dagster-port", type=int, default=3000)
    parser.add_argument("--page-port", type=int, default=8765)
    parser.add_argument("--log-dir", default=".rvbbit/logs", help="the servers' logs")
    parser.add_argument("--verbose", action="store_true",
                        help="every Dagster event and server line on the terminal")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    store = ClickHouseStore()
    try:
        start, why = partitions_start(store)
        if start is not None:
            # Before any asset module is imported: they define the partitions from it.
            os.environ["RVBBIT_PARTITIONS_START"] = start
            print(f"Dagster's daily partitions start {start} ({why}; set "
                  "RVBBIT_PARTITIONS_START=YYYY-MM-DD to choose another day).")
        from rvbbit_assets.cli.commands import main as cli

        analysed = cli(["materialize", *(["--verbose"] if args.verbose else [])])
    except StoreError as exc:
        print(f"rvbbit-analytics: {exc}", file=sys.stderr)
        return 2
    if analysed == 130:  # interrupted: stop here
        return analysed
    if analysed != 0:
        print("The analysis failed; the Dagster UI shows the failed run and its events.")
    return serve_both(servers(args), dict(os.environ), args.verbose)


if __name__ == "__main__":
    sys.exit(main())
