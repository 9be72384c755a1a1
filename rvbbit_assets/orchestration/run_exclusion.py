"""One run writes the store at a time, whatever the Dagster instance's configuration.

Three parts, none relying on a dagster.yaml of ours:
- every step that uses the store is in the concurrency pool `rvbbit_store`
  (assets/store_asset.py), and the sensor and the CLI set that pool's limit to 1 on the
  instance they run on (`ensure_store_pool`), freeing any slot a finished run left claimed;
- the sensor launches nothing while a run of these assets is queued or in progress;
- the CLI's `materialize` waits for such a run to finish, then refuses, naming it.

The embedded store's lock serialises whole processes anyway; the pool is what serialises
steps on a ClickHouse server, where two runs of one day could otherwise send an alert twice.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from datetime import UTC, datetime

from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunRecord, RunsFilter

from rvbbit_assets.orchestration.day_range import RANGE_END_TAG, RANGE_START_TAG
from rvbbit_assets.store import StoreBusyError

# The concurrency pool of every step that uses the store (assets/store_asset.py).
STORE_POOL = "rvbbit_store"
SENSOR_NAME_TAG = "dagster/sensor_name"
NOT_FINISHED = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


class RunInProgressError(StoreBusyError):
    """Another Dagster run of the pipeline is writing the store."""


def ensure_store_pool(instance: DagsterInstance) -> list[str]:
    """Give the store pool a limit of 1 and free slots held by finished runs; say what changed.

    An instance without pool support (an in-memory, temporary one) has no other runs.
    """
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    changes = []
    info = storage.get_concurrency_info(STORE_POOL)
    if info.limit != 1:
        storage.set_concurrency_slots(STORE_POOL, 1)
        changes.append(f"concurrency pool {STORE_POOL} limit set to 1 (was {info.limit})")
    for run_id in sorted(info.active_run_ids):
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            storage.free_concurrency_slots_for_run(run_id)
            changes.append(f"freed the {STORE_POOL} slot left by finished run {run_id[:8]}")
    return changes


def store_runs_in_progress(
    instance: DagsterInstance, store_assets: Collection[AssetKey]
) -> list[RunRecord]:
    """Runs queued or running that materialize any of `store_assets` (or a whole job)."""
    records = instance.get_run_records(RunsFilter(statuses=NOT_FINISHED), limit=50)
    return [
        r for r in records
        if not r.dagster_run.asset_selection
        or r.dagster_run.asset_selection & set(store_assets)
    ]


def describe_run(record: RunRecord) -> str:
    """`run 1a2b3c4d (STARTED since 10:02:03 UTC, sensor new_cascade_sessions, days ...)`."""
    run = record.dagster_run
    tags = run.tags
    since = datetime.fromtimestamp(record.start_time or record.create_timestamp.timestamp(), UTC)
    origin = (f"sensor {tags[SENSOR_NAME_TAG]}" if SENSOR_NAME_TAG in tags
              else "launched from the UI or CLI")
    days = ""
    if RANGE_START_TAG in tags:
        days = f", days {tags[RANGE_START_TAG]}..{tags.get(RANGE_END_TAG, '')}"
    elif "dagster/partition" in tags:
        days = f", day {tags['dagster/partition']}"
    return f"run {run.run_id[:8]} ({run.status.value} since {since:%H:%M:%S} UTC, {origin}{days})"


def wait_for_store_runs(
    instance: DagsterInstance,
    store_assets: Collection[AssetKey],
    timeout: float,
    poll_seconds: float = 1.0,
) -> None:
    """Return once no run of `store_assets` is queued or running; raise after `timeout`."""
    deadline = time.monotonic() + timeout
    while running := store_runs_in_progress(instance, store_assets):
        if time.monotonic() >= deadline:
            raise RunInProgressError(
                f"Dagster {describe_run(running[0])} is analysing runs, and one run writes "
                f"the store at a time; waited {timeout:.0f}s for it. Try again when it has "
                "finished (see the Dagster UI)."
            )
        time.sleep(poll_seconds)
