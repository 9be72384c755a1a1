"""Worker processes for the pipeline's CPU-bound Python work (input scoring, model fits).

'forkserver', not fork: the calling process holds chDB and running threads, which a plain
fork would copy in an unsafe state. Callers fall back to working in-process on
`POOL_FAILURES` (no worker processes in this environment, or one died): same results.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import current_process, get_context

POOL_FAILURES = (BrokenProcessPool, OSError)


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def pool_allowed() -> bool:
    """A second core exists and this process may start children (a daemonic one may not)."""
    return available_cpus() >= 2 and not current_process().daemon


def worker_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("forkserver"))
