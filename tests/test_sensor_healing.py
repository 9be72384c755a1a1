"""The sensor heals: failed and cancelled runs are retried, lost runs are reconciled, a merge of
log parts is not new work, and a rerun of an older day brings the later days up to date.

Real store, real Dagster instance; the sensor's requests are executed for real, tagged as
the daemon tags them (tests/sensor_runs.py).
"""

import time
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
from analyse import analyse, row
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter, materialize
from runs import Run, llm, write_runs
from sensor_runs import NO_TELEMETRY, SENSOR_RUN_TAGS, launch, store_held, tick

from rvbbit_assets.assets.session_facts import session_facts
from rvbbit_assets.cli.materialize import dagster_instance, materialize_days
from rvbbit_assets.definitions import defs
from rvbbit_assets.orchestration.day_range import RANGE_END_TAG, RANGE_START_TAG, utc_now
from rvbbit_assets.sensors.new_cascade_sessions import REASON_TAG
from rvbbit_assets.sensors.run_outcomes import Analysed, retry_delay_seconds
from rvbbit_assets.sensors.sensor_cursor import SensorCursor
from rvbbit_assets.sensors.tick_findings import TickFindings, requestable
from rvbbit_assets.store import ClickHouseStore

# Real runs of the whole per-run set, several per test.
pytestmark = [pytest.mark.slow, pytest.mark.store_open_for_the_test]


@pytest.fixture(autouse=True)
def quick_sensor(monkeypatch):
    monkeypatch.setenv("RVBBIT_SENSOR_SETTLE_SECONDS", "0")
    monkeypatch.setenv("RVBBIT_SENSOR_STORE_WAIT_SECONDS", "0.5")


@pytest.fixture
def instance(tmp_path):
    with DagsterInstance.local_temp(str(tmp_path), overrides=NO_TELEMETRY) as instance:
        yield instance


# The sensor works on the store's clock: these histories end today, not on pinned dates
# (their rows are days old, far from unified_logs' one-year TTL).
def day(offset: int) -> date:
    """Day `offset` of a history whose day 20 is today."""
    return utc_now().date() - timedelta(days=20 - offset)


def at(offset: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(day(offset), datetime.min.time()).replace(hour=hour, minute=minute)


def ago(days: int, hour: int = 10):
    """A time `days` before today (runs are analysed from their day to today)."""
    return at(20 - days, hour)


def _write(store, runs):
    with store.session("test data") as session:
        write_runs(session, runs)


def _span(request):
    return request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]


def _today():
    return utc_now().date().isoformat()


def _skip(result):
    assert not result.run_requests, [r.tags for r in result.run_requests]
    return result.skip_reason.skip_message


def test_the_retry_backoff_doubles_up_to_sixteen_times_the_base(monkeypatch):
    monkeypatch.setenv("RVBBIT_SENSOR_RETRY_SECONDS", "3")
    assert [retry_delay_seconds(n) for n in range(1, 8)] == [3, 6, 12, 24, 48, 48, 48]


@pytest.mark.store_open_for_the_test(False)  # it holds the lock as another client would
def test_a_failed_run_is_requested_again_with_a_growing_backoff(store, instance, monkeypatch):
    monkeypatch.setenv("RVBBIT_SENSOR_RETRY_SECONDS", "1.5")
    monkeypatch.setenv("RVBBIT_STORE_BUSY_RETRIES", "0")  # the run fails at the busy store
    _write(store, [Run("r1", "c", ago(2), [llm(0.3)])])
    first = tick(store, instance, None)
    (request,) = first.run_requests
    assert _span(request) == (day(18).isoformat(), _today())
    impatient = ClickHouseStore(source_database=store.source_database,
                                analytics_database=store.analytics_database,
                                lock_timeout_seconds=0.2)
    cursor = first.cursor
    for failures in (1, 2):
        with store_held():
            assert not launch(request, instance, impatient)
        failed = instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.FAILURE]))[0]
        run_id = failed.dagster_run.run_id
        waiting = tick(store, instance, cursor)
        assert _skip(waiting).startswith(
            f"retry of failed run {run_id[:8]} (failure {failures} in a row) at ")
        owed = SensorCursor.parse(waiting.cursor).owed
        assert owed.retry_at - owed.failed_at == pytest.approx(1.5 * failures)
        time.sleep(max(0.0, owed.retry_at - time.time()) + 0.1)
        retry = tick(store, instance, waiting.cursor)
        (again,) = retry.run_requests
        assert _span(again) == _span(request)
        assert f"retry of failed run {run_id[:8]}" in again.tags[REASON_TAG]
        assert again.run_key != request.run_key
        request, cursor = again, retry.cursor

    assert launch(request, instance, store)  # the store is free again
    assert row(store, "cascade_analytics", "r1")["total_cost"] == pytest.approx(0.3)
    settled = tick(store, instance, cursor)
    assert _skip(settled) == "no new finished runs and no changed recent days"
    assert SensorCursor.parse(settled.cursor).owed is None


def test_a_cancelled_run_is_requested_again(store, instance, monkeypatch):
    monkeypatch.setenv("RVBBIT_SENSOR_RETRY_SECONDS", "0")
    _write(store, [Run("r1", "c", ago(2), [llm(0.3)])])
    first = tick(store, instance, None)
    (request,) = first.run_requests
    # Created as the daemon creates it, then cancelled from the UI before it started.
    run = instance.create_run_for_job(
        defs.resolve_implicit_global_asset_job_def(),
        asset_selection=frozenset(request.asset_selection),
        tags={**request.tags, **SENSOR_RUN_TAGS, "dagster/run_key": request.run_key},
    )
    instance.report_run_canceled(run, message="cancelled from the UI")
    again = tick(store, instance, first.cursor)
    (retry,) = again.run_requests
    assert _span(retry) == _span(request)
    assert f"retry of cancelled run {run.run_id[:8]} (failure 1 in a row)" in retry.tags[REASON_TAG]


def _a_reconcile_period_later(cursor: str) -> str:
    """The cursor as a tick a whole reconcile period later finds it (the period is the only
    clock the sensor reads): no sleeping, and no tick of a loaded machine crosses it early."""
    parsed = SensorCursor.parse(cursor)
    return replace(parsed, reconciled_at=parsed.reconciled_at - RECONCILE_SECONDS).dump()


RECONCILE_SECONDS = 3600


def test_finished_runs_without_analytics_are_reconciled_periodically(store, instance, monkeypatch):
    monkeypatch.setenv("RVBBIT_SENSOR_RECONCILE_SECONDS", str(RECONCILE_SECONDS))
    cursor = tick(store, instance, None).cursor  # nothing yet
    _write(store, [Run("lost", "c", ago(2), [llm(0.2)])])
    found = tick(store, instance, cursor)
    assert found.run_requests[0].tags[REASON_TAG] == f"{day(18)}: 1 run finished"
    # That run is lost (deleted from the UI, or launched on an instance since reset), and
    # nothing new comes: the next tick, within the period, finds nothing.
    quiet = tick(store, instance, found.cursor)
    assert _skip(quiet) == "no new finished runs and no changed recent days"
    reconciled = tick(store, instance, _a_reconcile_period_later(quiet.cursor))
    (request,) = reconciled.run_requests
    assert _span(request) == (day(18).isoformat(), _today())
    assert request.tags[REASON_TAG] == f"{day(18)}: 1 run finished without analytics"
    assert _skip(tick(store, instance, reconciled.cursor)) == (
        "no new finished runs and no changed recent days")  # within the period again
    # Still not analysed (that run is lost too): requested again at the next period.
    (again,) = tick(store, instance, _a_reconcile_period_later(reconciled.cursor)).run_requests
    assert again.tags[REASON_TAG] == request.tags[REASON_TAG]

    assert launch(again, instance, store)
    assert row(store, "cascade_analytics", "lost")["total_cost"] == pytest.approx(0.2)
    assert _skip(tick(store, instance, _a_reconcile_period_later(reconciled.cursor))).startswith(
        "no new finished runs")


def test_evidence_unchanged_after_a_successful_run_is_not_requested_again():
    d = date(2026, 11, 30)
    findings = TickFindings(
        {}, SensorCursor(), evidenced={f"unanalysed {d}": (d, "3 runs finished without "
                                                              "analytics", "3")},
        looked_at=frozenset({"unanalysed", "stale"}),
    )
    days, record, notes = requestable(findings, {}, None, now=100.0)
    assert days == {d: "3 runs finished without analytics"}
    assert record == {f"unanalysed {d}": ["3", 100.0]}
    # A run analysed the day afterwards, yet the same runs are still found: not again.
    ran = Analysed(d.isoformat(), "2026-12-01", ended_at=150.0)
    days, again, notes = requestable(findings, record, ran, now=200.0)
    assert days == {} and again == record
    assert notes == [f"{d}: 3 runs finished without analytics, unchanged since a successful "
                     "run analysed it: not requested again until that changes"]
    # Other evidence (one more run) is requested; a check not run this tick keeps its record.
    more = replace(findings, evidenced={f"unanalysed {d}": (d, "4 runs ...", "4")})
    assert requestable(more, record, ran, now=200.0)[0] == {d: "4 runs ..."}
    assert requestable(replace(findings, evidenced={}, looked_at=frozenset({"stale"})),
                       record, ran, now=200.0)[1] == record


def _days_in_one_month() -> list[date]:
    """Three recent days of one calendar month (unified_logs is partitioned by month, so
    parts of these days can merge)."""
    last = utc_now().date() - timedelta(days=2)
    if last.day < 6:
        last = last.replace(day=1) - timedelta(days=1)
    return [last - timedelta(days=5), last - timedelta(days=4), last]


def _log_parts(store):
    with store.session("test read") as session:
        return session.rows(
            "SELECT partition_id, min_block_number, max_block_number FROM system.parts"
            " WHERE database = {db:String} AND table = 'unified_logs' AND active"
            " ORDER BY partition_id, min_block_number",
            {"db": store.source_database},
        )


def test_a_merge_of_old_log_parts_requests_no_old_day(store, instance):
    old_1, old_2, new = _days_in_one_month()
    for i, d in enumerate((old_1, old_2)):  # one insert, one part each
        _write(store, [Run(f"old-{i}", "c", datetime(d.year, d.month, d.day, 10), [llm(0.1)])])
    first = tick(store, instance, None)
    assert _span(first.run_requests[0]) == (old_1.isoformat(), _today())
    analyse(store, old_1, utc_now().date())
    cursor = tick(store, instance, first.cursor).cursor
    assert len(_log_parts(store)) == 2

    _write(store, [Run("new", "c", datetime(new.year, new.month, new.day, 10), [llm(0.2)])])
    with store.session("merge") as session:  # ClickHouse's background merge, made now
        for table in ("unified_logs", "cascade_sessions"):
            session.command(f"OPTIMIZE TABLE ${{source}}.{table} FINAL")
    ((_, min_block, max_block),) = _log_parts(store)
    assert (min_block, max_block) == (1, 3)  # the new run's rows share a part with old ones

    merged = tick(store, instance, cursor)
    (request,) = merged.run_requests
    assert _span(request) == (new.isoformat(), _today())
    assert request.tags[REASON_TAG] == f"{new}: 1 run finished"
    analyse(store, new, utc_now().date())
    with store.session("merge again") as session:
        session.command("OPTIMIZE TABLE ${source}.unified_logs FINAL")
    assert _skip(tick(store, instance, merged.cursor)).startswith("no new finished runs")


def _late_cost(store, session_id, cost):
    with store.session("late cost") as session:
        session.command(
            "ALTER TABLE ${source}.unified_logs UPDATE cost = {cost:Float64}"
            " WHERE session_id = {sid:String} AND role = 'assistant'"
            " SETTINGS mutations_sync = 2",
            {"cost": cost, "sid": session_id},
        )


def test_a_rerun_of_an_older_day_from_the_cli_updates_the_later_days(store, instance):
    _write(store, [Run("d0", "c", ago(3), [llm(0.1)]), Run("d1", "c", ago(2), [llm(0.3)]),
                   Run("d2", "c", ago(1), [llm(0.3)])])
    d0, d1, d2 = day(17), day(18), day(19)
    cursor = tick(store, instance, None).cursor
    analyse(store, d0, utc_now().date())
    assert row(store, "baselines", "d1")["global_avg_cost"] == pytest.approx(0.1)
    cursor = tick(store, instance, cursor).cursor
    _late_cost(store, "d0", 0.5)  # an old day: outside the sensor's recent window
    quiet = tick(store, instance, cursor)
    assert _skip(quiet).startswith("no new finished runs")

    # Someone reruns that day alone, on a temporary Dagster instance of the CLI's own.
    assert materialize_days(d0, d0, store=store).success
    rerun = tick(store, instance, quiet.cursor)
    (request,) = rerun.run_requests
    assert _span(request) == (d1.isoformat(), _today())
    assert request.tags[REASON_TAG] == "; ".join(
        f"{d}: analysed before the facts of {d0} were rewritten"
        for d in (d1, d2, utc_now().date()))
    assert launch(request, instance, store)
    assert row(store, "baselines", "d1")["global_avg_cost"] == pytest.approx(0.5)
    assert row(store, "baselines", "d2")["global_avg_cost"] == pytest.approx(0.4)
    assert _skip(tick(store, instance, rerun.cursor)).startswith("no new finished runs")


def test_the_cli_creates_its_dagster_home_when_missing(tmp_path, monkeypatch):
    # A clean clone has no .rvbbit/dagster_home yet; the CLI's runs must not fail on that.
    home = tmp_path / "fresh" / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dagster_instance() as cli_instance:
        assert not cli_instance.is_ephemeral
    assert home.is_dir()


def test_a_rerun_of_one_day_of_facts_from_the_ui_reruns_that_day_and_the_later_ones(
    store, instance
):
    _write(store, [Run("d0", "c", ago(3), [llm(0.1)]), Run("d1", "c", ago(2), [llm(0.3)])])
    d0 = day(17)
    cursor = tick(store, instance, None).cursor
    analyse(store, d0, utc_now().date())
    cursor = tick(store, instance, cursor).cursor
    _late_cost(store, "d0", 0.5)
    # The UI's "materialize" of one partition of session_facts alone.
    assert materialize([session_facts], partition_key=d0.isoformat(),
                       resources={"store": store}, instance=instance).success
    (request,) = tick(store, instance, cursor).run_requests
    assert _span(request) == (d0.isoformat(), _today())
    assert request.tags[REASON_TAG].startswith(
        f"{d0}: analysed before the facts of {d0} were rewritten")
