"""Sensor new_cascade_sessions: analyse runs as they finish, with nobody asking.

Each tick asks three cheap questions of the store and requests one single-run backfill from
the earliest affected day to today (later days' baselines look back over earlier days):
- which runs logged a completion row in log parts written since the last tick (settled);
- which runs went silent longer than the abandon timeout without completing;
- which recent days' source rows changed after analysis (late costs, late rows).
The first tick, with no cursor, reconciles instead: every day holding a finished run that
was never analysed.
"""

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from rvbbit_assets.assets.pipeline import per_run_assets, refreshed_after_runs
from rvbbit_assets.assets.session_facts import abandoned_after
from rvbbit_assets.checks import pipeline_checks
from rvbbit_assets.config import Settings
from rvbbit_assets.day_partitions import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    DayRange,
    load_sql,
    utc_now,
)
from rvbbit_assets.sensors.log_watermark import (
    Watermark,
    current_watermark,
    list_log_parts,
    settled_new_parts,
)
from rvbbit_assets.source_schema import check_source_schema
from rvbbit_assets.store import ClickHouseStore, StoreBusyError, StoreSession

DEFAULT_SETTLE_SECONDS = 20.0
DEFAULT_RECENT_DAYS = 2
STORE_WAIT_SECONDS = 5.0


@dataclass
class SensorCursor:
    completed: Watermark = field(default_factory=dict)
    abandoned: Watermark = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> "SensorCursor | None":
        return cls(**json.loads(text)) if text else None

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class TickFindings:
    days: dict[date, str]  # day -> why it is requested
    cursor: SensorCursor
    # What changed without moving the watermarks (rewritten rows), for the run key.
    changes: dict[str, str] = field(default_factory=dict)


def settle_delay() -> timedelta:
    return timedelta(
        seconds=float(os.environ.get("RVBBIT_SENSOR_SETTLE_SECONDS") or DEFAULT_SETTLE_SECONDS)
    )


def recent_days() -> int:
    return int(os.environ.get("RVBBIT_SENSOR_RECENT_DAYS") or DEFAULT_RECENT_DAYS)


def _days(session: StoreSession, sql_name: str, params: dict) -> set[date]:
    return {day for (day,) in session.rows(load_sql(__file__, sql_name), params)}


def find_days_to_analyse(
    session: StoreSession, cursor: SensorCursor | None, now: datetime
) -> TickFindings:
    parts = list_log_parts(session)
    first_day = Settings.from_env().partitions_start
    if cursor is None:
        everything = current_watermark(parts)
        since = DayRange(first_day, now.date()).start
        unanalysed = _days(session, "unanalysed_days", {"since": since})
        return TickFindings(
            {d: "finished runs not analysed yet" for d in unanalysed},
            SensorCursor(completed=everything, abandoned=everything),
        )

    found: dict[date, str] = {}
    abandoned_before = now - abandoned_after()
    completed = settled_new_parts(parts, cursor.completed, now - settle_delay())
    if completed.names:
        for d in _days(session, "completed_in_parts", {"parts": completed.names}):
            found.setdefault(d, "runs finished")
    abandoned = settled_new_parts(parts, cursor.abandoned, abandoned_before)
    if abandoned.names:
        params = {"parts": abandoned.names, "abandoned_before": abandoned_before}
        for d in _days(session, "abandoned_in_parts", params):
            found.setdefault(d, "runs abandoned")
    recent_since = DayRange(now.date() - timedelta(days=recent_days() - 1), now.date()).start
    changes = dict(session.rows(load_sql(__file__, "changed_recent_days"), {"since": recent_since}))
    for d, evidence in changes.items():
        found.setdefault(d, f"source rows changed after analysis: {evidence}")
    return TickFindings(
        {d: why for d, why in found.items() if d >= first_day},
        SensorCursor(completed=completed.watermark, abandoned=abandoned.watermark),
        {d.isoformat(): evidence for d, evidence in changes.items()},
    )


def run_request_for(findings: TickFindings, today: date) -> RunRequest:
    days = DayRange(min(findings.days), max(max(findings.days), today))
    # The key names the data seen (watermarks, days and rewritten rows), so new data always
    # gets a new key, and a tick that sees exactly the same thing again is deduplicated.
    seen = [findings.cursor.dump(), sorted(map(str, findings.days)), findings.changes]
    digest = hashlib.sha256(json.dumps(seen, sort_keys=True).encode()).hexdigest()[:16]
    return RunRequest(
        run_key=f"{days}@{digest}",
        asset_selection=[a.key for a in per_run_assets],
        asset_check_keys=[key for check in pipeline_checks for key in check.check_keys],
        tags={RANGE_START_TAG: days.first.isoformat(), RANGE_END_TAG: days.last.isoformat()},
    )


def refresh_request_after(analysis: RunRequest) -> RunRequest:
    """The unpartitioned assets over all runs; queued after the analysis run it follows."""
    return RunRequest(
        run_key=f"{analysis.run_key}:refresh",
        asset_selection=[a.key for a in refreshed_after_runs],
    )


def evaluate_tick(
    context: SensorEvaluationContext, store: ClickHouseStore, now: datetime | None = None
) -> SensorResult:
    """One tick at `now` (naive UTC; default: the clock). Part write times are the store's
    clock, so a `now` passed in must be near it: tests pass one to see exactly the days and
    timeouts the tick saw."""
    now = now or utc_now()
    try:
        with store.session("sensor new_cascade_sessions", timeout=STORE_WAIT_SECONDS) as session:
            # Raises (a failed tick, shown in the UI) on drift: requesting runs that can
            # only fail deep inside a query would hide the cause.
            check_source_schema(session)
            findings = find_days_to_analyse(session, SensorCursor.parse(context.cursor), now)
    except StoreBusyError as exc:
        return SensorResult(skip_reason=SkipReason(f"store busy, retrying next tick: {exc}"))
    if not findings.days:
        return SensorResult(
            skip_reason=SkipReason("no new finished runs and no changed recent days"),
            cursor=findings.cursor.dump(),
        )
    for d, why in sorted(findings.days.items()):
        context.log.info(f"{d}: {why}")
    analysis = run_request_for(findings, now.date())
    refresh = [refresh_request_after(analysis)] if refreshed_after_runs else []
    return SensorResult(run_requests=[analysis, *refresh], cursor=findings.cursor.dump())


@sensor(
    name="new_cascade_sessions",
    target=[*per_run_assets, *refreshed_after_runs],
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    description=(
        "Requests the day partitions of runs that finished (or were abandoned) since the "
        "last tick, and of recent days whose source rows changed after analysis."
    ),
)
def new_cascade_sessions(context: SensorEvaluationContext, store: ClickHouseStore) -> SensorResult:
    return evaluate_tick(context, store)
