"""How the sensor's earlier runs ended: the days of a failed or cancelled run are owed.

Each tick reads the runs this sensor launched that finished since the last tick. A failed
or cancelled run's days stay owed until a later successful run covers them; meanwhile the
sensor requests them again after a backoff that doubles with each failure in a row, up to
16 times RVBBIT_SENSOR_RETRY_SECONDS (30 s, so at most 8 minutes between attempts).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime

from dagster import DagsterInstance, DagsterRunStatus, RunRecord, RunsFilter

from rvbbit_assets.config import setting
from rvbbit_assets.orchestration.day_range import RANGE_END_TAG, RANGE_START_TAG, DayRange
from rvbbit_assets.orchestration.run_exclusion import SENSOR_NAME_TAG

MAX_BACKOFF_FACTOR = 16
FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]
RUNS_READ_PER_TICK = 100


def retry_delay_seconds(failures_in_a_row: int) -> float:
    base = setting("RVBBIT_SENSOR_RETRY_SECONDS")
    return base * min(2 ** (failures_in_a_row - 1), MAX_BACKOFF_FACTOR)


@dataclass(frozen=True)
class Owed:
    """The days of failed runs not analysed since, and why else they are wanted."""

    first: str  # ISO days
    last: str
    failures: int  # in a row
    run_id: str  # the latest failed run
    status: str  # FAILURE or CANCELED
    failed_at: float  # Unix time it ended
    # Days found while waiting for the retry (day -> why), requested with it.
    deferred: dict[str, str] = field(default_factory=dict)

    @property
    def days(self) -> DayRange:
        return DayRange(date.fromisoformat(self.first), date.fromisoformat(self.last))

    @property
    def retry_at(self) -> float:
        return self.failed_at + retry_delay_seconds(self.failures)

    @property
    def reason(self) -> str:
        ended = "cancelled" if self.status == DagsterRunStatus.CANCELED.value else "failed"
        return f"retry of {ended} run {self.run_id[:8]} (failure {self.failures} in a row)"

    def deferring(self, found: dict[date, str]) -> Owed:
        deferred = {**{d.isoformat(): why for d, why in found.items()}, **self.deferred}
        return Owed(**{**asdict(self), "deferred": deferred})

    def to_dict(self) -> dict:
        return asdict(self)


def run_days(record: RunRecord) -> DayRange | None:
    tags = record.dagster_run.tags
    if RANGE_START_TAG not in tags or RANGE_END_TAG not in tags:
        return None
    return DayRange(date.fromisoformat(tags[RANGE_START_TAG]),
                    date.fromisoformat(tags[RANGE_END_TAG]))


def finished_runs(
    instance: DagsterInstance, sensor_name: str, since: float | None
) -> list[RunRecord]:
    """This sensor's runs that finished after `since` (an update time), oldest first."""
    updated_after = datetime.fromtimestamp(since, UTC) if since is not None else None
    return list(instance.get_run_records(
        RunsFilter(tags={SENSOR_NAME_TAG: sensor_name}, statuses=FINISHED,
                   updated_after=updated_after),
        limit=RUNS_READ_PER_TICK, order_by="update_timestamp", ascending=True,
    ))


@dataclass(frozen=True)
class Analysed:
    """The days of this sensor's latest successful run, and when it ended."""

    first: str
    last: str
    ended_at: float

    def covers(self, day: date) -> bool:
        return self.first <= day.isoformat() <= self.last


@dataclass(frozen=True)
class Outcomes:
    owed: Owed | None = None
    analysed: Analysed | None = None


def settle(outcomes: Outcomes, records: list[RunRecord]) -> Outcomes:
    """What is owed, and what was last analysed, after these runs (in the order they ended)."""
    owed, analysed = outcomes.owed, outcomes.analysed
    for record in records:
        days = run_days(record)
        if days is None:
            continue
        run = record.dagster_run
        ended_at = record.end_time or record.update_timestamp.timestamp()
        if run.status == DagsterRunStatus.SUCCESS:
            analysed = Analysed(days.first.isoformat(), days.last.isoformat(), ended_at)
            if owed is not None and days.first <= owed.days.first and days.last >= owed.days.last:
                owed = None  # a later run analysed those days and every day after them
            continue
        first, last = days.first, days.last
        if owed is not None:
            first, last = min(first, owed.days.first), max(last, owed.days.last)
        owed = Owed(
            first=first.isoformat(),
            last=last.isoformat(),
            failures=(owed.failures if owed else 0) + 1,
            run_id=run.run_id,
            status=run.status.value,
            failed_at=ended_at,
        )
    return Outcomes(owed, analysed)
