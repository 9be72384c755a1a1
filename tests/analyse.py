"""Run the real pipeline for tests: Dagster materializations on a temporary instance."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
from dagster import DagsterInstance
from pinned_dates import BASE_DAY

from rvbbit_assets.cli.materialize import materialize_days
from rvbbit_assets.store import ClickHouseStore


def day(offset: int) -> date:
    return BASE_DAY + timedelta(days=offset)


def at(offset_days: int, hour: int = 10, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day(offset_days), datetime.min.time()).replace(
        hour=hour, minute=minute, second=second
    )


def analyse(
    store: ClickHouseStore, first: date, last: date | None = None, refresh: bool = False
) -> None:
    """The per-run pipeline over [first, last]; `refresh` also runs the unpartitioned assets
    over all runs (forecasts, insights), as the CLI and the sensor do."""
    outcome = materialize_days(first, last or first, store=store,
                               instance=DagsterInstance.ephemeral(), refresh_downstream=refresh)
    assert outcome.success, outcome.summary()


def row_key(name: str) -> list[str]:
    """The columns that identify a row of an analytics table: a run, or a run's cell."""
    return ["session_id", "cell_name"] if name == "cell_analytics" else ["session_id"]


def table(store: ClickHouseStore, name: str, exclude: tuple[str, ...] = ()) -> pd.DataFrame:
    """A whole analytics table in its rows' key order, for exact comparisons."""
    with store.session("test read") as session:
        order = ", ".join(row_key(name))
        frame = session.df(f"SELECT * FROM ${{analytics}}.`{name}` ORDER BY {order}")
    # An empty result comes back without columns: nothing to exclude then.
    return frame.drop(columns=list(exclude), errors="ignore").reset_index(drop=True)


def row(store: ClickHouseStore, name: str, session_id: str) -> dict:
    with store.session("test read") as session:
        frame = session.df(
            f"SELECT * FROM ${{analytics}}.`{name}` WHERE session_id = {{sid:String}}",
            {"sid": session_id},
        )
    assert len(frame) == 1, f"{name} has {len(frame)} rows for {session_id!r}"
    return frame.iloc[0].to_dict()
