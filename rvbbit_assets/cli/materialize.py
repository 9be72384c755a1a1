"""Headless analysis: every finished run of a span of days as one single-run backfill."""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path

from dagster import DagsterInstance, ExecuteInProcessResult

from rvbbit_assets.assets.history import unanalysed_earlier_days
from rvbbit_assets.assets.per_run import HISTORY_TABLES
from rvbbit_assets.assets.pipeline import per_run_assets, refreshed_after_runs, store_asset_keys
from rvbbit_assets.checks import pipeline_checks
from rvbbit_assets.cli.materialize_summary import MaterializeOutcome, StoreFigures, day_count
from rvbbit_assets.cli.progress_line import ProgressLine
from rvbbit_assets.cli.run_logging import RunLogging, execute_assets
from rvbbit_assets.cli.run_progress import RunProgress
from rvbbit_assets.config import Settings
from rvbbit_assets.orchestration.day_range import RANGE_END_TAG, RANGE_START_TAG, DayRange, utc_now
from rvbbit_assets.orchestration.run_exclusion import ensure_store_pool, wait_for_store_runs
from rvbbit_assets.store import ClickHouseStore
from rvbbit_assets.store.migrations import apply_migrations
from rvbbit_assets.store.source_span import source_day_span


def dagster_instance() -> DagsterInstance:
    """The instance of DAGSTER_HOME (created when missing), or a temporary one when it is unset."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return DagsterInstance.ephemeral()
    Path(home).mkdir(parents=True, exist_ok=True)
    return DagsterInstance.get()


def materialize_days(
    start: date | None = None,
    end: date | None = None,
    store: ClickHouseStore | None = None,
    instance: DagsterInstance | None = None,
    refresh_downstream: bool = True,
    progress: ProgressLine | None = None,
    verbose: bool = False,
) -> MaterializeOutcome:
    """Analyse the days; `progress` shows how it goes, `verbose` prints every Dagster event
    (both go to the instance either way; with neither, the terminal gets warnings only)."""
    started = time.monotonic()
    store = store or ClickHouseStore()
    settings: Settings = store.settings()
    instance = instance or dagster_instance()
    # One run writes the store at a time: wait for a sensor's (or the UI's) run to finish.
    ensure_store_pool(instance)
    wait_for_store_runs(instance, store_asset_keys, settings.lock_timeout_seconds)
    # The steps run in this process, one after another: holding the store from here to the
    # end lets them (and the look for days) share one open engine (opening chDB costs more
    # as the store grows).
    with store.session("rvbbit-analytics materialize") as session:
        # A checkout newer than the store's schema: our own tables are brought up to date as
        # `init` would, rather than a stage failing on a table it does not find.
        migrated = tuple(apply_migrations(session))
        found = source_day_span(store)
        first = max(start or (found.days.first if found.days else settings.partitions_start),
                    settings.partitions_start)
        last = end or (found.days.last if found.days else utc_now().date())
        context = dict(partitions_start=settings.partitions_start,
                       first_run_day=found.first_run_day,
                       runs_before_partitions_start=found.runs_before_partitions_start,
                       kept_in_instance=not instance.is_ephemeral,
                       migrations_applied=migrated)
        if found.days is None and start is None:
            return MaterializeOutcome(days=None, success=True, run_ids=(), **context)
        results: list[ExecuteInProcessResult] = []
        # Later days compare with earlier ones: start at an earlier day never analysed.
        earlier = unanalysed_earlier_days(session, first, HISTORY_TABLES)
        days = DayRange(earlier[0] if earlier else first, last)
        stages = [a.key.to_user_string() for a in per_run_assets]
        if refresh_downstream:
            stages += [a.key.to_user_string() for a in refreshed_after_runs]
        checks = sum(len(c.check_keys) for c in pipeline_checks)
        watch = (RunProgress(progress, f"Analysing {days}", stages, checks)
                 if progress is not None and not verbose else None)
        logging = RunLogging.choose(watch, verbose)
        if progress is not None:
            progress.note(f"Analysing {days} ({day_count(days)}): {len(stages)} stages and "
                          f"{checks} data-quality checks.")
        results.append(execute_assets(
            [*per_run_assets, *pipeline_checks],  # blocking checks stop a bad day early
            store, instance, logging,
            tags={RANGE_START_TAG: days.first.isoformat(), RANGE_END_TAG: days.last.isoformat()},
        ))
        if results[-1].success and refresh_downstream and refreshed_after_runs:
            results.append(execute_assets(refreshed_after_runs, store, instance, logging))
        figures = StoreFigures.read(session, days)
    if progress is not None:
        progress.close()
    return MaterializeOutcome(
        days=days,
        success=results[-1].success,
        run_ids=tuple(r.run_id for r in results),
        figures=figures,
        failed_steps=tuple(watch.failed_steps) if watch else (),
        failed_checks=tuple(sorted(watch.failed_checks)) if watch else (),
        seconds=time.monotonic() - started,
        unanalysed_earlier_days=len(earlier),
        asked_from=first,
        **context,
    )
