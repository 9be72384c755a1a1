"""Several cost-model versions trained at once: in this process and in one worker beside it.

A backfill trains a version per week, and each fit runs on one core (cost_model.py says
why), so the second core takes a share of the versions. A version's model is the same
whichever process fits it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd

from rvbbit_assets.analysis.cost_model import CostModelVersion, train_version
from rvbbit_assets.analysis.worker_pool import POOL_FAILURES, pool_allowed, worker_pool

# A job: the version's training window, its week's Monday, and the window's fingerprint.
TrainingJob = tuple[pd.DataFrame, datetime, str]

# Rough costs in training rows' worth: a fit's fixed cost (its 75 trees), and the worker's
# start (a process importing pandas and scikit-learn), so it takes fewer versions.
_FIT_OVERHEAD_ROWS = 15_000
_WORKER_START_ROWS = 60_000


def train_versions(jobs: Sequence[TrainingJob]) -> list[CostModelVersion | None]:
    """`train_version` of each job, in order."""
    here, there = _share_out(jobs)
    if not there or not pool_allowed():
        return [train_version(*job) for job in jobs]
    results: dict[int, CostModelVersion | None] = {}
    try:
        with worker_pool(1) as pool:
            futures = {i: pool.submit(train_version, *jobs[i]) for i in there}
            results |= {i: train_version(*jobs[i]) for i in here}
            results |= {i: future.result() for i, future in futures.items()}
    except POOL_FAILURES:
        pass  # what the worker did not train is trained here
    for i in range(len(jobs)):
        if i not in results:
            results[i] = train_version(*jobs[i])
    return [results[i] for i in range(len(jobs))]


def _share_out(jobs: Sequence[TrainingJob]) -> tuple[list[int], list[int]]:
    """Job indexes for this process and for the worker, biggest first to the less loaded
    (so a few small versions are all trained here: a worker would not pay)."""
    here: list[int] = []
    there: list[int] = []
    load_here, load_there = 0, _WORKER_START_ROWS
    for i in sorted(range(len(jobs)), key=lambda i: -len(jobs[i][0])):
        cost = _FIT_OVERHEAD_ROWS + len(jobs[i][0])
        if load_here <= load_there:
            here.append(i)
            load_here += cost
        else:
            there.append(i)
            load_there += cost
    return here, there
