"""Dagster's SQLite event log held open for the length of one run of the CLI.

Dagster's SQLite event log (a `DAGSTER_HOME` without other storage, as `make run`'s) opens a
connection for each event it writes, to the run's database and for asset events to the
index too, and closes it after. In WAL mode, closing the last connection to a database
checkpoints its write-ahead log into it and deletes the log, which the next event creates
again: most of each write's time (a write took 31 ms, or 13 ms with another connection open,
on this machine under load). A run over 60 days writes about 1,600 events (per day and
stage: a planned materialization, a materialization, a check verdict). One idle connection
to each database, open for the run, makes every other close not the last: Dagster writes
the same rows in the same way, without a checkpoint per event. Closing it at the end
checkpoints once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager

from dagster import DagsterInstance
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)


@contextmanager
def event_log_kept_open(instance: DagsterInstance, run_id: str) -> Iterator[None]:
    """Hold the index and the (new) run's event log databases open while the body runs; a
    no-op for other event log storages (a temporary instance keeps events in memory)."""
    storage = instance.event_log_storage
    if not isinstance(storage, SqliteEventLogStorage):
        yield
        return
    with ExitStack() as held:
        for shard in (INDEX_SHARD_NAME, run_id):
            # Dagster's own connection creates the run's database (schema, WAL mode) first.
            with storage.run_connection(shard):
                pass
            connection = held.enter_context(closing(sqlite3.connect(
                storage.path_for_shard(shard), timeout=30, isolation_level=None)))
            # A first read attaches the connection to the write-ahead log; then it is idle.
            connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
        yield
