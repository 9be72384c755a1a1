"""What every per-run stage shares: partitions, backfill policy, and how a stage runs."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    BetaWarning,
    MaterializeResult,
    MetadataValue,
    TimeWindowPartitionMapping,
)

from rvbbit_assets.assets.groups import PER_RUN_GROUP
from rvbbit_assets.assets.sources import cascade_sessions
from rvbbit_assets.assets.store_asset import store_asset
from rvbbit_assets.column_schemas import table_metadata
from rvbbit_assets.day_partitions import DayRange
from rvbbit_assets.partitions import daily_partitions
from rvbbit_assets.store import ClickHouseStore, StoreSession

StageSummary = Mapping[str, Any]
StageBuilder = Callable[[StoreSession, DayRange], StageSummary]


def per_run_asset(
    table: str | None = None, **kwargs: Any
) -> Callable[[Callable], AssetsDefinition]:
    """`@asset` for a stage partitioned by day; a range of days runs as one run.

    The stage writes the analytics table of its own name unless `table` says otherwise.
    """

    def decorate(fn: Callable) -> AssetsDefinition:
        kwargs.setdefault("metadata", table_metadata(table or fn.__name__))
        with warnings.catch_warnings():
            # The single-run backfill policy is marked beta; it is what we rely on.
            warnings.simplefilter("ignore", BetaWarning)
            return store_asset(
                partitions_def=daily_partitions,
                backfill_policy=BackfillPolicy.single_run(),
                **{"group_name": PER_RUN_GROUP, "kinds": {"clickhouse"}, **kwargs},
            )(fn)

    return decorate


def reads_earlier_days(stage: AssetsDefinition) -> AssetsDefinition:
    """The stage, declaring that each day reads the facts of every earlier day.

    Day D depends on the stage's own day D-1 (which depends on D-2, and so on, and each on
    its day's facts), the way Dagster expresses a cumulative dependency: rewriting an
    earlier day's facts makes every later day of the stage stale, and the UI shows it. The
    stage also reads cascade_sessions itself, to find earlier days not analysed yet
    (history.py).
    """

    def declare(spec: AssetSpec) -> AssetSpec:
        day_before = TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)
        return spec.merge_attributes(
            deps=[AssetDep(spec.key, partition_mapping=day_before), cascade_sessions]
        )

    return stage.map_asset_specs(declare)


def day_range(context: AssetExecutionContext) -> DayRange:
    window = context.partition_time_window
    return DayRange.from_datetimes(window.start, window.end)


def run_stage(
    context: AssetExecutionContext,
    store: ClickHouseStore,
    build: StageBuilder,
) -> MaterializeResult:
    """Hold the store for one stage over the run's days and report its summary."""
    days = day_range(context)
    stage = f"{context.asset_key.to_user_string()} {days}"
    with store.session(f"{stage} (run {context.run.run_id[:8]})") as session:
        summary = dict(build(session, days))
    context.log.info(f"{stage}: {summary}")
    return MaterializeResult(metadata={"days": MetadataValue.text(str(days)), **summary})


def markdown_table(frame: pd.DataFrame, when_empty: str) -> MetadataValue:
    """A result table as markdown metadata, readable in the Dagster UI."""
    if frame.empty:
        return MetadataValue.md(when_empty)
    return MetadataValue.md(frame.to_markdown(index=False))
