"""Writes of analytics tables: whole days swapped in atomically from a staging copy, or a
whole unpartitioned table replaced; every day written is recorded in `day_writes`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

import pandas as pd

from rvbbit_assets.orchestration.day_range import DayRange
from rvbbit_assets.store.cluster_ddl import staging_engine_clause
from rvbbit_assets.store.resource import StoreSession


def table_columns(session: StoreSession, table: str) -> list[str]:
    return [
        row[0]
        for row in session.rows(
            "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String}"
            " ORDER BY position",
            {"db": session.analytics_database, "t": table},
        )
    ]


@contextmanager
def staging_copy(session: StoreSession, table: str) -> Iterator[str]:
    """An empty, uniquely named copy of an analytics table, dropped afterwards.

    In cluster mode the copy is local to this node, not replicated (cluster.py says why).
    """
    staging = f"`{table}__staging_{uuid.uuid4().hex[:12]}`"
    engine = staging_engine_clause(session, table)
    session.command(f"CREATE TABLE ${{analytics}}.{staging} AS ${{analytics}}.`{table}`{engine}")
    try:
        yield staging
    finally:
        # SYNC: a staging table leaves nothing behind for the engine to load later.
        session.command(f"DROP TABLE IF EXISTS ${{analytics}}.{staging} SYNC")


def replace_days(
    session: StoreSession,
    table: str,
    select_sql: str,
    params: dict[str, Any],
    days: DayRange,
    chunks: list[DayRange] | None = None,
    shares: Sequence[dict[str, Any]] = ({},),
) -> int:
    """Rewrite the given days of an analytics table with the rows of `select_sql`.

    The SELECT's columns are matched to the table's by name. Returns the rows written.
    With `chunks` (sub-ranges of `days`), the SELECT runs once per chunk, its `start`/`end`
    bound to the chunk's, for a stage whose memory grows with the runs it computes; with
    `shares` (parameters that each select a disjoint part of the rows, together all of
    them), once per share of each chunk. The days are still swapped in only once every
    chunk is staged.
    """
    columns = ", ".join(f"`{c}`" for c in table_columns(session, table))
    with staging_copy(session, table) as staging:
        for chunk in chunks or [days]:
            for share in shares:
                session.command(
                    f"INSERT INTO ${{analytics}}.{staging} ({columns}) "
                    f"SELECT {columns} FROM ({select_sql})",
                    {**params, **share, **chunk.params()},
                )
        return _swap_days_in(session, table, staging, days.days)


def replace_days_with_frame(
    session: StoreSession, table: str, frame: pd.DataFrame, days: DayRange
) -> int:
    """Rewrite the given days of an analytics table with rows computed in Python."""
    with staging_copy(session, table) as staging:
        if not frame.empty:
            session.insert_df(staging.strip("`"), frame)
        return _swap_days_in(session, table, staging, days.days)


def replace_listed_days(
    session: StoreSession, table: str, select_sql: str, params: dict[str, Any],
    days: Sequence[date],
) -> int:
    """Rewrite the given days, not necessarily consecutive, of an analytics table
    partitioned by its `day` column with the rows of `select_sql` (which reads them as
    `days`). Returns the rows written."""
    if not days:
        return 0
    columns = ", ".join(f"`{c}`" for c in table_columns(session, table))
    with staging_copy(session, table) as staging:
        session.command(
            f"INSERT INTO ${{analytics}}.{staging} ({columns}) "
            f"SELECT {columns} FROM ({select_sql})",
            {**params, "days": list(days)},
        )
        return _swap_days_in(session, table, staging, days, day_column="day")


# Days swapped per ALTER statement: one statement, not one per day, saves a round trip per
# day (600 statements for ten stages over 60 days); the bound keeps statements short.
_DAYS_PER_ALTER = 100


def _swap_days_in(
    session: StoreSession, table: str, staging: str, days: Sequence[date],
    day_column: str = "created_at",
) -> int:
    """Swap each day of `days` from the staging table into `table` (partitioned by the day
    of `day_column`).

    REPLACE PARTITION is atomic per day, so readers never see a half-written day; a day
    without staged rows is dropped (ClickHouse refuses to replace from an empty source).
    Each day's rewrite is recorded in `day_writes`, for the sensor's stale-day check.
    """
    written = {
        day: rows
        for day, rows in session.rows(
            f"SELECT toDate(`{day_column}`), count() FROM ${{analytics}}.{staging} GROUP BY 1"
        )
    }
    all_days = list(days)
    for start in range(0, len(all_days), _DAYS_PER_ALTER):
        batch = all_days[start : start + _DAYS_PER_ALTER]
        commands = ", ".join(
            f"REPLACE PARTITION ID {{p{i}:String}} FROM ${{analytics}}.{staging}"
            if day in written
            else f"DROP PARTITION ID {{p{i}:String}}"
            for i, day in enumerate(batch)
        )
        session.command(
            f"ALTER TABLE ${{analytics}}.`{table}` {commands}",
            {f"p{i}": day.strftime("%Y%m%d") for i, day in enumerate(batch)},
        )
    session.command(  # the store's clock: one clock, whichever process wrote the day
        "INSERT INTO ${analytics}.day_writes (stage, day, written_at)"
        " SELECT {stage:String}, arrayJoin({days:Array(Date)}), now64(6)",
        {"stage": table, "days": all_days},
    )
    wanted = set(all_days)
    return sum(rows for day, rows in written.items() if day in wanted)


def replace_table(session: StoreSession, table: str, frame: pd.DataFrame) -> int:
    """Replace every row of an unpartitioned analytics table with `frame`, atomically."""
    if frame.empty:
        session.command(f"ALTER TABLE ${{analytics}}.`{table}` DROP PARTITION tuple()")
        return 0
    with staging_copy(session, table) as staging:
        session.insert_df(staging.strip("`"), frame)
        session.command(
            f"ALTER TABLE ${{analytics}}.`{table}` REPLACE PARTITION tuple() "
            f"FROM ${{analytics}}.{staging}"
        )
    return len(frame)
