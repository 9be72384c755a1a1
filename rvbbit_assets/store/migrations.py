"""Versioned migrations from `schema/`, applied in order and recorded once each.

The repository's `schema/` folder is installed as the package `rvbbit_assets.migrations`
(pyproject.toml's `package-dir`), and read from there: a wheel carries its migrations. Each
applied migration's checksum is recorded; a file that changed after it was applied is
refused, since the store would silently lack what the edit added.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

from rvbbit_assets.store.cluster_ddl import check_single_shard, cluster_ddl
from rvbbit_assets.store.connection import StoreError
from rvbbit_assets.store.resource import StoreSession, render_sql

MIGRATIONS_PACKAGE = "rvbbit_assets.migrations"
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


class MigrationError(StoreError):
    """The migrations are missing, or an applied one was changed afterwards."""


@dataclass(frozen=True)
class Migration:
    migration_set: str
    version: str
    path: Traversable

    @property
    def name(self) -> str:
        return f"{self.migration_set}/{self.version}"

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


def schema_dir() -> Traversable:
    """The installed `schema/` folder (MigrationError when the package lacks it)."""
    try:
        return files(MIGRATIONS_PACKAGE)
    except ModuleNotFoundError:
        raise MigrationError(
            f"the migrations are not installed (package {MIGRATIONS_PACKAGE}, the"
            " repository's schema/ folder): reinstall rvbbit-analytics (`make install`, or"
            " `pip install .` in a checkout)"
        ) from None


def migrations(migration_set: str) -> list[Migration]:
    """The set's migrations in order; MigrationError when there are none (a broken install,
    never a schema that is up to date)."""
    folder = schema_dir() / migration_set
    found = (
        sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
        if folder.is_dir()
        else []
    )
    if not found:
        raise MigrationError(
            f"no migrations in {folder}: the installed package lacks its schema/{migration_set}"
            " files; reinstall rvbbit-analytics"
        )
    return [Migration(migration_set, p.name.removesuffix(".sql"), p) for p in found]


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


def applied_checksums(session: StoreSession, migration_set: str) -> dict[str, str]:
    """Version -> the checksum its file had when it was applied."""
    return dict(
        session.rows(
            "SELECT version, checksum FROM ${analytics}.schema_migrations"
            " WHERE migration_set = {s:String}",
            {"s": migration_set},
        )
    )


def pending_migrations(session: StoreSession, with_source: bool) -> list[Migration]:
    """The migrations not applied yet, in order; MigrationError, before any is applied, when
    an applied one's file has changed since."""
    pending: list[Migration] = []
    changed: list[str] = []
    for migration_set in migration_sets(with_source):
        applied = applied_checksums(session, migration_set)
        for migration in migrations(migration_set):
            recorded = applied.get(migration.version)
            if recorded is None:
                pending.append(migration)
            elif recorded != migration.checksum:
                changed.append(
                    f"{migration.name} (applied as {recorded}, the file is now"
                    f" {migration.checksum})"
                )
    if changed:
        raise MigrationError(
            "applied migration(s) changed since: " + "; ".join(changed) + ". The store may lack"
            " what the edit added. Restore the file and put the change in a new numbered"
            " migration, or rebuild a store that holds only demo data"
        )
    return pending


def apply_migrations(session: StoreSession, with_source: bool = False) -> list[str]:
    """Apply what is missing; return the versions applied now (empty on a rerun)."""
    if session.cluster is not None:
        check_single_shard(session)
    for statement in bootstrap_ddl(session.cluster):
        session.command(statement)
    applied_now: list[str] = []
    for migration in pending_migrations(session, with_source):
        for statement in migration_ddl(migration, session.cluster):
            session.command(statement)
        session.insert_rows(
            "schema_migrations",
            [(migration.migration_set, migration.version, migration.checksum)],
            ["migration_set", "version", "checksum"],
        )
        applied_now.append(migration.name)
    return applied_now
