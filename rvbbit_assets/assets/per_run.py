"""What every per-run stage shares: partitions, backfill policy, and how a stage runs."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    BetaWarning,
    MaterializeResult,
    MetadataValue,
    asset,
)

from rvbbit_assets.assets.groups import PER_RUN_GROUP
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
            return asset(
                partitions_def=daily_partitions,
                backfill_policy=BackfillPolicy.single_run(),
                **{"group_name": PER_RUN_GROUP, "kinds": {"clickhouse"}, **kwargs},
            )(fn)

    return decorate


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
