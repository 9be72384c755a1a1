"""The new_cascade_sessions sensor on a real Dagster instance and a real store."""

import os
import subprocess
import sys
from datetime import datetime, time, timedelta

import pytest
from analyse import analyse, at, day, row
from dagster import DagsterInstance, SensorResult, build_sensor_context
from runs import Run, llm, write_runs

from rvbbit_assets.assets.pipeline import refreshed_after_runs
from rvbbit_assets.orchestration.day_range import RANGE_END_TAG, RANGE_START_TAG, utc_now
from rvbbit_assets.sensors.new_cascade_sessions import evaluate_tick
from rvbbit_assets.store import embedded_path

pytestmark = pytest.mark.store_open_for_the_test


@pytest.fixture(autouse=True)
def no_settle_delay(monkeypatch):
    monkeypatch.setenv("RVBBIT_SENSOR_SETTLE_SECONDS", "0")


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as instance:
        yield instance


def tick(store, instance, cursor, now=None):
    """A tick at `now` (default: the clock when it starts), passed in so that a test compares
    with the day the tick saw, even across midnight."""
    context = build_sensor_context(instance=instance, cursor=cursor, resources={"store": store})
    result = evaluate_tick(context, store, now or utc_now())
    assert isinstance(result, SensorResult)
    return result


def requested_range(result):
    """The analysed day range of the one run requested (the unpartitioned assets in it too)."""
    (analysis,) = result.run_requests
    assert {a.key for a in refreshed_after_runs} <= set(analysis.asset_selection)
    return analysis.tags[RANGE_START_TAG], analysis.tags[RANGE_END_TAG]


def ticked_at(store, instance, cursor):
    """A tick and the day it ran on (the clock passed in), for comparisons across midnight."""
    now = utc_now()
    return tick(store, instance, cursor, now), now.date().isoformat()


def _write(store, runs):
    with store.session("test data") as session:
        write_runs(session, runs)


def test_first_tick_requests_unanalysed_days_then_skips(store, instance):
    _write(store, [Run("a", "c", at(0), [llm(0.1)]), Run("b", "c", at(2), [llm(0.1)])])
    first, today = ticked_at(store, instance, None)
    assert requested_range(first) == (day(0).isoformat(), today)
    analyse(store, day(0), day(2))
    # a restarted sensor starts from the stored cursor string and finds nothing new
    again = tick(store, instance, first.cursor)
    assert not again.run_requests
    assert "no new finished runs" in again.skip_reason.skip_message
    assert again.cursor == first.cursor


def test_new_late_and_out_of_order_runs_are_requested_with_new_keys(store, instance):
    _write(store, [Run("a", "c", at(5), [llm(0.1)])])
    cursor = tick(store, instance, None).cursor
    analyse(store, day(5))
    assert not tick(store, instance, cursor).run_requests

    # a run that started ten days before its completion row was inserted
    _write(store, [Run("late", "c", at(1), [llm(0.2)])])
    late, today = ticked_at(store, instance, cursor)
    assert requested_range(late) == (day(1).isoformat(), today)

    # rows inserted out of order, older than everything seen: still found, with a new key
    _write(store, [Run("older", "c", at(0), [llm(0.3)])])
    older, today = ticked_at(store, instance, late.cursor)
    assert requested_range(older) == (day(0).isoformat(), today)
    assert older.run_requests[0].run_key != late.run_requests[0].run_key


def test_duplicate_completion_rows_do_not_duplicate_analytics(store, instance):
    run = Run("dup", "c", at(3), [llm(0.1)])
    _write(store, [run])
    cursor = tick(store, instance, None).cursor
    analyse(store, day(3))
    with store.session("test data") as session:  # the completion row logged a second time
        session.command(
            "INSERT INTO ${source}.unified_logs (session_id, timestamp, node_type, role)"
            " SELECT session_id, timestamp, node_type, role FROM ${source}.unified_logs"
            " WHERE session_id = 'dup' AND node_type = 'cascade_completed'"
        )
    result = tick(store, instance, cursor)
    assert requested_range(result)[0] == day(3).isoformat()
    analyse(store, day(3))
    assert row(store, "cascade_analytics", "dup")["message_count"] == 3


def test_late_cost_update_re_requests_a_recent_day(store, instance):
    # Recent means near the clock: this run is of today, not of the pinned days.
    recent = utc_now().date()
    _write(store, [Run("costly", "c", datetime.combine(recent, time()),
                       [llm(None), llm(0.1, at=2)])])
    first = tick(store, instance, None)
    cursor = first.cursor
    analyse(store, recent)
    assert row(store, "session_facts", "costly")["null_cost_rows"] == 1
    assert not tick(store, instance, cursor).run_requests
    with store.session("late cost") as session:
        session.command(
            "ALTER TABLE ${source}.unified_logs UPDATE cost = 0.5"
            " WHERE session_id = 'costly' AND role = 'assistant' AND cost IS NULL"
            " SETTINGS mutations_sync = 2"
        )
    result, today = ticked_at(store, instance, cursor)
    assert requested_range(result) == (recent.isoformat(), today)
    # same day, same watermarks: only the changed rows tell the keys apart
    assert result.run_requests[0].run_key != first.run_requests[0].run_key
    analyse(store, recent)
    assert row(store, "cascade_analytics", "costly")["total_cost"] == pytest.approx(0.6)


def _analysed_recent_run(store, instance, session_id):
    """A run of today, analysed, and the cursor of a quiet tick after that."""
    recent = utc_now().date()
    _write(store, [Run(session_id, "c", datetime.combine(recent, time()), [llm(0.1)])])
    cursor = tick(store, instance, None).cursor
    analyse(store, recent)
    quiet = tick(store, instance, cursor)
    assert not quiet.run_requests
    return recent, quiet.cursor


def test_a_late_row_of_an_analysed_run_is_found_between_reconciliations(store, instance):
    recent, cursor = _analysed_recent_run(store, instance, "late-row")
    with store.session("late row") as session:  # no completion row: only its part is new
        session.command(
            "INSERT INTO ${source}.unified_logs (session_id, timestamp, node_type, role, cost)"
            " SELECT session_id, max(timestamp), 'agent', 'assistant', 0.4"
            " FROM ${source}.unified_logs WHERE session_id = 'late-row' GROUP BY session_id"
        )
    result, today = ticked_at(store, instance, cursor)
    assert requested_range(result) == (recent.isoformat(), today)
    assert "source rows changed after analysis: 1 runs, cost 0.5, 3 rows" in (
        result.run_requests[0].tags["rvbbit/requested_because"])


def test_a_changed_run_is_compared_again_at_the_next_reconciliation_not_every_tick(
    store, instance
):
    recent, cursor = _analysed_recent_run(store, instance, "changed")
    with store.session("late cost") as session:
        session.command(
            "ALTER TABLE ${source}.unified_logs UPDATE cost = 0.3"
            " WHERE session_id = 'changed' AND role = 'assistant' SETTINGS mutations_sync = 2"
        )
    found = tick(store, instance, cursor)
    assert requested_range(found)[0] == recent.isoformat()
    # Not analysed since (its run was lost): no log part is new, so a tick within the
    # reconcile period reads no rows and requests nothing ...
    quiet = tick(store, instance, found.cursor)
    assert "no new finished runs" in quiet.skip_reason.skip_message
    # ... and the reconciliation compares every recent run again.
    period = timedelta(seconds=300.5)
    again = tick(store, instance, quiet.cursor, utc_now() + period)
    assert again.run_requests[0].tags["rvbbit/requested_because"] == (
        found.run_requests[0].tags["rvbbit/requested_because"])


def test_abandoned_runs_are_requested_after_the_timeout(store, instance, monkeypatch):
    cursor = tick(store, instance, None).cursor
    monkeypatch.setenv("RVBBIT_ABANDONED_AFTER_HOURS", str(1 / 3600))
    _write(store, [Run("silent", "c", at(4), [llm(0.1)], completion=None)])
    # Two seconds on (the clock passed in), its log part is older than the 1 s timeout.
    result = tick(store, instance, cursor, utc_now() + timedelta(seconds=2.1))
    assert requested_range(result)[0] == day(4).isoformat()


@pytest.mark.store_open_for_the_test(False)  # another process holds the store
def test_busy_store_skips_the_tick_with_a_reason(store, instance, monkeypatch):
    monkeypatch.setenv("RVBBIT_SENSOR_STORE_WAIT_SECONDS", "0.2")
    lock_path = embedded_path(os.environ["RVBBIT_CLICKHOUSE_URL"]) + ".lock"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time\n"
         f"fd = os.open({lock_path!r}, os.O_RDWR)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "os.ftruncate(fd, 0); os.pwrite(fd, b'pid %d (test holder)' % os.getpid(), 0)\n"
         "print('held', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        result = tick(store, instance, None)
    finally:
        holder.kill()
        holder.wait()
    assert not result.run_requests
    assert "store busy" in result.skip_reason.skip_message
    assert "test holder" in result.skip_reason.skip_message
    assert result.cursor is None  # nothing consumed: the next tick starts where this one did
