"""The Dagster code location: `dagster dev -w workspace.yaml` loads `defs` from here."""

from dagster import Definitions, in_process_executor

from rvbbit_assets.assets.pipeline import per_run_assets, refreshed_after_runs
from rvbbit_assets.assets.sources import source_assets
from rvbbit_assets.checks import pipeline_checks
from rvbbit_assets.sensors.new_cascade_sessions import new_cascade_sessions
from rvbbit_assets.store import ClickHouseStore

defs = Definitions(
    assets=[*source_assets, *per_run_assets, *refreshed_after_runs],
    asset_checks=pipeline_checks,
    sensors=[new_cascade_sessions],
    resources={"store": ClickHouseStore.from_env_vars()},
    # One process per run: the embedded store allows one process at a time, and process
    # start-up dominates the short steps of this pipeline.
    executor=in_process_executor,
)
