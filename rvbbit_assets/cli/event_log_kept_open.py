"""Dagster's SQLite event log held open, and synced at checkpoints, for one run of the CLI.

Dagster's SQLite event log (a `DAGSTER_HOME` without other storage, as `make run`'s) creates
an engine and opens a connection for each event it writes, to the run's database and for
asset events to the index too, and commits, closes and disposes of it after. A run over 60
days writes about 1,600 events (per day and stage: a planned materialization, a
materialization, a check verdict), so what each write costs is most of a stage's time.
Measured per write on this machine, under load: 25 ms; 8.8 ms with another connection
open; 1.4 ms with that and WAL-mode's `synchronous=NORMAL`; and of what remained, most was
the new engine itself (connecting, and compiling every INSERT again: SQLAlchemy caches
compiled statements per engine).

- During the run, each of the two databases has one engine whose pool keeps its connection
  open: every event reuses that connection and the engine's compiled statements. Dagster's
  own lock still serialises the writes, each in its own transaction as before.
- In WAL mode, closing the last connection to a database checkpoints its write-ahead log
  into it and deletes the log, which the next event would create again. The kept connection
  makes every other close not the last; disposing of the engines at the end checkpoints once.
- Dagster asks whether a table (or a column of the asset keys) exists on every asset event
  and check verdict, each time through an engine of its own; during the run a table or
  column found stays found, so the answer is kept once it is yes.
- Dagster reports a partitioned run's planned materializations, and a step's materializations
  of its partitions, as batches (one event per partition: 1,200 of a 60-day run's 1,700
  events). It writes a batch through `store_event_batch` when batch writing is on (its
  `DAGSTER_EVENT_BATCH_SIZE`), which the SQLite storage does event by event, each in its own
  transactions. During the run, batch writing is on and a batch is written in one
  transaction per database: the same rows, committed together. Should a batch fail, it is
  rolled back and Dagster writes its events one by one.
- `synchronous=NORMAL` (SQLite's advice for WAL mode) syncs the log at checkpoints instead
  of at every commit. The database stays consistent; what an OS crash or power loss can
  lose is the last events before it, and such a run is left unfinished either way (as are
  the store's last inserts: ClickHouse does not sync each insert either). A crash of the
  process loses nothing.

Dagster writes the same rows in the same way; only connections to these two databases,
during the run, are kept and get the setting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

from dagster import DagsterInstance, EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

# Events Dagster buffers per batch before writing them: a batch is one asset's partitions.
_EVENTS_PER_BATCH = 1_000


def _engine_synced_at_checkpoints(storage: SqliteEventLogStorage, shard: str) -> Engine:
    """An engine for one of the storage's databases whose one connection stays open."""
    engine = create_engine(storage.conn_string_for_shard(shard), poolclass=QueuePool,
                           pool_size=1, max_overflow=0,
                           connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})

    def sync_at_checkpoints(connection: Any, _record: Any) -> None:
        connection.execute("PRAGMA synchronous=NORMAL")

    event.listen(engine, "connect", sync_at_checkpoints)
    return engine


def _kept_once_true(ask: Callable[..., bool], *, key: Callable[..., object]) -> Callable[..., bool]:
    """`ask`, its yes kept by `key(*args)` (a schema does not lose tables during a run)."""
    found: set[object] = set()

    def kept(*args: Any) -> bool:
        if key(*args) in found:
            return True
        answer = ask(*args)
        if answer:
            found.add(key(*args))
        return answer

    return kept


@contextmanager
def event_log_kept_open(instance: DagsterInstance, run_id: str) -> Iterator[None]:
    """Write the index and the (new) run's event log through kept connections, synced at
    checkpoints, while the body runs; a no-op for other event log storages (a temporary
    instance keeps events in memory)."""
    storage = instance.event_log_storage
    if not isinstance(storage, SqliteEventLogStorage):
        yield
        return
    engines: dict[str, Engine] = {}
    for shard in (INDEX_SHARD_NAME, run_id):
        with storage.run_connection(shard):  # Dagster's own: creates the database (WAL mode)
            pass
        engines[shard] = _engine_synced_at_checkpoints(storage, shard)
    dagster_connect = storage._connect  # where Dagster opens every event log database

    batch: dict[str, Connection] = {}  # while a batch is written: its open transactions

    @contextmanager
    def kept_connection(shard: str) -> Iterator[Connection]:
        if shard not in engines:
            with dagster_connect(shard) as connection:
                yield connection
        elif shard in batch:  # the batch holds Dagster's lock
            yield batch[shard]
        else:
            with storage._db_lock, engines[shard].connect() as connection, connection.begin():
                yield connection

    def store_event_batch(events: Sequence[EventLogEntry]) -> None:
        with storage._db_lock, ExitStack() as transactions:
            for shard, engine in engines.items():
                batch[shard] = transactions.enter_context(engine.connect())
                transactions.enter_context(batch[shard].begin())
            try:
                for entry in events:
                    storage.store_event(entry)
            finally:
                batch.clear()

    # On this instance only, for the run; deleting them brings Dagster's methods back.
    patched = {
        "_connect": kept_connection,
        "store_event_batch": store_event_batch,
        "has_table": _kept_once_true(storage.has_table, key=lambda table: table),
        "_has_asset_key_index_cols_on_connection": _kept_once_true(
            storage._has_asset_key_index_cols_on_connection, key=lambda _connection: ()),
    }
    vars(storage).update(patched)
    vars(instance)["_get_event_batch_size"] = lambda: _EVENTS_PER_BATCH
    try:
        yield
    finally:
        del vars(instance)["_get_event_batch_size"]
        for name in patched:
            delattr(storage, name)
        for engine in engines.values():
            engine.dispose()  # the last connection closes: the write-ahead log is checkpointed
