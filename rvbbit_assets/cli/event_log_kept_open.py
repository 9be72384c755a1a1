"""Dagster's SQLite event log held open, and synced at checkpoints, for one run of the CLI.

Dagster's SQLite event log (a `DAGSTER_HOME` without other storage, as `make run`'s) opens a
connection for each event it writes, to the run's database and for asset events to the
index too, and commits and closes it after. A run over 60 days writes about 1,600 events
(per day and stage: a planned materialization, a materialization, a check verdict), so
what each write costs is most of a stage's time. Measured per write on this machine, under
load: 25 ms; 8.8 ms with another connection open; 1.4 ms with that and WAL-mode's
`synchronous=NORMAL`.

- In WAL mode, closing the last connection to a database checkpoints its write-ahead log
  into it and deletes the log, which the next event creates again. One idle connection to
  each database, open for the run, makes every other close not the last. Closing it at
  the end checkpoints once.
- `synchronous=NORMAL` (SQLite's advice for WAL mode) syncs the log at checkpoints instead
  of at every commit. The database stays consistent; what an OS crash or power loss can
  lose is the last events before it, and such a run is left unfinished either way (as are
  the store's last inserts: ClickHouse does not sync each insert either). A crash of the
  process loses nothing.

Dagster writes the same rows in the same way; only connections to these two databases,
during the run, get the setting.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from typing import Any

from dagster import DagsterInstance
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from sqlalchemy import event
from sqlalchemy.engine import Engine


@contextmanager
def event_log_kept_open(instance: DagsterInstance, run_id: str) -> Iterator[None]:
    """Hold the index and the (new) run's event log databases open while the body runs,
    syncing them at checkpoints; a no-op for other event log storages (a temporary
    instance keeps events in memory)."""
    storage = instance.event_log_storage
    if not isinstance(storage, SqliteEventLogStorage):
        yield
        return
    paths = {os.path.realpath(storage.path_for_shard(s)) for s in (INDEX_SHARD_NAME, run_id)}

    def sync_at_checkpoints(connection: Any, _record: Any) -> None:
        if isinstance(connection, sqlite3.Connection) and any(
            os.path.realpath(file) in paths
            for _, _, file in connection.execute("PRAGMA database_list")
        ):
            connection.execute("PRAGMA synchronous=NORMAL")

    event.listen(Engine, "connect", sync_at_checkpoints)
    try:
        with ExitStack() as held:
            for shard in (INDEX_SHARD_NAME, run_id):
                # Dagster's own connection creates the run's database (schema, WAL mode).
                with storage.run_connection(shard):
                    pass
                connection = held.enter_context(closing(sqlite3.connect(
                    storage.path_for_shard(shard), timeout=30, isolation_level=None)))
                # A first read attaches the connection to the write-ahead log; then it idles.
                connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
            yield
    finally:
        event.remove(Engine, "connect", sync_at_checkpoints)
