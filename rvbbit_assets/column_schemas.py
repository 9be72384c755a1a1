"""Column schemas of the analytics tables for the Dagster UI, read from the migrations.

The migrations are the one definition of each table; parsing their CREATE TABLE bodies
gives the UI its `dagster/column_schema` without opening the store at import time.
"""

from __future__ import annotations

import re
from functools import cache

from dagster import TableColumn, TableSchema

from rvbbit_assets.schema import migrations

_CREATE = re.compile(
    r"CREATE TABLE IF NOT EXISTS \$\{analytics\}\.(\w+)\s*\((.*?)\n\)\s*\nENGINE", re.S
)
_COLUMN = re.compile(r"^\s{4}(\w+)\s+(.+?),?\s*(?:--\s*(.*))?$")
_ALTER = re.compile(r"ALTER TABLE \$\{analytics\}\.(\w+)\s+(.*?);", re.S)
# ADD COLUMN name type [DEFAULT value or (expression)] [COMMENT 'text'] AFTER column
_ADD_COLUMN = re.compile(
    r"ADD COLUMN IF NOT EXISTS (\w+) (.+?)(?:\s+DEFAULT (?:\([^)]*\)|\S+))?"
    r"(?:\s+COMMENT '([^']*)')?\s+AFTER (\w+)",
    re.S,
)
_COMMENT_COLUMN = re.compile(r"COMMENT COLUMN (\w+) '([^']*)'")


@cache
def _analytics_tables() -> dict[str, TableSchema]:
    tables: dict[str, TableSchema] = {}
    for migration in migrations("analytics"):
        for name, body in _CREATE.findall(migration.text):
            columns = []
            for line in body.splitlines():
                match = _COLUMN.match(line)
                if match and not line.strip().startswith(("INDEX", "--")):
                    column, column_type, comment = match.groups()
                    columns.append(TableColumn(column, column_type.rstrip(","), comment or None))
            tables[name] = TableSchema(columns=columns)
        for name, clauses in _ALTER.findall(migration.text):
            for column, column_type, comment, after in _ADD_COLUMN.findall(clauses):
                columns = list(tables[name].columns)
                position = next(i for i, c in enumerate(columns) if c.name == after) + 1
                columns.insert(position, TableColumn(column, column_type.strip(), comment or None))
                tables[name] = TableSchema(columns=columns)
            described = dict(_COMMENT_COLUMN.findall(clauses))
            if described:
                tables[name] = TableSchema(columns=[
                    TableColumn(c.name, c.type, described.get(c.name, c.description))
                    for c in tables[name].columns
                ])
    return tables


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
