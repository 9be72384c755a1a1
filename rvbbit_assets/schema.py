"""Versioned migrations from `schema/`, applied in order and recorded once each."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from rvbbit_assets.cluster import check_single_shard, cluster_ddl
from rvbbit_assets.store import StoreSession, render_sql

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


def migration_sets(with_source: bool) -> tuple[str, ...]:
    return ("source", "analytics") if with_source else ("analytics",)


def bootstrap_ddl(cluster: str | None) -> list[str]:
    """The analytics database and the migration ledger, before any migration."""
    return [
        cluster_ddl(statement, cluster)
        for statement in ("CREATE DATABASE IF NOT EXISTS ${analytics}", _LEDGER_DDL)
    ]


def migration_ddl(migration: Migration, cluster: str | None) -> list[str]:
    """The statements that apply `migration`, as templates (cluster.cluster_ddl)."""
    return [cluster_ddl(statement, cluster) for statement in migration.statements()]


def schema_ddl(
    source_database: str,
    analytics_database: str,
    cluster: str | None,
    with_source: bool = False,
) -> list[str]:
    """Every statement `apply_migrations` sends to a fresh store, exactly, without a store.

    For reviewing what `init` will run on a cluster before running it.
    """
    templates = bootstrap_ddl(cluster) + [
        statement
        for migration_set in migration_sets(with_source)
        for migration in migrations(migration_set)
        for statement in migration_ddl(migration, cluster)
    ]
    return [render_sql(t, source_database, analytics_database) for t in templates]


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
    if session.cluster is not None:
        check_single_shard(session)
    for statement in bootstrap_ddl(session.cluster):
        session.command(statement)
    applied_now: list[str] = []
    for migration_set in migration_sets(with_source):
        done = applied_versions(session, migration_set)
        for migration in migrations(migration_set):
            if migration.version in done:
                continue
            for statement in migration_ddl(migration, session.cluster):
                session.command(statement)
            session.insert_rows(
                "schema_migrations",
                [(migration_set, migration.version, migration.checksum)],
                ["migration_set", "version", "checksum"],
            )
            applied_now.append(f"{migration_set}/{migration.version}")
    return applied_now
