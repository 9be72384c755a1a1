"""The sensor's ticks and its runs for tests, as the Dagster daemon makes them: a tick on a
real instance and store, a run request executed for real with the tags the daemon adds, and
the store's lock held by this process as another client of the store holds it."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from dagster import (
    DagsterInstance,
    RunRequest,
    SensorResult,
    build_sensor_context,
    materialize,
)

from rvbbit_assets.assets.pipeline import per_run_assets, refreshed_after_runs
from rvbbit_assets.checks import pipeline_checks
from rvbbit_assets.sensors.new_cascade_sessions import SENSOR_NAME, new_cascade_sessions
from rvbbit_assets.store import ClickHouseStore, embedded_path
from rvbbit_assets.store.embedded_lock import waiting_for

SENSOR_RUN_TAGS = {"dagster/sensor_name": SENSOR_NAME}
# For DagsterInstance.local_temp: an instance without any configuration of ours otherwise.
NO_TELEMETRY = {"telemetry": {"enabled": False}}


def tick(store: ClickHouseStore, instance: DagsterInstance, cursor: str | None) -> SensorResult:
    context = build_sensor_context(instance=instance, cursor=cursor, resources={"store": store})
    result = new_cascade_sessions(context)
    assert isinstance(result, SensorResult)
    return result


def launch(request: RunRequest, instance: DagsterInstance, store: ClickHouseStore) -> bool:
    """Execute the requested run in this process, tagged as the daemon tags it."""
    result = materialize(
        [*per_run_assets, *refreshed_after_runs, *pipeline_checks],
        selection=request.asset_selection,
        resources={"store": store},
        instance=instance,
        tags={**request.tags, **SENSOR_RUN_TAGS, "dagster/run_key": request.run_key},
        raise_on_error=False,
    )
    return result.success


@contextmanager
def store_held(who: str = "test holder") -> Iterator[None]:
    """The embedded store's lock, held by this process until the block ends."""
    path = embedded_path(os.environ["RVBBIT_CLICKHOUSE_URL"])
    fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        with waiting_for(path):  # an engine left open while idle is closed for it
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({who})".encode(), 0)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
