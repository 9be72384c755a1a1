"""robust_detection: robust anomaly scores and significant regressions, beside the design's.

The design's z-scores and "last 10 against the 10 before" stay as they are; measured on the
demo's planted effects (bench/detection_bench.py) they flag several percent of ordinary runs
and miss most runs of a species that really regressed. This stage computes what we
recommend instead; robust_detection_sql.py holds the statistics.
"""

from dataclasses import asdict, dataclass
from datetime import date

from dagster import AssetExecutionContext, MaterializeResult

from rvbbit_assets.assets.history import run_stage_over_history
from rvbbit_assets.assets.input_clusters import input_clusters
from rvbbit_assets.assets.per_run import StageSummary, per_run_asset
from rvbbit_assets.assets.robust_detection_sql import robust_detection_sql
from rvbbit_assets.assets.session_facts import session_facts
from rvbbit_assets.config import env_float
from rvbbit_assets.day_partitions import DayRange, replace_days
from rvbbit_assets.store import ClickHouseStore, StoreSession

# Each query holds up to 350 earlier runs per run it scores: whole days up to this many
# runs at a time bound its memory (a million-run backfill peaked near 9 GB per day of 35k
# runs), while small ranges still take one query.
RUNS_PER_QUERY = 40_000


@dataclass(frozen=True)
class DetectionSettings:
    lookback_days: int = 30  # prior runs older than this are not compared with
    min_prior_runs: int = 10  # fewer prior runs: score 0 (species: twice this, p NULL)
    threshold: float = 3.5  # the usual modified-z cut-off
    alpha: float = 0.01  # significance level of the regression test

    @classmethod
    def from_env(cls) -> "DetectionSettings":
        return cls(
            lookback_days=int(env_float("RVBBIT_DETECTION_LOOKBACK_DAYS", 30, 1, 366)),
            min_prior_runs=int(env_float("RVBBIT_DETECTION_MIN_PRIOR_RUNS", 10, 2, 100)),
            threshold=env_float("RVBBIT_ANOMALY_THRESHOLD", 3.5, 0.5, 100),
            alpha=env_float("RVBBIT_REGRESSION_ALPHA", 0.01, 1e-9, 0.5),
        )


def runs_per_day(session: StoreSession, days: DayRange) -> dict[date, int]:
    return dict(session.rows(
        "SELECT toDate(created_at), count() FROM ${analytics}.session_facts"
        " WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime} GROUP BY 1",
        days.params(),
    ))


def build_robust_detection(
    session: StoreSession, days: DayRange, settings: DetectionSettings | None = None
) -> StageSummary:
    settings = settings or DetectionSettings.from_env()
    rows = replace_days(
        session,
        "robust_detection",
        robust_detection_sql(),
        days.params() | asdict(settings),
        days,
        chunks=days.chunks(runs_per_day(session, days), RUNS_PER_QUERY),
    )
    (cost, duration, regressions, by_input), = session.rows(
        "SELECT countIf(is_cost_anomaly), countIf(is_duration_anomaly),"
        " countIf(is_regression_significant), countIf(baseline_kind = 'input')"
        " FROM ${analytics}.robust_detection"
        " WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}",
        days.params(),
    )
    return {
        "dagster/row_count": rows,
        "cost_anomalies": cost,
        "duration_anomalies": duration,
        "significant_regressions": regressions,
        "runs_scored_against_their_input": by_input,
        **{f"setting_{name}": value for name, value in asdict(settings).items()},
    }


@per_run_asset(
    deps=[session_facts, input_clusters],
    description=(
        "Robust z-scores (median and MAD of earlier runs of the same input, else of the "
        "cluster; weekday/weekend aware), anomaly flags above RVBBIT_ANOMALY_THRESHOLD "
        "(3.5), and a change-point test of each run's species history with an effect floor."
    ),
)
def robust_detection(context: AssetExecutionContext, store: ClickHouseStore) -> MaterializeResult:
    return run_stage_over_history(context, store, build_robust_detection)
