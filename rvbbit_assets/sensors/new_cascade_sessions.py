"""Sensor new_cascade_sessions: analyse runs as they finish, with nobody asking, and heal.

Each tick:
1. sets the store's concurrency pool to one slot (orchestration/run_exclusion.py) and,
   while a run of the pipeline is queued or in progress, waits: one run writes the store at
   a time;
2. reads how this sensor's earlier runs ended: the days of a failed or cancelled run are
   requested again after a bounded backoff, until a later run analyses them
   (run_outcomes.py);
3. asks the store what is new or missing (tick_findings.py): finished and abandoned runs in
   new log parts, changed recent days, periodically every finished run without analytics,
   and days analysed before an earlier day's facts were rewritten;
4. requests one run from the earliest such day to today (later days' baselines look back
   over earlier days), the unpartitioned assets over all runs included, and says why in
   the sensor's log and in the run's `rvbbit/requested_because` tag.
"""

import hashlib
import json
import time
from dataclasses import replace
from datetime import UTC, date, datetime

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from rvbbit_assets.assets.history import unanalysed_earlier_days
from rvbbit_assets.assets.per_run import HISTORY_TABLES
from rvbbit_assets.assets.pipeline import per_run_assets, refreshed_after_runs, store_asset_keys
from rvbbit_assets.checks import pipeline_checks
from rvbbit_assets.config import setting
from rvbbit_assets.orchestration.day_range import RANGE_END_TAG, RANGE_START_TAG, DayRange, utc_now
from rvbbit_assets.orchestration.run_exclusion import (
    describe_run,
    ensure_store_pool,
    store_runs_in_progress,
)
from rvbbit_assets.sensors.run_outcomes import Outcomes, Owed, finished_runs, settle
from rvbbit_assets.sensors.sensor_cursor import SensorCursor
from rvbbit_assets.sensors.tick_findings import TickFindings, find_days_to_analyse, requestable
from rvbbit_assets.store import ClickHouseStore, StoreBusyError, StoreSession
from rvbbit_assets.store.source_schema import check_source_schema

SENSOR_NAME = "new_cascade_sessions"
REASON_TAG = "rvbbit/requested_because"
MAX_REASON_CHARS = 2000

__all__ = ["ask_store", "find_days_to_analyse", "new_cascade_sessions"]


def reason_summary(days: dict[date, str]) -> str:
    text = "; ".join(f"{d}: {why}" for d, why in sorted(days.items()))
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."


def run_request_for(
    days: dict[date, str], cursor: SensorCursor, changes: dict[str, str], today: date
) -> RunRequest:
    span = DayRange(min(days), max(max(days), today))
    # The key names what was seen (watermarks, days, rewritten rows, what is owed), so new
    # data or a new retry gets a new key, and a tick seeing exactly the same is deduplicated.
    seen = [cursor.dump(), sorted(map(str, days)), changes]
    digest = hashlib.sha256(json.dumps(seen, sort_keys=True).encode()).hexdigest()[:16]
    return RunRequest(
        run_key=f"{span}@{digest}",
        asset_selection=[a.key for a in [*per_run_assets, *refreshed_after_runs]],
        asset_check_keys=[key for check in pipeline_checks for key in check.check_keys],
        tags={
            RANGE_START_TAG: span.first.isoformat(),
            RANGE_END_TAG: span.last.isoformat(),
            REASON_TAG: reason_summary(days),
        },
    )


def _with_owed(found: dict[date, str], owed: Owed) -> dict[date, str]:
    days = dict(found)
    wanted = {owed.days.first: owed.reason,
              **{date.fromisoformat(d): why for d, why in owed.deferred.items()}}
    for day, why in wanted.items():
        days[day] = f"{why}; {days[day]}" if day in days else why
    return days


def ask_store(session: StoreSession, cursor: SensorCursor | None, now: datetime) -> TickFindings:
    """A tick's questions to the store. Raises (a failed tick, shown in the UI) on drift of
    the source tables: requesting runs that can only fail deep inside a query would hide
    the cause."""
    check_source_schema(session)
    return find_days_to_analyse(session, cursor, now)


def evaluate_tick(
    context: SensorEvaluationContext, store: ClickHouseStore, now: datetime | None = None
) -> SensorResult:
    """One tick at `now` (naive UTC; default: the clock). Part write times are the store's
    clock, so a `now` passed in must be near it: tests pass one to see exactly the days and
    timeouts the tick saw."""
    instance = context.instance
    for change in ensure_store_pool(instance):
        context.log.info(change)
    running = store_runs_in_progress(instance, store_asset_keys)
    if running:
        return SensorResult(skip_reason=SkipReason(
            f"waiting for {describe_run(running[0])} to finish: one run writes the store "
            "at a time"
        ))
    cursor = SensorCursor.parse(context.cursor)
    runs = finished_runs(instance, SENSOR_NAME, cursor.runs_read_until if cursor else None)
    outcomes = settle(cursor.outcomes if cursor else Outcomes(), runs)
    now = now or utc_now()
    try:
        wait = store.settings().sensor_store_wait_seconds
        with store.session(f"sensor {SENSOR_NAME}", timeout=wait) as session:
            findings = ask_store(session, cursor, now)
            # A request must start at any earlier day never analysed: later days compare
            # with it, and their stages refuse until it is.
            unanalysed = (unanalysed_earlier_days(session, now.date(), HISTORY_TABLES)
                          if findings.days or findings.evidenced or outcomes.owed else [])
    except StoreBusyError as exc:
        return SensorResult(skip_reason=SkipReason(f"store busy, retrying next tick: {exc}"))
    found, requested, notes = requestable(
        findings, findings.cursor.requested, outcomes.analysed, time.time()
    )
    for note in notes:
        context.log.info(note)
    read_until = max((r.update_timestamp.timestamp() for r in runs),
                     default=cursor.runs_read_until if cursor else None)
    seen = replace(findings.cursor, runs_read_until=read_until, owed=outcomes.owed,
                   analysed=outcomes.analysed, requested=requested)
    owed = outcomes.owed
    if owed is not None and time.time() < owed.retry_at:
        owed = owed.deferring(found)
        retry_at = datetime.fromtimestamp(owed.retry_at, UTC)
        waiting = f"; {len(owed.deferred)} more days wait with it" if owed.deferred else ""
        return SensorResult(
            skip_reason=SkipReason(f"{owed.reason} at {retry_at:%H:%M:%S} UTC{waiting}"),
            cursor=replace(seen, owed=owed).dump(),
        )
    days = _with_owed(found, owed) if owed is not None else found
    if not days:
        return SensorResult(
            skip_reason=SkipReason("no new finished runs and no changed recent days"),
            cursor=seen.dump(),
        )
    if unanalysed and unanalysed[0] < min(days):
        days[unanalysed[0]] = f"{len(unanalysed)} earlier days never analysed, from this one"
    for d, why in sorted(days.items()):
        context.log.info(f"{d}: {why}")
    if owed is not None:
        seen = replace(seen, owed=replace(owed, deferred={}))  # requested now, with it
    evidence = {key: found[2] for key, found in findings.evidenced.items()}
    request = run_request_for(days, seen, {**findings.changes, **evidence}, now.date())
    return SensorResult(run_requests=[request], cursor=seen.dump())


@sensor(
    name=SENSOR_NAME,
    target=[*per_run_assets, *refreshed_after_runs],
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=setting("RVBBIT_SENSOR_INTERVAL_SECONDS"),
    description=(
        "Requests the day partitions of runs that finished (or were abandoned) since the "
        "last tick, of recent days whose source rows changed after analysis, of finished "
        "runs without analytics, of days analysed before an earlier day was rewritten, and "
        "again those of its runs that failed; one run at a time."
    ),
)
def new_cascade_sessions(context: SensorEvaluationContext, store: ClickHouseStore) -> SensorResult:
    return evaluate_tick(context, store)
