"""The progress of a materialization on the terminal, read from its Dagster events.

`RunProgress.logger()` is a Dagster logger (a run's loggers receive every event of the run).
It keeps a status line (stages done of all, the stage running, checks done, runs found) and
prints, as lines that stay, each finished stage when there is no terminal to redraw, every
warning, failed check and failed step. The full event stream still goes to the Dagster
instance, whatever the run's loggers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from dagster import DagsterEvent, DagsterEventType, InitLoggerContext, LoggerDefinition

from rvbbit_assets.cli.progress_line import ProgressLine

# The stage whose row count is the number of finished runs of the days.
RUNS_STAGE = "session_facts"
ROW_COUNT = "dagster/row_count"


class RunProgress:
    def __init__(self, line: ProgressLine, what: str, stages: Sequence[str], checks: int) -> None:
        self.line = line
        self.what = what
        self.stages = list(stages)
        self.checks = checks
        self.done: list[str] = []
        self.checks_done = 0
        self.failed_checks: set[str] = set()
        self.failed_steps: list[str] = []
        self.running = ""
        self.runs: int | None = None

    def logger(self) -> LoggerDefinition:
        """A logger definition whose loggers report to this progress."""

        def build(_: InitLoggerContext) -> logging.Logger:
            handler = _Handler(self)
            # Not registered with `logging`: one logger per run, dropped with it.
            log = logging.Logger("rvbbit_assets.progress", logging.DEBUG)
            log.addHandler(handler)
            return log

        return LoggerDefinition(build, description="progress of the run on the terminal")

    # --- events ----------------------------------------------------------------------------

    def record(self, record: logging.LogRecord) -> None:
        event: DagsterEvent | None = record.__dict__.get("dagster_event")
        if event is None:
            # Warnings (a busy store, an alert not delivered) stay on screen; errors arrive
            # as the failed step or check events below.
            if record.levelno == logging.WARNING:
                self.line.note(f"  warning: {_message(record)}")
            return
        step = event.step_key or ""
        kind = event.event_type
        if kind == DagsterEventType.STEP_START:
            self.running = step
        elif kind == DagsterEventType.STEP_SUCCESS:
            self._step_succeeded(step)
        elif kind == DagsterEventType.STEP_FAILURE:
            self.failed_steps.append(step)
            self.line.note(f"  FAILED {step}: {_error(event)}")
        elif kind == DagsterEventType.STEP_UP_FOR_RETRY:
            self.line.note(f"  {step} will be retried: {_error(event)}")
        elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
            self._check_evaluated(event)
        elif kind == DagsterEventType.ASSET_MATERIALIZATION and self.runs is None:
            materialization = event.event_specific_data.materialization
            if materialization.asset_key.to_user_string() == RUNS_STAGE:
                count = materialization.metadata.get(ROW_COUNT)
                self.runs = int(count.value) if count is not None else None
        self.line.status(self.status())

    def _check_evaluated(self, event: DagsterEvent) -> None:
        evaluation = event.event_specific_data
        if not evaluation.passed:
            name = f"{evaluation.asset_key.to_user_string()}.{evaluation.check_name}"
            self.failed_checks.add(name)
            day = f" {evaluation.partition}" if evaluation.partition else ""
            self.line.note(f"  check FAILED {name}{day}: {evaluation.description}")

    def _step_succeeded(self, step: str) -> None:
        self.running = ""
        if step not in self.stages:
            self.checks_done += 1
            return
        self.done.append(step)
        if not self.line.live:  # on a terminal, the status line says it
            self.line.note(f"  {len(self.done)}/{len(self.stages)} {step} done"
                           f" ({self.line.elapsed})")

    def status(self) -> str:
        parts = [f"{self.what}: {len(self.done)}/{len(self.stages)} stages"]
        if self.running in self.stages:
            parts.append(f"{self.running} running")
        parts.append(f"checks {self.checks_done}/{self.checks}")
        if self.runs is not None:
            parts.append(f"{self.runs:,} runs")
        return " · ".join(parts)


class _Handler(logging.Handler):
    def __init__(self, progress: RunProgress) -> None:
        super().__init__(logging.DEBUG)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        self.progress.record(record)


def _message(record: logging.LogRecord) -> str:
    """What the step logged, without Dagster's "job - run id - step -" prefix."""
    meta = record.__dict__.get("dagster_meta") or {}
    return meta.get("orig_message") or record.getMessage()


def _error(event: DagsterEvent) -> str:
    error = getattr(event.event_specific_data, "error", None)
    message = error.message.strip() if error is not None else event.message or ""
    return message.splitlines()[0] if message else "(no message)"
