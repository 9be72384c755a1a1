"""session_facts: the measured facts of every finished run, from the run's own log rows."""

from datetime import date, timedelta

from dagster import AssetExecutionContext, MaterializeResult

from rvbbit_assets.assets.per_run import StageSummary, per_run_asset, run_stage
from rvbbit_assets.assets.sources import cascade_sessions, prompt_lineage, unified_logs
from rvbbit_assets.config import Settings
from rvbbit_assets.orchestration.day_range import DayRange, utc_now
from rvbbit_assets.store import ClickHouseStore, StoreSession
from rvbbit_assets.store.source_schema import check_source_schema
from rvbbit_assets.store.sql_files import load_sql, render_sql_template
from rvbbit_assets.store.table_writes import replace_days

# A run's facts come from its own rows only, so whole days at a time give the same rows.
# This many runs per query bounds memory (~5 MB per 1,000 runs in one query: 5 GB for a
# million); each further query reads the logs again (~3 s of CPU at 8.7M log rows). The 1M
# bench's backfill in three queries: 2.8 GB peak, 17.3-19.1 s; in six, 1.8 GB, 19.2-20.1 s.
RUNS_PER_QUERY = 400_000


def abandoned_after(settings: Settings) -> timedelta:
    """A run with logs but no completion row for this long is analysed as abandoned."""
    return timedelta(hours=settings.abandoned_after_hours)


def source_runs_per_day(session: StoreSession, days: DayRange) -> dict[date, int]:
    return dict(session.rows(
        "SELECT toDate(created_at), count() FROM ${source}.cascade_sessions"
        " WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime} GROUP BY 1",
        days.params(),
    ))


def build_session_facts(session: StoreSession, days: DayRange) -> StageSummary:
    # With input_clusters, the stages that read RVBBIT's tables: however a run was launched
    # (UI, sensor, CLI), a drifted source column stops it here, named.
    check_source_schema(session)
    params = {**days.params(), "abandoned_before": utc_now() - abandoned_after(session.settings)}
    rows = replace_days(
        session, "session_facts", render_sql_template(__file__, "session_facts"), params, days,
        chunks=days.chunks(source_runs_per_day(session, days), RUNS_PER_QUERY),
    )
    (sessions, without_logs, still_going, orphans), = session.rows(
        load_sql(__file__, "source_problems"), params
    )
    by_status = dict(
        session.rows(
            "SELECT run_status, count() FROM ${analytics}.session_facts"
            " WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime} GROUP BY 1",
            params,
        )
    )
    return {
        "dagster/row_count": rows,
        "sessions_in_source": sessions,
        "completed": by_status.get("completed", 0),
        "ended_in_error": by_status.get("error", 0),
        "abandoned": by_status.get("abandoned", 0),
        "skipped_still_running": still_going,
        "skipped_sessions_without_logs": without_logs,
        "skipped_orphan_log_sessions": orphans,
    }


@per_run_asset(
    deps=[cascade_sessions, unified_logs, prompt_lineage],
    description=(
        "Facts of every finished run (completion row, or abandoned after a timeout): cost, "
        "wall-clock duration, tokens, cells, errors, takes, reforge depth, model mix, primary "
        "species, winner/loser costs, children, caller and origin."
    ),
)
def session_facts(context: AssetExecutionContext, store: ClickHouseStore) -> MaterializeResult:
    return run_stage(context, store, build_session_facts)
