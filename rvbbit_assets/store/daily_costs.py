"""Spend per cascade and UTC day, read from cascade_analytics: what the forecasts asset fits
and what the page's forecast chart draws before the forecast (the same days, the same sums)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd

from rvbbit_assets.store.resource import StoreSession
from rvbbit_assets.store.sql_files import render_sql_template


def daily_costs(session: StoreSession, first_day: date, last_day: date) -> pd.DataFrame:
    """Cost per cascade and day over [first_day, last_day] (days with runs only)."""
    return session.df(
        render_sql_template(__file__, "daily_costs"),
        {
            "start": datetime.combine(first_day, datetime.min.time()),
            "end": datetime.combine(last_day + timedelta(days=1), datetime.min.time()),
        },
    )
