"""Headless analysis: every finished run of a span of days as one single-run backfill."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from dagster import DagsterInstance, materialize

from rvbbit_assets.assets.pipeline import per_run_assets, refreshed_after_runs, store_asset_keys
from rvbbit_assets.checks import pipeline_checks
from rvbbit_assets.config import Settings
from rvbbit_assets.day_partitions import RANGE_END_TAG, RANGE_START_TAG, DayRange, utc_now
from rvbbit_assets.run_exclusion import ensure_store_pool, wait_for_store_runs
from rvbbit_assets.source_schema import check_source_schema
from rvbbit_assets.store import ClickHouseStore


@dataclass(frozen=True)
class MaterializeOutcome:
    days: DayRange | None
    success: bool
    run_id: str | None
    runs_before_partitions_start: int
    analysed_runs: int
    cost_outliers: int
    regressions: int

    def summary(self) -> str:
        if self.days is None:
            return "No runs to analyse in the source tables."
        lines = [
            f"Analysed days {self.days} in Dagster run {self.run_id}: "
            f"{'succeeded' if self.success else 'FAILED'}",
            f"  runs in cascade_analytics for those days: {self.analysed_runs}",
            f"  cost outliers: {self.cost_outliers}   regressions: {self.regressions}",
        ]
        if self.runs_before_partitions_start:
            lines.append(
                f"  left out: {self.runs_before_partitions_start} runs started before "
                "RVBBIT_PARTITIONS_START"
            )
        return "\n".join(lines)


def source_day_span(store: ClickHouseStore) -> tuple[DayRange | None, int]:
    """The days that have runs (from the partitions start to today) and the runs before it."""
    settings = store.settings()
    with store.session("materialize: find days") as session:
        # A drifted source table fails here, naming its columns, not deep inside the run.
        check_source_schema(session)
        (first, last, before), = session.rows(
            "SELECT minIf(created_at, created_at >= {start:DateTime}),"
            " maxIf(created_at, created_at >= {start:DateTime}),"
            " countIf(created_at < {start:DateTime}) FROM ${source}.cascade_sessions",
            {"start": DayRange(settings.partitions_start, settings.partitions_start).start},
        )
    if before == 0 and (first is None or first.year < 2000):
        return None, 0
    span = DayRange(first.date(), min(last.date(), utc_now().date()))
    return (span if span.first <= span.last else None), before


def dagster_instance() -> DagsterInstance:
    """The instance of DAGSTER_HOME (created when missing), or a temporary one when it is unset."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return DagsterInstance.ephemeral()
    Path(home).mkdir(parents=True, exist_ok=True)
    return DagsterInstance.get()


def materialize_days(
    start: date | None = None,
    end: date | None = None,
    store: ClickHouseStore | None = None,
    instance: DagsterInstance | None = None,
    refresh_downstream: bool = True,
) -> MaterializeOutcome:
    store = store or ClickHouseStore()
    settings: Settings = store.settings()
    instance = instance or dagster_instance()
    # One run writes the store at a time: wait for a sensor's (or the UI's) run to finish.
    ensure_store_pool(instance)
    wait_for_store_runs(instance, store_asset_keys, settings.lock_timeout_seconds)
    found, before = source_day_span(store)
    first = max(start or (found.first if found else settings.partitions_start),
                settings.partitions_start)
    last = end or (found.last if found else utc_now().date())
    if found is None and start is None:
        return MaterializeOutcome(None, True, None, before, 0, 0, 0)
    days = DayRange(first, last)
    # The steps run in this process, one after another: holding the store for the whole
    # run lets them share one open engine (opening chDB costs more as the store grows).
    with store.session(f"rvbbit-analytics materialize {days}") as session:
        result = materialize(
            [*per_run_assets, *pipeline_checks],  # blocking checks stop a bad day early
            resources={"store": store},
            instance=instance,
            tags={RANGE_START_TAG: days.first.isoformat(), RANGE_END_TAG: days.last.isoformat()},
            raise_on_error=False,
        )
        if result.success and refresh_downstream and refreshed_after_runs:
            result = materialize(
                refreshed_after_runs,
                resources={"store": store},
                instance=instance,
                raise_on_error=False,
            )
        (analysed, outliers, regressions), = session.rows(
            "SELECT count(), countIf(is_cost_outlier), countIf(is_regression)"
            " FROM ${analytics}.cascade_analytics"
            " WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}",
            days.params(),
        )
    return MaterializeOutcome(
        days, result.success, result.run_id, before, analysed, outliers, regressions
    )
