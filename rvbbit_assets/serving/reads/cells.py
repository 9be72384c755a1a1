"""One run's cells against their species' earlier runs (the cell_analytics table)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from rvbbit_assets.store import StoreSession

_BREAKDOWN_SQL = """
SELECT *
FROM ${analytics}.cell_analytics
WHERE session_id = {session_id:String}
ORDER BY started_at, cell_name
"""


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
