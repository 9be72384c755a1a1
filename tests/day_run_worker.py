"""Run the per-run set over one day as one Dagster run, in a process of its own.

    python tests/day_run_worker.py YYYY-MM-DD [HOLDS_FILE]

On the instance of DAGSTER_HOME and the store of the RVBBIT_* environment; prints the run id.
With HOLDS_FILE, it also writes there when it held the store: a line per hold, the Unix
times just after it took the lock and just before it let go.
Dagster's in-process execution is not thread-safe, so tests that launch runs at the same
time launch them as processes, as the daemon does.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from dagster import DagsterInstance, materialize

from rvbbit_assets.assets.pipeline import per_run_assets
from rvbbit_assets.checks import pipeline_checks
from rvbbit_assets.orchestration.day_range import RANGE_END_TAG, RANGE_START_TAG
from rvbbit_assets.store import ClickHouseStore
from rvbbit_assets.store.embedded_lock import EmbeddedLock

HOLDS: list[list[float]] = []


def _record_holds() -> None:
    """Note each hold of the store's lock (the store itself runs as it always does)."""
    take, let_go = EmbeddedLock._open, EmbeddedLock._close

    def taken(*args: object) -> None:
        take(*args)
        HOLDS.append([time.time()])

    def letting_go() -> None:
        HOLDS[-1].append(time.time())
        let_go()

    EmbeddedLock._open, EmbeddedLock._close = staticmethod(taken), staticmethod(letting_go)


if __name__ == "__main__":
    day, *holds_file = sys.argv[1:]
    if holds_file:
        _record_holds()
    with DagsterInstance.get() as instance:
        result = materialize(
            [*per_run_assets, *pipeline_checks], resources={"store": ClickHouseStore()},
            instance=instance, tags={RANGE_START_TAG: day, RANGE_END_TAG: day},
            raise_on_error=False,
        )
    if holds_file:
        EmbeddedLock.close_idle()  # the last hold ends here, not at exit
        Path(holds_file[0]).write_text("\n".join(json.dumps(hold) for hold in HOLDS))
    print(result.run_id)
    sys.exit(0 if result.success else 1)
