"""The look-back population of baselines and regression windows.

A day's baselines compare each run with every earlier run, whatever day it is in, so the
earlier days' session_facts and input_clusters must exist. Both are pure functions of the
source data, so when an earlier day is missing (days materialized out of order, or a first
run on a range in the middle), it is built here first and recorded as a materialization of
those assets. That keeps results identical whatever order days are materialized in.
"""

from __future__ import annotations

from datetime import date

from dagster import AssetExecutionContext, AssetMaterialization, MaterializeResult

from rvbbit_assets.assets.input_clusters import build_input_clusters
from rvbbit_assets.assets.per_run import StageBuilder, day_range, run_stage
from rvbbit_assets.assets.session_facts import build_session_facts
from rvbbit_assets.config import Settings
from rvbbit_assets.day_partitions import DayRange, load_sql
from rvbbit_assets.store import ClickHouseStore, StoreSession


def with_history(stage_sql: str) -> str:
    """A stage query that reads from the `history` population of analysed runs."""
    return f"WITH history AS ({load_sql(__file__, 'history')})\n{stage_sql}"


def _materialized_days(session: StoreSession, table: str) -> set[date]:
    return {
        date(int(pid[:4]), int(pid[4:6]), int(pid[6:]))
        for (pid,) in session.rows(
            "SELECT DISTINCT partition_id FROM system.parts"
            " WHERE database = {db:String} AND table = {t:String} AND active",
            {"db": session.analytics_database, "t": table},
        )
    }


def missing_history(session: StoreSession, days: DayRange) -> DayRange | None:
    """The span of earlier days that have runs in the source but were never analysed."""
    source_days = {
        day
        for (day,) in session.rows(
            "SELECT DISTINCT toDate(created_at) FROM ${source}.cascade_sessions"
            " WHERE created_at >= {first:DateTime} AND created_at < {start:DateTime}",
            {"first": DayRange(Settings.from_env().partitions_start, days.first).start,
             "start": days.start},
        )
    }
    analysed = _materialized_days(session, "session_facts") & _materialized_days(
        session, "input_clusters"
    )
    missing = sorted(source_days - analysed)
    return DayRange(missing[0], missing[-1]) if missing else None


def ensure_history(
    context: AssetExecutionContext, session: StoreSession, days: DayRange
) -> DayRange | None:
    """Build the per-run facts of any earlier day not analysed yet; return that span."""
    missing = missing_history(session, days)
    if missing is None:
        return None
    context.log.info(f"earlier days {missing} were not analysed yet: building their facts first")
    for build, asset_name in (
        (build_session_facts, "session_facts"),
        (build_input_clusters, "input_clusters"),
    ):
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
    context: AssetExecutionContext, store: ClickHouseStore, build: StageBuilder
) -> MaterializeResult:
    """`run_stage` for a stage that looks back over earlier days: complete them first."""
    days = day_range(context)
    with store.session(f"history check {days} (run {context.run.run_id[:8]})") as session:
        ensure_history(context, session, days)
    return run_stage(context, store, build)
