"""What `materialize` did, read back from the store, as a short summary for people."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from rvbbit_assets.cli.progress_line import elapsed_text
from rvbbit_assets.orchestration.day_range import DayRange
from rvbbit_assets.store import StoreSession


def day_count(days: DayRange) -> str:
    """`1 day`, `30 days`."""
    count = len(days.days)
    return f"{count} day{'' if count == 1 else 's'}"


@dataclass(frozen=True)
class StoreFigures:
    """cascade_analytics over the days: runs, and what our flags and the design's found."""

    analysed_runs: int = 0
    cost_anomalies: int = 0
    significant_regressions: int = 0
    cost_outliers: int = 0
    regressions: int = 0
    total_cost: float = 0.0

    @classmethod
    def read(cls, session: StoreSession, days: DayRange) -> StoreFigures:
        (runs, anomalies, significant, outliers, regressions, cost), = session.rows(
            "SELECT count(), countIf(is_cost_anomaly), countIf(is_regression_significant),"
            " countIf(is_cost_outlier), countIf(is_regression), sum(total_cost)"
            " FROM ${analytics}.cascade_analytics"
            " WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}",
            days.params(),
        )
        return cls(int(runs), int(anomalies), int(significant), int(outliers),
                   int(regressions), float(cost or 0.0))


@dataclass(frozen=True)
class MaterializeOutcome:
    days: DayRange | None
    success: bool
    run_ids: tuple[str, ...]
    partitions_start: date
    first_run_day: date | None
    runs_before_partitions_start: int
    kept_in_instance: bool  # False: a temporary Dagster instance, gone with the process
    figures: StoreFigures = StoreFigures()
    failed_steps: tuple[str, ...] = ()
    failed_checks: tuple[str, ...] = ()
    seconds: float = 0.0
    unanalysed_earlier_days: int = 0  # earlier days with runs never analysed: started there
    asked_from: date | None = None
    migrations_applied: tuple[str, ...] = ()  # the store's schema was behind this code

    @property
    def run_id(self) -> str | None:
        return self.run_ids[-1] if self.run_ids else None

    @property
    def analysed_runs(self) -> int:
        return self.figures.analysed_runs

    def summary(self) -> str:
        migrated = ([f"Brought the analytics schema up to date first: applied "
                     f"{', '.join(self.migrations_applied)}."]
                    if self.migrations_applied else [])
        if self.days is None:
            return "\n".join([*migrated, "No runs to analyse in the source tables."])
        f = self.figures
        took = elapsed_text(self.seconds)
        if self.success:
            lines = [f"Analysed {f.analysed_runs:,} runs of {self.days} "
                     f"({day_count(self.days)}) in {took}; "
                     "every data-quality check passed.",
                     f"  Our flags: {f.cost_anomalies:,} cost anomalies, "
                     f"{f.significant_regressions:,} significant regressions.",
                     f"  The design's flags: {f.cost_outliers:,} cost outliers (|z| > 2), "
                     f"{f.regressions:,} regressions.  Cost of these runs: ${f.total_cost:,.2f}."]
        else:
            failed = ", ".join((*self.failed_checks, *self.failed_steps)) or "a step"
            lines = [f"Analysis of {self.days} FAILED after {took}: {failed}.",
                     f"  {f.analysed_runs:,} runs of those days are in cascade_analytics; "
                     "rerun with --verbose for every Dagster event."]
        runs = ("runs " if len(self.run_ids) > 1 else "run ") + " and ".join(
            run_id[:8] for run_id in self.run_ids)
        lines.append(
            f"  Dagster {runs}: in the Dagster UI." if self.kept_in_instance else
            f"  Dagster {runs}: in a temporary instance, gone when this ends (set DAGSTER_HOME "
            "to keep runs for the UI).")
        if self.unanalysed_earlier_days:
            lines.append(
                f"  Started at {self.days.first}, not {self.asked_from}: "
                f"{self.unanalysed_earlier_days} earlier days had runs never analysed, and "
                "later days are compared with them.")
        if self.runs_before_partitions_start:
            lines.append(f"  Left out: {self.runs_before_partitions_start:,} runs started "
                         f"before RVBBIT_PARTITIONS_START ({self.partitions_start}).")
        elif self.first_run_day is not None and self.partitions_start < self.first_run_day:
            lines.append(
                f"  Dagster's daily partitions start {self.partitions_start}, "
                f"{(self.first_run_day - self.partitions_start).days} days before the first "
                f"run: export RVBBIT_PARTITIONS_START={self.first_run_day} to start them "
                "with the data (make run does).")
        return "\n".join([*migrated, *lines])
