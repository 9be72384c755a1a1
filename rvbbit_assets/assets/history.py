"""The look-back population of baselines and regression windows.

A day's baselines compare each run with every earlier run, whatever day it is in, so the
earlier days of the stages a stage reads (session_facts and input_clusters, and for the
recommended detection priced_runs, baselines and anomaly_scores) must exist. Each is a
function of the source data and of earlier days only, so when an earlier day is missing
(days materialized out of order, or a first run on a range in the middle), those stages are
built for it here first, in pipeline order, and recorded as materializations of their
assets. That keeps results identical whatever order days are materialized in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from dagster import AssetExecutionContext, AssetMaterialization, MaterializeResult

from rvbbit_assets.assets.input_clusters import build_input_clusters
from rvbbit_assets.assets.per_run import StageBuilder, day_range, run_stage
from rvbbit_assets.assets.session_facts import build_session_facts
from rvbbit_assets.day_partitions import DayRange, load_sql, render_sql_template
from rvbbit_assets.store import ClickHouseStore, StoreSession


def with_history(stage_sql: str) -> str:
    """A stage query that reads from the `history` population of analysed runs."""
    return f"WITH history AS ({load_sql(__file__, 'history')})\n{stage_sql}"


def design_beside_ours(module_file: str, design: str, ours: str) -> str:
    """The design's columns (`design`.sql) and ours (the `ours` template) per run, over the
    `history` population: one query, so both see the same runs."""
    return with_history(
        "SELECT design.*, ours.* EXCEPT (session_id)\n"
        f"FROM ({load_sql(module_file, design)}) AS design\n"
        f"LEFT JOIN ({render_sql_template(module_file, ours)}) AS ours"
        " ON ours.session_id = design.session_id"
    )


def _materialized_days(session: StoreSession, table: str) -> set[date]:
    return {
        date(int(pid[:4]), int(pid[4:6]), int(pid[6:]))
        for (pid,) in session.rows(
            "SELECT DISTINCT partition_id FROM system.parts"
            " WHERE database = {db:String} AND table = {t:String} AND active",
            {"db": session.analytics_database, "t": table},
        )
    }


# (builder, asset name) of each earlier-day stage a stage reads, in pipeline order.
HistoryStages = Sequence[tuple[StageBuilder, str]]
# What every history reader needs: the facts and input clusters of the earlier runs.
FACTS_HISTORY: HistoryStages = (
    (build_session_facts, "session_facts"),
    (build_input_clusters, "input_clusters"),
)


def missing_history(
    session: StoreSession, days: DayRange, stages: HistoryStages
) -> DayRange | None:
    """The span of earlier days that have runs in the source but lack one of the stages."""
    source_days = {
        day
        for (day,) in session.rows(
            "SELECT DISTINCT toDate(created_at) FROM ${source}.cascade_sessions"
            " WHERE created_at >= {first:DateTime} AND created_at < {start:DateTime}",
            {"first": DayRange(session.settings.partitions_start, days.first).start,
             "start": days.start},
        )
    }
    analysed = set.intersection(*(_materialized_days(session, name) for _, name in stages))
    missing = sorted(source_days - analysed)
    return DayRange(missing[0], missing[-1]) if missing else None


def ensure_history(
    context: AssetExecutionContext,
    session: StoreSession,
    days: DayRange,
    stages: HistoryStages,
) -> DayRange | None:
    """Build the stages of any earlier day not analysed yet; return that span."""
    missing = missing_history(session, days, stages)
    if missing is None:
        return None
    context.log.info(f"earlier days {missing} were not analysed yet: building their facts first")
    for build, asset_name in stages:
        summary = build(session, missing)
        for day in missing.days:
            context.log_event(
                AssetMaterialization(
                    asset_key=asset_name,
                    partition=day.isoformat(),
                    description=f"built as history for {days}",
                    metadata={"built_for": str(days), "span_rows": summary["dagster/row_count"]},
                )
            )
    return missing


def run_stage_over_history(
    context: AssetExecutionContext,
    store: ClickHouseStore,
    build: StageBuilder,
    history: HistoryStages,
) -> MaterializeResult:
    """`run_stage` for a stage that reads the `history` stages of earlier days: complete
    those days first."""
    days = day_range(context)
    with store.session(f"history check {days} (run {context.run.run_id[:8]})") as session:
        ensure_history(context, session, days, history)
    return run_stage(context, store, build)
