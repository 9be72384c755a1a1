"""The ClickHouse store: one Dagster resource that hands out sessions (clients bound to
the configured databases).

`chdb:///abs/path` is the embedded engine, used under its process lock (embedded_lock.py);
`http(s)://` URLs reach a ClickHouse server with the same client API and SQL, without it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from string import Template
from typing import Any

import clickhouse_connect
import pandas as pd
from clickhouse_connect.driver.client import Client
from dagster import ConfigurableResource, EnvVar

from rvbbit_assets.config import Settings, checked_identifier
from rvbbit_assets.store.connection import (
    CLIENT_SETTINGS,
    StoreError,
    embedded_path,
    redact_url,
    url_secret,
)
from rvbbit_assets.store.embedded_lock import EmbeddedLock


def render_sql(sql: str, source_database: str, analytics_database: str) -> str:
    """SQL text with `${source}` and `${analytics}` replaced by the quoted database names."""
    return Template(sql).substitute(
        source=f"`{source_database}`", analytics=f"`{analytics_database}`"
    )


class StoreSession:
    """A client bound to the configured databases (and cluster, when there is one).

    SQL text may name `${source}` and `${analytics}` (validated database names);
    every value is passed as a bound `{name:Type}` parameter. `settings` are the ones the
    session was opened with, read once: asset code takes its tunables from here.
    """

    def __init__(
        self,
        client: Client,
        source_database: str,
        analytics_database: str,
        cluster: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.client = client
        self.source_database = source_database
        self.analytics_database = analytics_database
        self.cluster = cluster
        self.settings = settings or Settings.from_env()

    def render(self, sql: str) -> str:
        return render_sql(sql, self.source_database, self.analytics_database)

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.client.command(self.render(sql), parameters=dict(params or {}))

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        return self.client.query(self.render(sql), parameters=dict(params or {})).result_rows

    def scalar(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None

    def df(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        return self.client.query_df(self.render(sql), parameters=dict(params or {}))

    def insert_df(self, table: str, frame: pd.DataFrame, database: str | None = None) -> None:
        self.client.insert_df(table, frame, database=database or self.analytics_database)

    def insert_rows(
        self,
        table: str,
        rows: Sequence[Sequence[Any]],
        columns: Sequence[str],
        database: str | None = None,
    ) -> None:
        self.client.insert(
            table, rows, column_names=list(columns), database=database or self.analytics_database
        )


def _resolved(value: str | None) -> str | None:
    """A field's value; an `EnvVar` Dagster has not resolved (the resource used outside a
    run, e.g. straight from `defs`) is read here."""
    return value.get_value() if isinstance(value, EnvVar) else value


# The resource's fields and the variables that configure them in the code location.
STORE_FIELD_VARIABLES = {
    "url": "RVBBIT_CLICKHOUSE_URL",
    "source_database": "RVBBIT_SOURCE_DATABASE",
    "analytics_database": "RVBBIT_ANALYTICS_DATABASE",
}


class ClickHouseStore(ConfigurableResource):
    """ClickHouse for the pipeline; unset fields come from the environment (contract.md).

    Tests build it with plain values; the code location uses `from_env_vars()`, so that
    Dagster's UI shows the variables' names, never their values (the URL may carry a
    password).
    """

    url: str | None = None
    source_database: str | None = None
    analytics_database: str | None = None
    lock_timeout_seconds: float | None = None

    @classmethod
    def from_env_vars(cls) -> ClickHouseStore:
        """The store with a Dagster `EnvVar` for each of its variables that is set: Dagster
        resolves it when a run starts. Unset ones keep their defaults (an unset EnvVar
        would fail the run)."""
        return cls(**{
            field: EnvVar(name)
            for field, name in STORE_FIELD_VARIABLES.items()
            if os.environ.get(name)
        })

    def settings(self) -> Settings:
        """Every setting, read from the environment once, with this resource's fields."""
        env = Settings.from_env()
        return replace(
            env,
            store_url=_resolved(self.url) or env.store_url,
            source_database=checked_identifier(
                _resolved(self.source_database) or env.source_database, "source database"
            ),
            analytics_database=checked_identifier(
                _resolved(self.analytics_database) or env.analytics_database,
                "analytics database",
            ),
            lock_timeout_seconds=(
                self.lock_timeout_seconds
                if self.lock_timeout_seconds is not None
                else env.lock_timeout_seconds
            ),
        )

    def describe(self) -> str:
        return redact_url(self.settings().store_url)

    @contextmanager
    def session(self, purpose: str = "", timeout: float | None = None) -> Iterator[StoreSession]:
        """Hold the store for the body of a `with` block and yield a bound session."""
        settings = self.settings()
        url = settings.store_url
        secret = url_secret(url)

        def bound(client: Client) -> StoreSession:
            return StoreSession(client, settings.source_database, settings.analytics_database,
                                settings.cluster, settings)

        purpose = purpose or " ".join(os.path.basename(a) for a in sys.argv[:2])
        wait = settings.lock_timeout_seconds if timeout is None else timeout
        try:
            path = embedded_path(url)
            if path is not None:
                with EmbeddedLock.hold(path, url, wait, purpose) as client:
                    yield bound(client)
            else:
                try:
                    client = clickhouse_connect.get_client(dsn=url, settings=CLIENT_SETTINGS)
                except Exception as exc:
                    raise StoreError(
                        f"cannot reach ClickHouse at {redact_url(url)}: {exc}"
                    ) from exc
                try:
                    yield bound(client)
                finally:
                    client.close()
        except Exception as exc:
            if secret and secret in str(exc):
                # `from None` drops the original chain, which carries the secret too.
                raise StoreError(str(exc).replace(secret, "***")) from None
            raise
