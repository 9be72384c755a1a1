"""The stored Pareto frontier rows (the pareto_frontier table), significant first."""

from __future__ import annotations

from typing import Any

from rvbbit_assets.store import StoreSession
from rvbbit_assets.store.sql_files import load_sql

FRONTIER_ROW_COLUMNS = (
    "species_hash", "cascade_id", "cell_name", "model", "take_count", "run_count", "avg_cost",
    "win_rate", "quality_metric", "avg_quality", "models_compared", "is_pareto", "significant",
    "is_pareto_among_significant", "recommended_model", "cost_saving", "recommendation",
)


def frontier_rows(
    session: StoreSession, cascade_id: str | None, advised_only: bool, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """Stored frontier rows (one cascade's, or all when `cascade_id` is None), significant
    first, at most `limit`; and how many rows match in all."""
    rows = session.rows(
        load_sql(__file__, "frontier_rows"),
        {"cascade_id": cascade_id, "advised_only": advised_only, "limit": limit},
    )
    total = int(rows[0][-1]) if rows else 0  # total_rows, the last column
    records = [dict(zip(FRONTIER_ROW_COLUMNS, row[:-1], strict=True)) for row in rows]
    return [
        {
            **{c: record[c] for c in ("species_hash", "cascade_id", "cell_name", "model",
                                      "quality_metric", "recommended_model", "recommendation")},
            **{c: int(record[c]) for c in ("take_count", "run_count", "models_compared")},
            **{c: float(record[c]) for c in ("avg_cost", "win_rate", "avg_quality")},
            "cost_saving": None if record["cost_saving"] is None else float(record["cost_saving"]),
            **{c: bool(record[c]) for c in ("is_pareto", "significant",
                                            "is_pareto_among_significant")},
        }
        for record in records
    ], total
