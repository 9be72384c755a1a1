"""Column schemas of the analytics tables for the Dagster UI, read from the migrations.

The migrations are the one definition of each table; their DDL (ddl.py) gives the UI
its `dagster/column_schema` without opening the store at import time.
"""

from __future__ import annotations

from functools import cache

from dagster import TableColumn, TableSchema

from rvbbit_assets.store.ddl import table_definitions


@cache
def _analytics_tables() -> dict[str, TableSchema]:
    return {
        name: TableSchema(columns=[TableColumn(c.name, c.type, c.description) for c in columns])
        for name, columns in table_definitions("analytics").items()
    }


def column_schema(table: str) -> TableSchema | None:
    return _analytics_tables().get(table)


def table_metadata(table: str, also_writes: tuple[str, ...] = ()) -> dict:
    """Definition metadata of an asset stored in `table`: its column schema, and "tables":
    every analytics table it writes (`table` and `also_writes`), so the UI shows them all."""
    schema = column_schema(table)
    if schema is None:
        return {}
    written = ", ".join(f"analytics.{name}" for name in (table, *also_writes))
    return {"dagster/column_schema": schema, "table": f"analytics.{table}", "tables": written}
