"""The days of the source that have runs, read before any asset is imported: the daily
partitions are defined from RVBBIT_PARTITIONS_START when the assets load."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from rvbbit_assets.orchestration.day_range import DayRange, utc_now
from rvbbit_assets.store.resource import ClickHouseStore
from rvbbit_assets.store.source_schema import check_source_schema


@dataclass(frozen=True)
class SourceSpan:
    """The days that have runs (from the partitions start to today), and what lies outside."""

    days: DayRange | None
    runs_before_partitions_start: int
    first_run_day: date | None


def source_day_span(store: ClickHouseStore) -> SourceSpan:
    settings = store.settings()
    with store.session("materialize: find days") as session:
        # A drifted source table fails here, naming its columns, not deep inside the run.
        check_source_schema(session)
        (first, last, before, earliest), = session.rows(
            "SELECT minIf(created_at, created_at >= {start:DateTime}),"
            " maxIf(created_at, created_at >= {start:DateTime}),"
            " countIf(created_at < {start:DateTime}), min(created_at)"
            " FROM ${source}.cascade_sessions",
            {"start": DayRange(settings.partitions_start, settings.partitions_start).start},
        )
    first_run_day = earliest.date() if earliest is not None and earliest.year >= 2000 else None
    if before == 0 and (first is None or first.year < 2000):
        return SourceSpan(None, 0, first_run_day)
    span = DayRange(first.date(), min(last.date(), utc_now().date()))
    return SourceSpan(span if span.first <= span.last else None, before, first_run_day)
