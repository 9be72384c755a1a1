"""cell_analytics: which cell made a run expensive, slow or verbose.

Per analysed run and cell (RVBBIT kept a per-cell table too): the cell's cost, wall-clock
duration and tokens, its species' baseline over strictly earlier runs (average, population
stddev, run count), z-scores against it, and the cell's share of the run's cost.
"""

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue

from rvbbit_assets.assets.history import run_stage_over_history
from rvbbit_assets.assets.per_run import StageSummary, per_run_asset
from rvbbit_assets.assets.session_facts import session_facts
from rvbbit_assets.assets.sources import unified_logs
from rvbbit_assets.orchestration.day_range import DayRange
from rvbbit_assets.store import ClickHouseStore, StoreSession
from rvbbit_assets.store.sql_files import load_sql, render_sql_template
from rvbbit_assets.store.table_writes import replace_days

# |z| above this makes a cell stand out in the summary (the design's outlier threshold).
OUTLIER_Z_SCORE = 2.0
TOP_ROWS_SHOWN = 10

_TOP_CELLS_SQL = """
SELECT session_id, cell_name, cost, species_avg_cost, species_run_count, cost_z_score,
       cost_share
FROM ${analytics}.cell_analytics
WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime} AND cost_z_score > 0
ORDER BY cost_z_score DESC, session_id, cell_name
LIMIT {limit:UInt32}
"""


def top_cells_markdown(top: pd.DataFrame) -> str:
    """The cells of the days furthest above their species' cost, as a markdown table."""
    if top.empty:
        return "No cell cost more than its species' earlier runs."
    return pd.DataFrame(
        {
            "session": top["session_id"],
            "cell": top["cell_name"],
            "cost": top["cost"].map("${:.5f}".format),
            "species avg": top["species_avg_cost"].map("${:.5f}".format),
            "earlier runs": top["species_run_count"],
            "cost z": top["cost_z_score"].map("{:.1f}".format),
            "share of run": top["cost_share"].map("{:.0%}".format),
        }
    ).to_markdown(index=False)


def build_cell_analytics(session: StoreSession, days: DayRange) -> StageSummary:
    log_days = [day for (day,) in session.rows(load_sql(__file__, "cell_log_days"), days.params())]
    rows = replace_days(
        session, "cell_analytics", render_sql_template(__file__, "cell_analytics"),
        {**days.params(), "log_days": log_days}, days,
    )
    (runs, with_history, outliers), = session.rows(
        "SELECT uniqExact(session_id), countIf(species_run_count > 0),"
        " countIf(abs(cost_z_score) > {z:Float64}) FROM ${analytics}.cell_analytics"
        " WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}",
        {**days.params(), "z": OUTLIER_Z_SCORE},
    )
    top = session.df(_TOP_CELLS_SQL, {**days.params(), "limit": TOP_ROWS_SHOWN})
    return {
        "dagster/row_count": rows,
        "runs": runs,
        "cells_with_species_history": with_history,
        "cell_cost_outliers": outliers,
        "top_cells_by_cost_z": MetadataValue.md(top_cells_markdown(top)),
    }


@per_run_asset(
    # The cells are read from the source logs of the runs session_facts analysed; earlier
    # days' cells from this table.
    deps=[session_facts, unified_logs],
    description=(
        "Per run and cell: cost, wall-clock duration and tokens against the same species' "
        "cells in strictly earlier runs (average, population stddev, run count), z-scores "
        "(0 when the stddev is 0), and the cell's share of the run's cost."
    ),
)
def cell_analytics(context: AssetExecutionContext, store: ClickHouseStore) -> MaterializeResult:
    return run_stage_over_history(context, store, build_cell_analytics)
