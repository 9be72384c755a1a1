"""Several cost-model versions trained at once: in this process and in one worker beside it.

A backfill trains a version per week, and each fit runs on one core (cost_model.py says
why), so the second core takes a share of the versions. A version's model is the same
whichever process fits it.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from datetime import datetime

import pandas as pd

from rvbbit_assets.analysis.cost_model import CostModelVersion, train_version
from rvbbit_assets.analysis.worker_pool import POOL_FAILURES, pool_allowed, worker_pool

# A job: the version's training window, its week's Monday, and the window's fingerprint.
TrainingJob = tuple[pd.DataFrame, datetime, str]

# Rough costs in training rows' worth: a fit's fixed cost (its 75 trees), and the worker's
# start (a process importing pandas and scikit-learn), below which a worker does not pay.
_FIT_OVERHEAD_ROWS = 15_000
_WORKER_START_ROWS = 60_000


def train_versions(jobs: Sequence[TrainingJob]) -> list[CostModelVersion | None]:
    """`train_version` of each job, in order."""
    if not _worth_a_worker(jobs) or not pool_allowed():
        return [train_version(*job) for job in jobs]
    results: dict[int, CostModelVersion | None] = {}
    biggest_first = sorted(range(len(jobs)), key=lambda i: -len(jobs[i][0]))
    try:
        with worker_pool(1) as pool:
            # The worker takes the versions smallest first and this process biggest first,
            # taking back each one the worker has not started: they meet where the loads are
            # even, however long the worker took to start.
            futures = {i: pool.submit(train_version, *jobs[i]) for i in reversed(biggest_first)}
            for i in biggest_first:
                if not _taken_back(futures[i]):
                    break
                results[i] = train_version(*jobs[i])
            results |= {i: future.result() for i, future in futures.items() if i not in results}
    except POOL_FAILURES:
        pass  # what the worker did not train is trained here
    for i in range(len(jobs)):
        if i not in results:
            results[i] = train_version(*jobs[i])
    return [results[i] for i in range(len(jobs))]


def _taken_back(future: Future) -> bool:
    """Whether the worker's job was taken back (it had not started it)."""
    return future.cancel()


def _worth_a_worker(jobs: Sequence[TrainingJob]) -> bool:
    """Would the worker get a version, each given biggest first to the less loaded process,
    the worker's start counted? (A few small versions are all trained here: a worker would
    not pay.)"""
    load_here = 0
    for size in sorted((len(job[0]) for job in jobs), reverse=True):
        if load_here > _WORKER_START_ROWS:
            return True
        load_here += _FIT_OVERHEAD_ROWS + size
    return False
