"""RVBBIT's source tables as the pipeline expects them, checked before any work starts.

The expected columns are read from `schema/source` (the one definition of RVBBIT's tables,
column for column as rvbbit-source-facts.md states them). A missing or retyped column would
otherwise surface as a failed query deep inside a run; the entry points (`materialize`,
the sensor's tick, `serve`) check first and stop with a message naming each column. Extra
columns are fine: RVBBIT adds columns over time.
"""

from __future__ import annotations

import re

from rvbbit_assets.store.connection import StoreError
from rvbbit_assets.store.ddl import table_definitions
from rvbbit_assets.store.resource import StoreSession

SOURCE_TABLES = ("unified_logs", "cascade_sessions", "prompt_lineage")

# A server may show a DateTime column with its time zone; the zone does not change the type.
_TIME_ZONE = re.compile(r"(DateTime(?:64\(\d+)?)(?:\(|, *)'[^']*'\)")


class SourceSchemaError(StoreError):
    """RVBBIT's tables lack a column the pipeline reads, or hold it with another type."""


def expected_source_columns() -> dict[str, dict[str, str]]:
    """Table -> column -> type, from the source migrations."""
    return {table: {c.name: c.type for c in columns}
            for table, columns in table_definitions("source").items()}


def _normalised(column_type: str) -> str:
    return _TIME_ZONE.sub(lambda m: m.group(1) + (")" if "64" in m.group(1) else ""),
                          column_type)


def source_schema_problems(session: StoreSession) -> list[str]:
    """One line per missing table, missing column or column of another type."""
    found: dict[str, dict[str, str]] = {}
    for table, name, column_type in session.rows(
        "SELECT table, name, type FROM system.columns"
        " WHERE database = {db:String} AND table IN {tables:Array(String)}",
        {"db": session.source_database, "tables": list(SOURCE_TABLES)},
    ):
        found.setdefault(table, {})[name] = column_type
    problems = []
    for table, columns in expected_source_columns().items():
        present = found.get(table)
        if present is None:
            problems.append(f"table {session.source_database}.{table} is missing")
            continue
        for name, column_type in columns.items():
            if name not in present:
                problems.append(f"{table}.{name} is missing (expected {column_type})")
            elif _normalised(present[name]) != column_type:
                problems.append(f"{table}.{name} is {present[name]}, expected {column_type}")
    return problems


def check_source_schema(session: StoreSession) -> None:
    """Raise SourceSchemaError naming every drifted column of RVBBIT's tables."""
    problems = source_schema_problems(session)
    if problems:
        raise SourceSchemaError(
            f"RVBBIT's source tables in database {session.source_database!r} are not as "
            f"expected (schema/source): {'; '.join(problems)}"
        )
