"""cell_analytics: which cell made a run expensive, slow or verbose.

Per analysed run and cell (RVBBIT kept a per-cell table too): the cell's cost, wall-clock
duration and tokens, its species' baseline over strictly earlier runs (average, population
stddev, run count), z-scores against it, and the cell's share of the run's cost.
"""

import math
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue

from rvbbit_assets.assets.history import FACTS_HISTORY, run_stage_over_history
from rvbbit_assets.assets.per_run import StageSummary, per_run_asset
from rvbbit_assets.assets.session_facts import session_facts
from rvbbit_assets.assets.sources import unified_logs
from rvbbit_assets.day_partitions import DayRange, load_sql, replace_days
from rvbbit_assets.store import ClickHouseStore, StoreSession

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

_BREAKDOWN_SQL = """
SELECT *
FROM ${analytics}.cell_analytics
WHERE session_id = {session_id:String}
ORDER BY started_at, cell_name
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
    rows = replace_days(
        session, "cell_analytics", load_sql(__file__, "cell_analytics"), days.params(), days
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


def _number(value: Any) -> float | int | None:
    """A plain JSON-ready number (NaN and missing values become None)."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def cell_breakdown(session: StoreSession, session_id: str) -> list[dict[str, Any]]:
    """The cells of one analysed run in execution order, for the API's session route.

    Empty when the run has not been analysed (or logged no cell). Each cell:
    `{"cell_name", "species_hash", "started_at", "cost", "duration_ms", "tokens_in",
    "tokens_out", "total_tokens", "message_count", "error_count", "cost_share",
    "baseline": {"run_count", "avg_cost", "stddev_cost", "avg_duration",
    "stddev_duration", "avg_tokens", "stddev_tokens"},
    "z_scores": {"cost", "duration", "tokens"}}`.
    """
    frame = session.df(_BREAKDOWN_SQL, {"session_id": session_id})
    cells: list[dict[str, Any]] = []
    for cell in frame.to_dict("records"):
        species = cell["species_hash"]
        cells.append(
            {
                "cell_name": cell["cell_name"],
                "species_hash": None if species is None or species is pd.NA else str(species),
                "started_at": pd.Timestamp(cell["started_at"]).isoformat(),
                "cost": _number(cell["cost"]),
                "duration_ms": _number(cell["duration_ms"]),
                "tokens_in": _number(cell["tokens_in"]),
                "tokens_out": _number(cell["tokens_out"]),
                "total_tokens": _number(cell["total_tokens"]),
                "message_count": _number(cell["message_count"]),
                "error_count": _number(cell["error_count"]),
                "cost_share": _number(cell["cost_share"]),
                "baseline": {
                    "run_count": _number(cell["species_run_count"]),
                    "avg_cost": _number(cell["species_avg_cost"]),
                    "stddev_cost": _number(cell["species_stddev_cost"]),
                    "avg_duration": _number(cell["species_avg_duration"]),
                    "stddev_duration": _number(cell["species_stddev_duration"]),
                    "avg_tokens": _number(cell["species_avg_tokens"]),
                    "stddev_tokens": _number(cell["species_stddev_tokens"]),
                },
                "z_scores": {
                    "cost": _number(cell["cost_z_score"]),
                    "duration": _number(cell["duration_z_score"]),
                    "tokens": _number(cell["tokens_z_score"]),
                },
            }
        )
    return cells


@per_run_asset(
    # The cells are read from the source logs of the runs session_facts analysed.
    deps=[session_facts, unified_logs],
    description=(
        "Per run and cell: cost, wall-clock duration and tokens against the same species' "
        "cells in strictly earlier runs (average, population stddev, run count), z-scores "
        "(0 when the stddev is 0), and the cell's share of the run's cost."
    ),
)
def cell_analytics(context: AssetExecutionContext, store: ClickHouseStore) -> MaterializeResult:
    return run_stage_over_history(context, store, build_cell_analytics, FACTS_HISTORY)
