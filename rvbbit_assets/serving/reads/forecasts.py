"""The stored forecast of a series (the forecasts asset's `forecasts` and `forecast_weekly`)."""

from __future__ import annotations

from typing import Any

from rvbbit_assets.analysis.forecasting import FORECAST_COLUMNS, TOTAL
from rvbbit_assets.store import StoreSession


def weekly_projection(
    session: StoreSession, cascade_id: str = TOTAL
) -> tuple[float, float] | None:
    """The projected cost of the 7 forecast days and the ± of its COVERAGE interval, or None
    when the cascade has no forecast. '*' is all cascades together."""
    rows = session.rows(
        "SELECT projected_cost, plus_minus FROM ${analytics}.forecast_weekly"
        " WHERE cascade_id = {cascade_id:String} LIMIT 1",
        {"cascade_id": cascade_id},
    )
    return (float(rows[0][0]), float(rows[0][1])) if rows else None


def forecast_rows(session: StoreSession, cascade_id: str = TOTAL) -> list[dict[str, Any]]:
    """The stored daily forecast of a cascade ('*' for the total), by day; [] if none."""
    rows = session.rows(
        f"SELECT {', '.join(FORECAST_COLUMNS)} FROM ${{analytics}}.forecasts"
        " WHERE cascade_id = {cascade_id:String} ORDER BY day",
        {"cascade_id": cascade_id},
    )
    return [dict(zip(FORECAST_COLUMNS, row, strict=True)) for row in rows]
