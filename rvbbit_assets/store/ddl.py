"""The tables the migrations define, read from their DDL: the one parser behind the UI's
column schemas (column_schemas.py) and the source drift check (source_schema.py).

It reads the statements our migrations use, as they write them: CREATE TABLE bodies with one
column per line (a `--` comment after it is its description), ALTER TABLE ... ADD COLUMN
... AFTER, and COMMENT COLUMN.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cache

from rvbbit_assets.store.migrations import migrations


@dataclass(frozen=True)
class ColumnDefinition:
    name: str
    type: str  # as declared, without DEFAULT or CODEC
    description: str | None = None


_CREATE = re.compile(
    r"CREATE TABLE IF NOT EXISTS \$\{\w+\}\.(\w+)\s*\((.*?)\n\)\s*\nENGINE", re.S
)
# name type [DEFAULT ... | CODEC(...)][,] [-- description]
_COLUMN = re.compile(
    r"^\s{4}(\w+)\s+(.+?)(?:\s+(?:DEFAULT|CODEC)\b.*?)?,?\s*(?:--\s*(.*))?$"
)
_ALTER = re.compile(r"ALTER TABLE \$\{\w+\}\.(\w+)\s+(.*?);", re.S)
# ADD COLUMN name type [DEFAULT value or (expression)] [COMMENT 'text'] AFTER column
_ADD_COLUMN = re.compile(
    r"ADD COLUMN IF NOT EXISTS (\w+) (.+?)(?:\s+DEFAULT (?:\([^)]*\)|\S+))?"
    r"(?:\s+COMMENT '([^']*)')?\s+AFTER (\w+)",
    re.S,
)
_COMMENT_COLUMN = re.compile(r"COMMENT COLUMN (\w+) '([^']*)'")


def _created_columns(body: str) -> list[ColumnDefinition]:
    columns = []
    for line in body.splitlines():
        if line.strip().startswith(("INDEX", "--")):
            continue
        match = _COLUMN.match(line.rstrip())
        if match:
            name, column_type, description = match.groups()
            columns.append(ColumnDefinition(name, column_type.strip(), description or None))
    return columns


@cache
def table_definitions(migration_set: str) -> dict[str, tuple[ColumnDefinition, ...]]:
    """Table -> its columns in order, after every migration of the set."""
    tables: dict[str, list[ColumnDefinition]] = {}
    for migration in migrations(migration_set):
        for name, body in _CREATE.findall(migration.text):
            tables[name] = _created_columns(body)
        for name, clauses in _ALTER.findall(migration.text):
            columns = tables[name]
            for column, column_type, description, after in _ADD_COLUMN.findall(clauses):
                position = next(i for i, c in enumerate(columns) if c.name == after) + 1
                columns.insert(position, ColumnDefinition(column, column_type.strip(),
                                                          description or None))
            described = dict(_COMMENT_COLUMN.findall(clauses))
            tables[name] = [replace(c, description=described.get(c.name, c.description))
                            for c in columns]
    return {name: tuple(columns) for name, columns in tables.items()}
