"""anomaly_scores: z-scores against the cluster baseline, outlier flags and efficiency."""

from dagster import AssetExecutionContext, MaterializeResult

from rvbbit_assets.assets.baselines import baselines
from rvbbit_assets.assets.detection_settings import SCORE_CONSTANTS, DetectionSettings
from rvbbit_assets.assets.per_run import StageSummary, per_run_asset, run_stage
from rvbbit_assets.assets.priced_runs import priced_runs
from rvbbit_assets.assets.session_facts import session_facts
from rvbbit_assets.orchestration.day_range import DayRange
from rvbbit_assets.store import ClickHouseStore, StoreSession
from rvbbit_assets.store.sql_files import render_sql_template
from rvbbit_assets.store.table_writes import replace_days


def build_anomaly_scores(
    session: StoreSession, days: DayRange, settings: DetectionSettings | None = None
) -> StageSummary:
    settings = settings or DetectionSettings.of(session.settings)
    rows = replace_days(
        session,
        "anomaly_scores",
        render_sql_template(__file__, "anomaly_scores"),
        days.params() | settings.params() | SCORE_CONSTANTS
        | {"error_outlier_min_prior_runs": session.settings.error_outlier_min_prior_runs},
        days,
    )
    (cost, duration, tokens, errors, anomalies, slow), = session.rows(
        "SELECT countIf(is_cost_outlier), countIf(is_duration_outlier),"
        " countIf(is_tokens_outlier), countIf(is_error_outlier), countIf(is_cost_anomaly),"
        " countIf(is_duration_anomaly) FROM ${analytics}.anomaly_scores"
        " WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}",
        days.params(),
    )
    by_driver = dict(session.rows(
        "SELECT cost_anomaly_driver, count() FROM ${analytics}.anomaly_scores"
        " WHERE is_cost_anomaly AND created_at >= {start:DateTime} AND created_at < {end:DateTime}"
        " GROUP BY 1",
        days.params(),
    ))
    return {
        "dagster/row_count": rows,
        "cost_outliers": cost,
        "duration_outliers": duration,
        "tokens_outliers": tokens,
        "error_outliers": errors,
        "cost_anomalies": anomalies,
        "duration_anomalies": slow,
        **{f"cost_anomalies_from_{name}": count for name, count in sorted(by_driver.items())},
        **{f"setting_{name}": value for name, value in settings.params().items()},
    }


@per_run_asset(
    deps=[session_facts, priced_runs, baselines],
    description=(
        "The design's cost, duration and token z-scores of each run against its cluster "
        "baseline (0 when the stddev is 0), |z| > 2 outlier flags, error outliers (errors "
        "while under 5% of the cascade's earlier runs had any, given "
        "RVBBIT_ERROR_OUTLIER_MIN_PRIOR_RUNS earlier runs, 20 by default) and efficiency; and "
        "the recommended flags: cost and duration far above what the run was expected to cost "
        "(robust z on a log scale above RVBBIT_ANOMALY_THRESHOLD), with the factor that drives "
        "the excess and its dollar impact."
    ),
)
def anomaly_scores(context: AssetExecutionContext, store: ClickHouseStore) -> MaterializeResult:
    return run_stage(context, store, build_anomaly_scores)
