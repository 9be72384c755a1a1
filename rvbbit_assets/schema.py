"""Versioned migrations from `schema/`, applied in order and recorded once each."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from rvbbit_assets.store import StoreSession

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schema"
MIGRATION_SETS = ("source", "analytics")
_STATEMENT_END = re.compile(r";\s*(?:\n|$)")

_LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS ${analytics}.schema_migrations
(
    migration_set LowCardinality(String),
    version String,
    checksum String,
    applied_at DateTime64(3) DEFAULT now64(3)
)
ENGINE = MergeTree()
ORDER BY (migration_set, version)
"""


@dataclass(frozen=True)
class Migration:
    migration_set: str
    version: str
    path: Path

    @property
    def text(self) -> str:
        return self.path.read_text()

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]

    def statements(self) -> list[str]:
        return [s.strip() for s in _STATEMENT_END.split(self.text) if _has_sql(s)]


def _has_sql(chunk: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in chunk.splitlines())


def migrations(migration_set: str) -> list[Migration]:
    folder = SCHEMA_DIR / migration_set
    return [Migration(migration_set, p.stem, p) for p in sorted(folder.glob("*.sql"))]


def applied_versions(session: StoreSession, migration_set: str) -> set[str]:
    return {
        row[0]
        for row in session.rows(
            "SELECT version FROM ${analytics}.schema_migrations WHERE migration_set = {s:String}",
            {"s": migration_set},
        )
    }


def apply_migrations(session: StoreSession, with_source: bool = False) -> list[str]:
    """Apply what is missing; return the versions applied now (empty on a rerun)."""
    session.command("CREATE DATABASE IF NOT EXISTS ${analytics}")
    session.command(_LEDGER_DDL)
    applied_now: list[str] = []
    for migration_set in ("source", "analytics") if with_source else ("analytics",):
        done = applied_versions(session, migration_set)
        for migration in migrations(migration_set):
            if migration.version in done:
                continue
            for statement in migration.statements():
                session.command(statement)
            session.insert_rows(
                "schema_migrations",
                [(migration_set, migration.version, migration.checksum)],
                ["migration_set", "version", "checksum"],
            )
            applied_now.append(f"{migration_set}/{migration.version}")
    return applied_now
