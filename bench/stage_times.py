"""What a bench reads back from a pipeline run: each Dagster step's seconds and peak RSS."""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from dagster import DagsterEventType, DagsterInstance

Span = tuple[float, float]  # wall-clock start and end, time.time()


class RssSampler:
    """Samples a process's resident set every few milliseconds in a thread, so each step's
    peak can be read afterwards from its span."""

    def __init__(self, pid: int | None = None, interval: float = 0.02) -> None:
        self._path = f"/proc/{pid or os.getpid()}/status"
        self._interval = interval
        self.samples: list[tuple[float, float]] = []  # (time.time(), GB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with open(self._path) as status:
                    for line in status:
                        if line.startswith("VmRSS:"):
                            self.samples.append((time.time(), int(line.split()[1]) / 1e6))
                            break
            except OSError:  # the process has ended
                return
            self._stop.wait(self._interval)

    def peak(self, spans: Sequence[Span] | None = None) -> float:
        """The highest sample (within `spans`, when given)."""
        return max(
            (rss for at, rss in self.samples
             if spans is None or any(start <= at <= end for start, end in spans)),
            default=0.0,
        )


def step_spans(instance: DagsterInstance) -> dict[str, list[Span]]:
    """When each step (asset or check) of every run in the instance ran, by step key; and
    `(runs)`: each run from its first event to its last."""
    spans: dict[str, list[Span]] = {"(runs)": []}
    for run in instance.get_runs():
        records = instance.all_logs(run.run_id)
        started: dict[str, float] = {}
        for record in records:
            event = record.dagster_event
            if event is None:
                continue
            if event.event_type == DagsterEventType.STEP_START:
                started[event.step_key] = record.timestamp
            elif event.event_type in (DagsterEventType.STEP_SUCCESS,
                                      DagsterEventType.STEP_FAILURE):
                key = event.step_key
                spans.setdefault(key, []).append((started[key], record.timestamp))
        if records:
            spans["(runs)"].append((records[0].timestamp, records[-1].timestamp))
    return spans


def stage_table(instance: DagsterInstance, sampler: RssSampler) -> dict[str, dict[str, float]]:
    """Each step's seconds and peak RSS in GB, slowest first; `(runs)` is the runs' total."""
    table = {
        step: {"seconds": round(sum(end - start for start, end in spans), 2),
               "peak_rss_gb": round(sampler.peak(spans), 2)}
        for step, spans in step_spans(instance).items()
    }
    return dict(sorted(table.items(), key=lambda kv: -kv[1]["seconds"]))


def cpu_seconds() -> float:
    """CPU time of this process (all its threads) and of its children waited for: less
    sensitive than wall time to other work on a shared machine."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@dataclass(frozen=True)
class Timed:
    seconds: float
    cpu_seconds: float  # the command's and every process it started (workers included)
    peak_rss_gb: float  # from wait4: the command's own peak
    stdout: str
    rss: RssSampler


_PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def run_timed(command: Sequence[str], env: dict[str, str]) -> Timed:
    """Run a command to completion, timed, its resident set sampled meanwhile.

    Its CPU counts the processes it leaves running, too: the CLI's workers hang off a
    forkserver nobody waits for, which wait4 on the command alone misses (about 6 s at 40k).
    As their subreaper this process inherits them, and waits for them after the command."""
    ctypes.CDLL(None).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=out, stderr=err, text=True)
        with RssSampler(child.pid) as rss:
            _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        while True:  # the processes it left behind
            try:
                os.wait()
            except ChildProcessError:
                break
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode:
            raise SystemExit(f"{' '.join(command)} failed ({child.returncode}):\n"
                             f"{err.read()[-4000:]}")
        cpu = (children.ru_utime + children.ru_stime
               - children_before.ru_utime - children_before.ru_stime)
        return Timed(seconds, cpu, usage.ru_maxrss / 1e6, out.read(), rss)
