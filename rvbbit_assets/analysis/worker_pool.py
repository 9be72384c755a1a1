"""Worker processes for the pipeline's CPU-bound Python work (input scoring, model fits).

'forkserver', not fork: the calling process holds chDB and running threads, which a plain
fork would copy in an unsafe state. Callers fall back to working in-process on
`POOL_FAILURES` (no worker processes in this environment, or one died): same results.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import current_process, forkserver, get_context

POOL_FAILURES = (BrokenProcessPool, OSError)

# What the workers run (cost_estimators brings scikit-learn, which cost_model imports only
# where it makes an estimator). Each worker also imports what the program's main module does
# (it runs that module again, under another name, before its first job).
_WORKER_MODULES = (
    "rvbbit_assets.analysis.cost_model",
    "rvbbit_assets.analysis.cost_estimators",
    "rvbbit_assets.analysis.input_complexity",
)


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def pool_allowed() -> bool:
    """A second core exists and this process may start children (a daemonic one may not)."""
    return available_cpus() >= 2 and not current_process().daemon


def start_forkserver(program_module: str) -> None:
    """Start the workers' forkserver now, with `program_module` (what the program's main module
    imports) and the workers' modules imported, beside this process's own imports. A worker
    forked from it starts in milliseconds, where one forked from a bare forkserver (the first
    pool's) spent 2-2.7 s of CPU importing Dagster, pandas and scikit-learn."""
    if pool_allowed():
        get_context("forkserver").set_forkserver_preload([program_module, *_WORKER_MODULES])
        forkserver.ensure_running()


def worker_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("forkserver"))
