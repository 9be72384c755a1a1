"""The CLI's runs hold Dagster's SQLite event log open (cli/event_log_kept_open.py): between
two events of a run its databases keep their write-ahead log (no checkpoint per event),
Dagster's connections to them sync at checkpoints only, every event reuses one connection to
each, and every event is still in the instance afterwards, the log checkpointed."""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from dagster import (
    AssetObservation,
    BackfillPolicy,
    DagsterEventType,
    DagsterInstance,
    DailyPartitionsDefinition,
    asset,
)
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from rvbbit_assets.cli.run_logging import RunLogging, execute_assets
from rvbbit_assets.orchestration.day_range import RANGE_END_TAG, RANGE_START_TAG
from rvbbit_assets.store import ClickHouseStore

WAL_SEEN: dict[str, bool] = {}
SYNCHRONOUS: dict[str, int] = {}  # PRAGMA synchronous: 1 NORMAL, 2 FULL (the default)


def synchronous(connection: Connection) -> int:
    return connection.exec_driver_sql("PRAGMA synchronous").scalar_one()


@asset
def looks_at_its_event_log(context) -> None:  # noqa: ANN001 (Dagster rejects a string annotation)
    storage = context.instance.event_log_storage
    # Dagster has written events to both and closed its connections by now.
    for name, shard in (("index", "index"), ("run", context.run.run_id)):
        WAL_SEEN[name] = os.path.exists(storage.path_for_shard(shard) + "-wal")
        with storage.run_connection(shard) as connection:
            SYNCHRONOUS[name] = synchronous(connection)


def test_a_cli_run_keeps_its_event_log_open_and_loses_no_event(tmp_path: Path):
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        result = execute_assets([looks_at_its_event_log], ClickHouseStore(), instance,
                                RunLogging.console("WARNING"))
        assert result.success
        assert WAL_SEEN == {"index": True, "run": True}
        assert SYNCHRONOUS == {"index": 1, "run": 1}
        events = [e.dagster_event.event_type for e in instance.all_logs(result.run_id)
                  if e.dagster_event]
        assert events[-1] == DagsterEventType.RUN_SUCCESS
        assert DagsterEventType.ASSET_MATERIALIZATION in events
        assert instance.get_latest_materialization_event(looks_at_its_event_log.key)
        storage = instance.event_log_storage
        for shard in ("index", result.run_id):  # the last connection closed: checkpointed
            assert not os.path.exists(storage.path_for_shard(shard) + "-wal")
            with storage.run_connection(shard) as connection:  # and FULL again after the run
                assert synchronous(connection) == 2


@asset
def observes_itself_often(context) -> None:  # noqa: ANN001 (Dagster rejects a string annotation)
    for n in range(OBSERVATIONS):
        context.log_event(AssetObservation(asset_key=context.asset_key, metadata={"n": n}))


OBSERVATIONS = 60


def test_a_cli_run_opens_its_event_log_databases_a_few_times_not_per_event(tmp_path: Path):
    opened: Counter[str] = Counter()  # database file -> connections opened during the run

    def count(connection: Any, _record: Any) -> None:
        if isinstance(connection, sqlite3.Connection):
            for _, _, file in connection.execute("PRAGMA database_list"):
                opened[os.path.realpath(file)] += 1

    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        event.listen(Engine, "connect", count)
        try:
            result = execute_assets([observes_itself_often], ClickHouseStore(), instance,
                                    RunLogging.console("WARNING"))
        finally:
            event.remove(Engine, "connect", count)
        assert result.success
        observed = instance.fetch_observations(observes_itself_often.key, limit=100).records
        assert len(observed) == OBSERVATIONS  # each written to the run's log and the index
        storage = instance.event_log_storage
        for shard in ("index", result.run_id):
            # Dagster's own connections create the database; then one serves every event.
            assert opened[os.path.realpath(storage.path_for_shard(shard))] <= 6, dict(opened)


DAYS = 30


@asset(partitions_def=DailyPartitionsDefinition(start_date="2026-01-01"),
       backfill_policy=BackfillPolicy.single_run())
def thirty_days_at_once(context) -> None:  # noqa: ANN001 (Dagster rejects a string annotation)
    assert len(context.partition_keys) == DAYS


def test_a_cli_run_writes_its_partitions_events_in_a_transaction_per_batch(tmp_path: Path):
    """The planned materializations of a range's partitions, and their materializations,
    are two batches: each is written to the index in one transaction, and every event is
    there as before."""
    commits: Counter[str] = Counter()  # database file -> transactions committed in the run

    def count(connection: Connection) -> None:
        commits[os.path.basename(connection.engine.url.database or "")] += 1

    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        event.listen(Engine, "commit", count)
        try:
            result = execute_assets(
                [thirty_days_at_once], ClickHouseStore(), instance, RunLogging.console("WARNING"),
                tags={RANGE_START_TAG: "2026-01-01", RANGE_END_TAG: "2026-01-30"})
        finally:
            event.remove(Engine, "commit", count)
        assert result.success
        assert commits["index.db"] < DAYS, dict(commits)  # one per event: twice DAYS
        for event_type in (DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
                           DagsterEventType.ASSET_MATERIALIZATION):
            records = instance.get_records_for_run(result.run_id, of_type=event_type).records
            assert sorted(r.event_log_entry.dagster_event.partition for r in records) == [
                f"2026-01-{day:02d}" for day in range(1, DAYS + 1)]
        status = instance.get_materialized_partitions(thirty_days_at_once.key)
        assert len(status) == DAYS
