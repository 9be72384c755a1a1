"""Faults: a backfill killed with SIGKILL mid-way, and a store held by another process.

The killed backfill runs on a store of its own (chDB: one store path per process, and
this process already uses the conftest store), driven through the real CLI and
tests/store_worker.py in subprocesses.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from analyse import analyse, at, day, row_key
from dagster import DagsterInstance, materialize
from runs import Run, llm, write_runs
from store_worker import DEMO_END, DEMO_FIRST
from test_determinism import STAGES, _analysed_tables

from rvbbit_assets.assets.pipeline import per_run_assets
from rvbbit_assets.checks import pipeline_checks
from rvbbit_assets.cli import commands as cli
from rvbbit_assets.demo.generate import GROUND_TRUTH_FILE
from rvbbit_assets.orchestration.day_range import RANGE_END_TAG, RANGE_START_TAG
from rvbbit_assets.store import ClickHouseStore, embedded_path

TESTS = Path(__file__).resolve().parent
KILLED = ["src_killed", "an_killed"]
CLEAN = ["src_clean", "an_clean"]


def _env(store_dir: Path, databases: list[str] | None = None) -> dict[str, str]:
    env = {**os.environ, "RVBBIT_CLICKHOUSE_URL": "chdb://" + str(store_dir / "chdb"),
           "RVBBIT_STORE_LOCK_TIMEOUT": "120"}
    env.pop("DAGSTER_HOME", None)  # each CLI run on a temporary Dagster instance
    if databases:
        env["RVBBIT_SOURCE_DATABASE"], env["RVBBIT_ANALYTICS_DATABASE"] = databases
    return env


def _worker(store_dir: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, str(TESTS / "store_worker.py"), *args],
                          env=_env(store_dir), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def _materialize_command() -> list[str]:
    # --verbose: the step events on stderr say when to kill it.
    return [sys.executable, "-m", "rvbbit_assets.cli", "materialize", "--verbose",
            "--start", DEMO_FIRST.isoformat(), "--end", DEMO_END.isoformat()]


def _cli_materialize(store_dir: Path, databases: list[str]) -> None:
    done = subprocess.run(_materialize_command(), env=_env(store_dir, databases),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]


def _dump(store_dir: Path, databases: list[str]) -> dict[str, pd.DataFrame]:
    out = store_dir / f"{databases[1]}.pickle"
    _worker(store_dir, "dump", *databases, str(out))
    return pd.read_pickle(out)


def _kill_when(store_dir: Path, databases: list[str], marker: str, delay: float) -> None:
    """Start the CLI backfill and SIGKILL it `delay` s after `marker` shows in its log."""
    process = subprocess.Popen(_materialize_command(), env=_env(store_dir, databases),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        for line in process.stderr:
            if marker in line:
                break
            assert time.monotonic() < deadline, "the backfill never reached the marker"
        else:
            pytest.fail(f"the backfill ended before {marker!r}")
        time.sleep(delay)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: the CLI and any child
        process.wait()
    assert process.returncode == -signal.SIGKILL  # it was still running: killed mid-way


def _by_day(frame: pd.DataFrame) -> dict:
    if frame.empty:  # a stage killed before its first day was swapped in
        return {}
    days = pd.to_datetime(frame["created_at"]).dt.date
    return {d: part.reset_index(drop=True) for d, part in frame.groupby(days)}


@pytest.mark.slow
def test_a_backfill_killed_mid_way_then_rerun_equals_a_clean_run(tmp_path):
    _worker(tmp_path, "seed", *CLEAN, *KILLED)
    _cli_materialize(tmp_path, CLEAN)
    clean = _dump(tmp_path, CLEAN)
    # Every run of the seeded demo, each once (its days are past: none is still running).
    truth = json.loads((tmp_path / GROUND_TRUTH_FILE).read_text())
    assert sorted(clean["cascade_analytics"]["session_id"]) == sorted(clean["session_facts"][
        "session_id"])
    assert len(clean["cascade_analytics"]) == truth["counts"]["runs"] == 125

    # Mid-way: session_facts .. anomaly_scores written, cascade_analytics being written.
    _kill_when(tmp_path, KILLED, 'Started execution of step "cascade_analytics"', 0.15)
    after_kill = _dump(tmp_path, KILLED)  # the kernel released the dead process's lock
    for name in STAGES:
        clean_days = _by_day(clean[name])
        for d, rows in _by_day(after_kill[name]).items():
            # Every day is all or nothing: a day present after the kill is the whole day.
            assert rows.equals(clean_days[d]), f"{name} {d} is half-written"
    assert not after_kill["session_facts"].empty  # killed after some days were written

    _cli_materialize(tmp_path, KILLED)
    rerun = _dump(tmp_path, KILLED)
    for name in STAGES:
        assert not rerun[name][row_key(name)].duplicated().any(), name
        assert rerun[name].equals(clean[name]), f"{name} differs from a clean run"
    # A killed stage leaves at most its staging copy behind, never read by anything.
    leftovers = set(rerun["tables"]["name"]) - set(clean["tables"]["name"])
    assert all("__staging_" in name for name in leftovers), leftovers


# --- the store held by another process --------------------------------------------------------
# Already covered elsewhere: the store's wait and message (test_store_and_schema), the
# sensor's tick (test_sensor), the API's 503 (test_api). Here: the CLI and a pipeline run.

HOLD = (
    "import fcntl, os, sys, time\n"
    "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX)\n"
    "os.ftruncate(fd, 0); os.pwrite(fd, b'pid %d (test holder)' % os.getpid(), 0)\n"
    "print('held', flush=True); time.sleep(float(sys.argv[2]))\n"
)


class _Holder:
    """Another process holding the conftest store's lock for `seconds`."""

    def __init__(self, seconds: float) -> None:
        lock = embedded_path(os.environ["RVBBIT_CLICKHOUSE_URL"]) + ".lock"
        self.process = subprocess.Popen([sys.executable, "-c", HOLD, lock, str(seconds)],
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "held"

    def __enter__(self) -> "_Holder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.kill()
        self.process.wait()


def _store_env(monkeypatch, store, timeout: str) -> None:
    monkeypatch.setenv("RVBBIT_SOURCE_DATABASE", store.source_database)
    monkeypatch.setenv("RVBBIT_ANALYTICS_DATABASE", store.analytics_database)
    monkeypatch.setenv("RVBBIT_STORE_LOCK_TIMEOUT", timeout)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # `make test` exports the UI's home


def test_cli_waits_then_says_who_holds_the_store(store, monkeypatch, capsys):
    _store_env(monkeypatch, store, "1.5")
    for command in (["session", "s1"], ["materialize"], ["init"],
                    ["predict", "c", "--input", "{}"]):
        with _Holder(60) as holder:
            started = time.monotonic()
            assert cli.main(command) == 2, command
            waited = time.monotonic() - started
        err = capsys.readouterr().err
        assert 1.4 <= waited < 30, (command, waited)
        assert err.startswith("rvbbit-analytics: embedded store "), err
        assert f"held by pid {holder.process.pid} (test holder)" in err
        assert "waited 2s and gave up" in err and "Traceback" not in err


def test_cli_proceeds_when_the_holder_lets_go_in_time(store, monkeypatch, capsys):
    with store.session("test data") as session:
        write_runs(session, [Run("r1", "c", at(0), [llm(0.5)])])
    _store_env(monkeypatch, store, "60")
    with _Holder(2):
        started = time.monotonic()
        assert cli.main(["materialize", "--start", day(0).isoformat(),
                         "--end", day(0).isoformat()]) == 0
    assert time.monotonic() - started >= 1.5
    assert f"Analysed 1 runs of {day(0)} (1 day) in " in capsys.readouterr().out


def test_a_run_whose_store_stays_busy_fails_clearly_and_a_rerun_is_clean(store, monkeypatch):
    monkeypatch.setenv("RVBBIT_STORE_BUSY_RETRIES", "0")  # busy past every retry
    with store.session("test data") as session:
        write_runs(session, [Run(f"r{i}", "c", at(i % 2, 10 + i), [llm(0.1 * (i + 1))])
                             for i in range(6)])
    analyse(store, day(0), day(1))
    before = _analysed_tables(store)
    impatient = ClickHouseStore(source_database=store.source_database,
                                analytics_database=store.analytics_database,
                                lock_timeout_seconds=1)
    # A run as the sensor launches it: each step takes the store for its own work.
    with _Holder(60), DagsterInstance.ephemeral() as instance:
        result = materialize(
            [*per_run_assets, *pipeline_checks], resources={"store": impatient},
            instance=instance, raise_on_error=False,
            tags={RANGE_START_TAG: day(0).isoformat(), RANGE_END_TAG: day(1).isoformat()},
        )
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures
    error, message = failures[0].step_failure_data.error, ""
    while error is not None:  # Dagster's wrapper, then the cause: the store's message
        message, error = message + error.message, error.cause
    assert "is busy: held by pid" in message and "(test holder)" in message
    # Nothing half-done: the tables are as the last good run left them, and a rerun agrees.
    for name, frame in _analysed_tables(store).items():
        assert frame.equals(before[name]), f"{name} changed by the failed run"
    analyse(store, day(0), day(1))
    for name, frame in _analysed_tables(store).items():
        assert frame.equals(before[name]), f"{name} changed by the rerun"
