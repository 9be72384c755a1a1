"""Busy is not failure, and one run writes the store at a time, on any Dagster instance.

Real store, real Dagster instances with no configuration of ours (`DagsterInstance.local_temp`),
real runs; the store's lock is held by this process as another client holds it.
"""

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from analyse import at, day, row
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter, materialize
from runs import Run, llm, write_runs
from sensor_runs import NO_TELEMETRY, store_held, tick

from rvbbit_assets.assets.pipeline import per_run_assets
from rvbbit_assets.checks import pipeline_checks
from rvbbit_assets.cli import commands as cli
from rvbbit_assets.definitions import defs
from rvbbit_assets.orchestration.day_range import RANGE_END_TAG, RANGE_START_TAG
from rvbbit_assets.orchestration.run_exclusion import STORE_POOL
from rvbbit_assets.store import ClickHouseStore

pytestmark = pytest.mark.slow  # real runs of the whole per-run set, several per test

DAY = day(18)
TESTS = Path(__file__).resolve().parent


@pytest.fixture
def instance(tmp_path):
    with DagsterInstance.local_temp(str(tmp_path), overrides=NO_TELEMETRY) as instance:
        yield instance


@pytest.fixture
def one_run(store):
    with store.session("test data") as session:
        write_runs(session, [Run("r1", "c", at(18), [llm(0.4)])])


def _run_day(store, instance, tags=None):
    """The per-run set over DAY as one run, as the UI or a sensor launches it."""
    return materialize(
        [*per_run_assets, *pipeline_checks], resources={"store": store}, instance=instance,
        tags={RANGE_START_TAG: DAY.isoformat(), RANGE_END_TAG: DAY.isoformat(), **(tags or {})},
        raise_on_error=False,
    )


def _impatient(store, seconds=0.3):
    return ClickHouseStore(source_database=store.source_database,
                           analytics_database=store.analytics_database,
                           lock_timeout_seconds=seconds)


def _retried_steps(result):
    return {e.step_key for e in result.all_events
            if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY}


def _wait_for_a_retry(instance, release: threading.Event) -> None:
    """Until a run of the instance has a step up for retry (or `release` is set): the fault is
    kept up until the run has met it, however slowly a loaded machine starts the run."""
    while not (release.is_set() or any(
            instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY)
            for run in instance.get_runs())):
        time.sleep(0.1)


def test_a_step_that_finds_the_store_busy_is_retried_until_it_is_free(
    store, one_run, instance, monkeypatch
):
    monkeypatch.setenv("RVBBIT_STORE_BUSY_RETRIES", "6")
    monkeypatch.setenv("RVBBIT_STORE_BUSY_RETRY_SECONDS", "0.5")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store_held():
            held.set()
            _wait_for_a_retry(instance, release)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    try:
        result = _run_day(_impatient(store), instance)  # waits 0.3 s, then retries
    finally:
        release.set()
        holder.join()
    assert result.success
    assert "session_facts" in _retried_steps(result)
    assert row(store, "cascade_analytics", "r1")["total_cost"] == pytest.approx(0.4)


OUTSIDER = (  # opens the store as a user's own script would, without taking the lock; closes
    # it when a line comes on stdin
    "import sys, clickhouse_connect\n"
    "client = clickhouse_connect.get_client(dsn=sys.argv[1])\n"
    "client.command('SELECT 1'); print('open', flush=True); sys.stdin.readline()\n"
)


def test_a_client_outside_the_lock_is_waited_for_like_a_busy_store(
    store, one_run, instance, monkeypatch
):
    monkeypatch.setenv("RVBBIT_STORE_BUSY_RETRIES", "6")
    monkeypatch.setenv("RVBBIT_STORE_BUSY_RETRY_SECONDS", "0.5")
    url = os.environ["RVBBIT_CLICKHOUSE_URL"]
    with store_held():  # only while the outsider opens it: this process has it closed
        outsider = subprocess.Popen([sys.executable, "-c", OUTSIDER, url],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert outsider.stdout.readline().strip() == "open"
    release = threading.Event()

    def let_go() -> None:
        _wait_for_a_retry(instance, release)
        outsider.communicate("close\n", timeout=60)

    closer = threading.Thread(target=let_go)
    closer.start()
    try:
        result = _run_day(store, instance)
    finally:
        release.set()
        closer.join()
    assert result.success
    assert "session_facts" in _retried_steps(result)
    assert row(store, "cascade_analytics", "r1")["total_cost"] == pytest.approx(0.4)


def _worker_env(store, instance):
    return {**os.environ, "DAGSTER_HOME": instance.root_directory,
            "RVBBIT_SOURCE_DATABASE": store.source_database,
            "RVBBIT_ANALYTICS_DATABASE": store.analytics_database}


def _launch_day_run(store, instance, *holds_file: Path) -> subprocess.Popen:
    """The per-run set over DAY as one run in a process of its own, as the daemon launches
    it (Dagster's in-process execution is not thread-safe); day_run_worker.py says what
    `holds_file` gets."""
    return subprocess.Popen(
        [sys.executable, str(TESTS / "day_run_worker.py"), DAY.isoformat(), *map(str, holds_file)],
        env=_worker_env(store, instance), stdout=subprocess.PIPE, text=True)


def _run_id(worker: subprocess.Popen) -> str:
    out = worker.communicate(timeout=300)[0]
    assert worker.returncode == 0, out
    return out.strip().splitlines()[-1]


@contextmanager
def run_in_progress(store, instance) -> Iterator[str]:
    """A real run of the per-run set, started and waiting for the store this block holds."""
    with store_held():
        worker = _launch_day_run(store, instance)
        deadline = time.monotonic() + 120
        while not (started := instance.get_run_records(
                RunsFilter(statuses=[DagsterRunStatus.STARTED]))):
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.2)
        yield started[0].dagster_run.run_id
    assert _run_id(worker) == started[0].dagster_run.run_id


def test_the_sensor_launches_nothing_while_a_run_is_in_progress(store, one_run, instance):
    with run_in_progress(store, instance) as run_id:
        waiting = tick(store, instance, None)
        assert not waiting.run_requests
        message = waiting.skip_reason.skip_message
        assert message.startswith(f"waiting for run {run_id[:8]} (STARTED since ")
        assert message.endswith(f"launched from the UI or CLI, days {DAY}..{DAY}) to finish: "
                                "one run writes the store at a time")
        assert waiting.cursor is None  # nothing read: the next tick starts where this one did
    # The run has finished and analysed the day: the sensor reads the store again.
    assert tick(store, instance, None).skip_reason.skip_message.startswith("no new finished")


def test_cli_materialize_waits_for_a_run_in_progress_then_refuses_naming_it(
    store, one_run, instance, monkeypatch, capsys
):
    monkeypatch.setenv("DAGSTER_HOME", instance.root_directory)
    monkeypatch.setenv("RVBBIT_SOURCE_DATABASE", store.source_database)
    monkeypatch.setenv("RVBBIT_ANALYTICS_DATABASE", store.analytics_database)
    monkeypatch.setenv("RVBBIT_STORE_LOCK_TIMEOUT", "1.5")
    with run_in_progress(store, instance) as run_id:
        started = time.monotonic()
        assert cli.main(["materialize", "--start", DAY.isoformat()]) == 2
        assert time.monotonic() - started >= 1.4
    err = capsys.readouterr().err
    (message,) = [line for line in err.splitlines() if line.startswith("rvbbit-analytics:")]
    assert message.startswith(f"rvbbit-analytics: Dagster run {run_id[:8]} (STARTED since ")
    assert "one run writes the store at a time; waited 2s for it" in message
    assert "Traceback" not in err, err


def _store_steps():
    job = defs.resolve_implicit_global_asset_job_def()
    return {node.name: node.definition.pool for node in job.graph.nodes}


def test_every_store_step_is_in_one_pool_of_one_slot_on_any_instance(
    store, one_run, instance
):
    steps = _store_steps()
    assert set(steps.values()) == {STORE_POOL}, steps  # every asset and check of ours
    assert len(steps) >= len(per_run_assets) + len(pipeline_checks)
    storage = instance.event_log_storage
    assert storage.get_concurrency_info(STORE_POOL).limit is None  # no limit configured
    # A run that finished while holding a slot (its worker killed, on an instance without
    # run monitoring) would block every later run: the sensor frees it.
    finished = _run_day(store, instance)
    assert finished.success
    storage.set_concurrency_slots(STORE_POOL, 1)
    assert storage.claim_concurrency_slot(STORE_POOL, finished.run_id, "session_facts").is_claimed
    tick(store, instance, None)
    info = storage.get_concurrency_info(STORE_POOL)
    assert info.limit == 1 and not info.active_run_ids
    storage.set_concurrency_slots(STORE_POOL, 4)  # an operator's change is undone too
    tick(store, instance, None)
    assert storage.get_concurrency_info(STORE_POOL).limit == 1


def test_two_runs_launched_at_once_never_use_the_store_at_the_same_time(
    store, one_run, instance, tmp_path
):
    tick(store, instance, None)  # the sensor gives the pool its one slot
    # The pool's one slot takes turns between the runs' steps, but two runs started in the
    # same instant can both claim it for their first step (Dagster's SQLite storage checks
    # and claims in two statements); the store's lock is what keeps them apart then. So the
    # windows compared are those in which each process held the store.
    holds_files = [tmp_path / f"holds-{i}" for i in range(2)]
    workers = [_launch_day_run(store, instance, holds) for holds in holds_files]
    for worker in workers:
        _run_id(worker)
    first, second = ([json.loads(line) for line in holds.read_text().splitlines()]
                     for holds in holds_files)
    # Each run holds the store once per turn: its steps share an open engine until the
    # other run waits for it.
    assert first and second and all(len(hold) == 2 for hold in first + second)
    overlaps = [(a, b) for a in first for b in second if a[0] < b[1] and b[0] < a[1]]
    assert not overlaps
    assert row(store, "cascade_analytics", "r1")["total_cost"] == pytest.approx(0.4)
