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
from rvbbit_assets.orchestration.day_range import DayRange
from rvbbit_assets.orchestration.partitions import daily_partitions
from rvbbit_assets.store import ClickHouseStore, StoreSession
from rvbbit_assets.store.column_schemas import table_metadata

# The tables that stages reading earlier days read those days of: the history population
# (history.sql), the usual-price costs baselines compare, the anomalies regressions leave out.
HISTORY_TABLES = ("session_facts", "input_clusters", "priced_runs", "anomaly_scores")
with warnings.catch_warnings():
    # Days before the partitions start do not exist: they are read as no runs.
    warnings.simplefilter("ignore", BetaWarning)
    EVERY_DAY_UP_TO = TimeWindowPartitionMapping(
        start_offset=-36_500, end_offset=0, allow_nonexistent_upstream_partitions=True
    )

StageSummary = Mapping[str, Any]
StageBuilder = Callable[[StoreSession, DayRange], StageSummary]


def per_run_asset(
    table: str | None = None, also_writes: tuple[str, ...] = (), **kwargs: Any
) -> Callable[[Callable], AssetsDefinition]:
    """`@asset` for a stage partitioned by day; a range of days runs as one run.

    The stage writes the analytics table of its own name unless `table` says otherwise,
    and the tables `also_writes` names (declared in its metadata).
    """

    def decorate(fn: Callable) -> AssetsDefinition:
        kwargs.setdefault("metadata", table_metadata(table or fn.__name__, also_writes))
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
    """The stage, declaring that each day reads the history (session_facts, input_clusters)
    of that day and of every earlier day, not of that day only.

    So rewriting an earlier day's facts makes every later day of the stage depend on changed
    data, and the UI shows the mapping. (A self-dependency, day D on day D-1, would say the
    same, but Dagster then runs the stage in a backfill run of its own: a backfill from the
    asset graph would no longer be one run.) The stage also reads cascade_sessions itself,
    to find earlier days not analysed yet (history.py).
    """

    def declare(spec: AssetSpec) -> AssetSpec:
        deps = [
            AssetDep(dep.asset_key, partition_mapping=EVERY_DAY_UP_TO)
            if dep.asset_key.to_user_string() in HISTORY_TABLES else dep
            for dep in spec.deps
        ]
        return spec.replace_attributes(deps=[*deps, cascade_sessions])

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
