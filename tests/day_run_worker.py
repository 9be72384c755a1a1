"""Run the per-run set over one day as one Dagster run, in a process of its own.

    python tests/day_run_worker.py YYYY-MM-DD

On the instance of DAGSTER_HOME and the store of the RVBBIT_* environment; prints the run id.
Dagster's in-process execution is not thread-safe, so tests that launch runs at the same
time launch them as processes, as the daemon does.
"""

from __future__ import annotations

import sys

from dagster import DagsterInstance, materialize

from rvbbit_assets.assets.pipeline import per_run_assets
from rvbbit_assets.checks import pipeline_checks
from rvbbit_assets.orchestration.day_range import RANGE_END_TAG, RANGE_START_TAG
from rvbbit_assets.store import ClickHouseStore

if __name__ == "__main__":
    (day,) = sys.argv[1:]
    with DagsterInstance.get() as instance:
        result = materialize(
            [*per_run_assets, *pipeline_checks], resources={"store": ClickHouseStore()},
            instance=instance, tags={RANGE_START_TAG: day, RANGE_END_TAG: day},
            raise_on_error=False,
        )
    print(result.run_id)
    sys.exit(0 if result.success else 1)
