"""The ClickHouse store: one resource that hands out clickhouse-connect clients.

`chdb:///abs/path` is the embedded engine. chDB lets one process open a store path at a
time, while Dagster runs sensors, run workers and the webserver in separate processes.
So in embedded mode every use of the store holds an exclusive `flock` on `<path>.lock`
for just the work, waits up to a bounded timeout, and then fails with a message naming
the store and the process holding it. `http(s)://` URLs reach a ClickHouse server with
the same client API and SQL, without the lock.
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from string import Template
from typing import Any
from urllib.parse import urlsplit

import clickhouse_connect
import pandas as pd
from clickhouse_connect.driver.client import Client
from dagster import ConfigurableResource, EnvVar

from rvbbit_assets.config import Settings, checked_identifier

# A run over more than 100 days inserts that many daily partitions at once, which
# ClickHouse refuses by default (max_partitions_per_insert_block = 100; 0 = no limit).
CLIENT_SETTINGS = {"session_timezone": "UTC", "max_partitions_per_insert_block": 0}
# chDB's message when another process has the store path open.
_OPEN_ELSEWHERE = "Error initializing EmbeddedServer"


class StoreError(RuntimeError):
    """A store problem, with any secret of the URL removed from the message."""


class StoreBusyError(StoreError):
    """The embedded store stayed locked by another process past the timeout."""


def redact_url(url: str) -> str:
    """The URL with its password replaced, safe for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def _url_secret(url: str) -> str | None:
    return urlsplit(url).password or None


def embedded_path(url: str) -> str | None:
    """The store directory of a `chdb://` URL, or None for a server URL."""
    if not url.startswith("chdb://"):
        return None
    path = url[len("chdb://") :]
    if not path.startswith("/"):
        raise StoreError(
            f"embedded store URL must be chdb:///absolute/path, got {url!r} "
            "(clickhouse-connect reads chdb://X/Y as store X and database Y)"
        )
    return path


class _EmbeddedLock:
    """Cross-process exclusive lock on an embedded store, re-entrant within a process."""

    _guard = threading.RLock()
    _depth = 0
    _fd: int | None = None
    _client: Client | None = None
    _opened_path: str | None = None

    @classmethod
    @contextmanager
    def hold(cls, path: str, url: str, timeout: float, purpose: str) -> Iterator[Client]:
        deadline = time.monotonic() + timeout
        if not cls._guard.acquire(timeout=max(timeout, 0.0)):
            raise StoreBusyError(
                f"embedded store {path} is busy in this process (waited {timeout:.0f}s)"
            )
        try:
            if cls._depth == 0:
                cls._open(path, url, deadline, timeout, purpose)
            cls._depth += 1
            try:
                assert cls._client is not None
                yield cls._client
            finally:
                cls._depth -= 1
                if cls._depth == 0:
                    cls._close()
        finally:
            cls._guard.release()

    @classmethod
    def _open(cls, path: str, url: str, deadline: float, timeout: float, purpose: str) -> None:
        if cls._opened_path not in (None, path):
            raise StoreError(
                f"this process already used the embedded store {cls._opened_path}; "
                f"chDB allows one store path per process, so {path} cannot be opened here"
            )
        os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
        fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        waited_for = ""
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited_for = os.pread(fd, 512, 0).decode(errors="replace").strip()
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise StoreBusyError(
                        f"embedded store {path} is busy: held by "
                        f"{waited_for or 'another process'}; process {os.getpid()} "
                        f"({purpose}) waited {timeout:.0f}s and gave up"
                    ) from None
                time.sleep(0.05)
        holder = f"pid {os.getpid()} ({purpose}) since {time.strftime('%H:%M:%S')}"
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
        try:
            cls._client = clickhouse_connect.get_client(dsn=url, settings=CLIENT_SETTINGS)
        except Exception as exc:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            if _OPEN_ELSEWHERE in str(exc):
                # A client that does not take the lock has the store open: busy, not broken.
                raise StoreBusyError(
                    f"embedded store {path} is busy: open in a process that does not take "
                    f"{path}.lock; process {os.getpid()} ({purpose}) could not open it"
                ) from exc
            raise StoreError(f"cannot open embedded store {path}: {exc}") from exc
        cls._fd = fd
        cls._opened_path = path

    @classmethod
    def _close(cls) -> None:
        try:
            if cls._client is not None:
                cls._client.close()
        finally:
            cls._client = None
            if cls._fd is not None:
                os.ftruncate(cls._fd, 0)
                fcntl.flock(cls._fd, fcntl.LOCK_UN)
                os.close(cls._fd)
                cls._fd = None


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
        secret = _url_secret(url)
        purpose = purpose or " ".join(os.path.basename(a) for a in sys.argv[:2])
        wait = settings.lock_timeout_seconds if timeout is None else timeout
        try:
            path = embedded_path(url)
            if path is not None:
                with _EmbeddedLock.hold(path, url, wait, purpose) as client:
                    yield StoreSession(
                        client,
                        settings.source_database,
                        settings.analytics_database,
                        settings.cluster,
                        settings,
                    )
            else:
                try:
                    client = clickhouse_connect.get_client(dsn=url, settings=CLIENT_SETTINGS)
                except Exception as exc:
                    raise StoreError(
                        f"cannot reach ClickHouse at {redact_url(url)}: {exc}"
                    ) from exc
                try:
                    yield StoreSession(
                        client,
                        settings.source_database,
                        settings.analytics_database,
                        settings.cluster,
                        settings,
                    )
                finally:
                    client.close()
        except Exception as exc:
            if secret and secret in str(exc):
                # `from None` drops the original chain, which carries the secret too.
                raise StoreError(str(exc).replace(secret, "***")) from None
            raise
