"""What the page shows, read from the analytics tables in one short store session.

Read only; the SQL is in the `.sql` files beside this module. The store is held only while
`load_page_data` reads; rendering happens after it is released.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from rvbbit_assets.analysis.forecasting import HISTORY_DAYS, TOTAL, daily_series
from rvbbit_assets.serving.page.formatting import finite
from rvbbit_assets.serving.reads.pareto import frontier_rows
from rvbbit_assets.serving.reads.patterns import species_patterns
from rvbbit_assets.serving.views import records
from rvbbit_assets.store import StoreSession
from rvbbit_assets.store.daily_costs import daily_costs
from rvbbit_assets.store.sql_files import load_sql

RECENT_RUNS = 50
FLAGGED_RUNS = 20
RECENT_REGRESSIONS = 20
PARETO_ROWS = 20
PATTERN_SPECIES = 12
PATTERNS_PER_SPECIES = 3
PAGE_TABLES = ("cascade_analytics", "forecasts", "forecast_weekly", "pareto_frontier",
               "prompt_patterns")


@dataclass(frozen=True)
class Summary:
    run_count: int
    first_run_at: datetime | None
    last_run_at: datetime | None
    total_cost: float
    # ours
    cost_anomalies: int
    cost_anomaly_impact_usd: float  # actual minus expected cost, over the cost anomalies
    duration_anomalies: int
    significant_regressions: int
    flagged_runs: int  # runs with any of our flags
    # the design's
    cost_outliers: int  # |z| > 2
    regressions: int


@dataclass(frozen=True)
class ForecastChart:
    """One series: its daily costs up to the forecast origin and the forecast after it."""

    cascade_id: str  # TOTAL for all cascades together
    history: list[tuple[date, float]]
    forecast: list[tuple[date, float, float, float]]  # day, predicted, lower, upper
    trend: str  # the design's: the sign of its line's slope
    confidence: float  # the design's: R² of that line
    trend_significant: str  # ours: flat unless the slope is significant
    projected_cost: float
    plus_minus: float
    coverage: float


@dataclass(frozen=True)
class PageData:
    tables_missing: tuple[str, ...]
    summary: Summary | None = None
    flagged_runs: tuple[dict[str, Any], ...] = ()  # newest first, by our detection
    recent_runs: tuple[dict[str, Any], ...] = ()
    regressions: tuple[dict[str, Any], ...] = ()  # the design's
    charts: tuple[ForecastChart, ...] = ()
    pareto: tuple[dict[str, Any], ...] = ()
    pareto_total: int = 0
    patterns: tuple[dict[str, Any], ...] = ()  # by species (reads.patterns.species_patterns)
    pattern_species_total: int = 0


def _sql(name: str) -> str:
    return load_sql(__file__, name)


def _runs(session: StoreSession, which: str, limit: int) -> tuple[dict[str, Any], ...]:
    return tuple(records(session, _sql("runs"), {"list": which, "limit": limit}))


def load_page_data(session: StoreSession) -> PageData:
    """Everything the page shows (a notice's worth when the tables or runs are missing)."""
    present = {row[0] for row in session.rows(_sql("tables"),
                                              {"db": session.analytics_database})}
    missing = tuple(table for table in PAGE_TABLES if table not in present)
    if missing:
        return PageData(tables_missing=missing)
    (totals,) = records(session, _sql("summary"), {})
    any_runs = bool(totals["run_count"])
    summary = Summary(
        run_count=int(totals["run_count"]),
        first_run_at=totals["first_run_at"] if any_runs else None,
        last_run_at=totals["last_run_at"] if any_runs else None,
        total_cost=finite(totals["total_cost"]) or 0.0,
        cost_anomalies=int(totals["cost_anomalies"]),
        cost_anomaly_impact_usd=finite(totals["cost_anomaly_impact_usd"]) or 0.0,
        duration_anomalies=int(totals["duration_anomalies"]),
        significant_regressions=int(totals["significant_regressions"]),
        flagged_runs=int(totals["flagged_runs"]),
        cost_outliers=int(totals["cost_outliers"]),
        regressions=int(totals["regressions"]),
    )
    if not any_runs:
        return PageData(tables_missing=(), summary=summary)
    pareto, pareto_total = frontier_rows(session, None, advised_only=True, limit=PARETO_ROWS)
    patterns, pattern_species = species_patterns(
        session, None, per_species=PATTERNS_PER_SPECIES, species_limit=PATTERN_SPECIES)
    return PageData(
        tables_missing=(),
        summary=summary,
        flagged_runs=_runs(session, "flagged", FLAGGED_RUNS),
        recent_runs=_runs(session, "recent", RECENT_RUNS),
        regressions=_runs(session, "regressions", RECENT_REGRESSIONS),
        charts=tuple(_forecast_charts(session)),
        pareto=tuple(pareto),
        pareto_total=pareto_total,
        patterns=tuple(patterns),
        pattern_species_total=pattern_species,
    )


def _forecast_charts(session: StoreSession) -> list[ForecastChart]:
    """Each forecast series with the daily costs of the HISTORY_DAYS up to its origin (the
    days the forecast was fitted on, days without runs as zero): the total first, then by
    projected weekly cost, largest first."""
    rows = records(session, _sql("forecasts"), {})
    if not rows:
        return []
    history_end: date = max(row["history_end"] for row in rows)
    window_start = history_end - timedelta(days=HISTORY_DAYS - 1)
    history = daily_series(daily_costs(session, window_start, history_end), history_end)
    by_series: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_series.setdefault(row["cascade_id"], []).append(row)
    charts = []
    for cascade_id, days in by_series.items():
        series = history.get(cascade_id)
        first = days[0]
        charts.append(
            ForecastChart(
                cascade_id=cascade_id,
                history=[] if series is None else [
                    (day, float(cost)) for day, cost in series.items() if day >= window_start
                ],
                forecast=[
                    (row["day"], float(row["predicted_cost"]), float(row["lower_bound"]),
                     float(row["upper_bound"]))
                    for row in days
                ],
                trend=first["trend"],
                confidence=float(first["confidence"]),
                trend_significant=first["trend_significant"],
                projected_cost=float(first["projected_cost"]),
                plus_minus=float(first["plus_minus"]),
                coverage=float(first["coverage"]),
            )
        )
    charts.sort(key=lambda chart: (chart.cascade_id != TOTAL, -chart.projected_cost,
                                   chart.cascade_id))
    return charts
