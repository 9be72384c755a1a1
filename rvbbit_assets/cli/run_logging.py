"""Which loggers a run gets, chosen through Dagster's own logger configuration.

Every event of a run goes to the Dagster instance whatever its loggers (that is where the UI
reads it); the loggers only decide what the terminal shows: every event (`--verbose`, Dagster's
console logger at DEBUG), the progress of the run (`RunProgress`), or warnings only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from dagster import (
    AssetsDefinition,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    LoggerDefinition,
    colored_console_logger,
    define_asset_job,
)

from rvbbit_assets.cli.event_log_kept_open import event_log_kept_open
from rvbbit_assets.cli.run_progress import RunProgress
from rvbbit_assets.store import ClickHouseStore

JOB_NAME = "__ephemeral_asset_job__"  # the name `dagster.materialize` gives its job


@dataclass(frozen=True)
class RunLogging:
    loggers: Mapping[str, LoggerDefinition]
    config: Mapping[str, Any]  # the run config's `loggers`: which of them run, at what level

    @classmethod
    def choose(cls, progress: RunProgress | None, verbose: bool) -> RunLogging:
        if verbose:
            return cls.console("DEBUG")
        if progress is not None:
            return cls({"progress": progress.logger()}, {"progress": {"config": {}}})
        return cls.console("WARNING")

    @classmethod
    def console(cls, level: str) -> RunLogging:
        return cls({"console": colored_console_logger},
                   {"console": {"config": {"log_level": level}}})


def execute_assets(
    assets: Sequence[AssetsDefinition],
    store: ClickHouseStore,
    instance: DagsterInstance,
    logging: RunLogging,
    tags: Mapping[str, str] | None = None,
) -> ExecuteInProcessResult:
    """`dagster.materialize(assets, ...)` with the run's loggers: the Definitions carry them,
    the run config selects them. Failures are in the result, not raised. The run's event
    log is held open meanwhile (event_log_kept_open.py)."""
    defs = Definitions(
        assets=list(assets),
        jobs=[define_asset_job(JOB_NAME)],
        resources={"store": store},
        loggers=dict(logging.loggers),
    )
    run_id = str(uuid4())  # as Dagster makes one, known before the run to hold its log open
    with event_log_kept_open(instance, run_id):
        return defs.resolve_job_def(JOB_NAME).execute_in_process(
            run_config={"loggers": dict(logging.config)},
            instance=instance,
            tags=tags,
            raise_on_error=False,
            run_id=run_id,
        )
