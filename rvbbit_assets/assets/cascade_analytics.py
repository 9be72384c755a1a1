"""cascade_analytics: the design's table, one row per analysed run."""

from dagster import AssetExecutionContext, MaterializeResult

from rvbbit_assets.assets.anomaly_scores import anomaly_scores
from rvbbit_assets.assets.baselines import baselines
from rvbbit_assets.assets.cost_prediction_model import cost_prediction_model
from rvbbit_assets.assets.input_clusters import input_clusters
from rvbbit_assets.assets.per_run import (
    StageSummary,
    markdown_table,
    per_run_asset,
    run_stage,
)
from rvbbit_assets.assets.regression_flags import regression_flags
from rvbbit_assets.assets.session_facts import session_facts
from rvbbit_assets.orchestration.day_range import DayRange
from rvbbit_assets.store import ClickHouseStore, StoreSession
from rvbbit_assets.store.sql_files import load_sql
from rvbbit_assets.store.table_writes import replace_days

# 2: takes per (cell, take), children = sub-cascades with their descendants (issue 17); rows
# of version 1 counted takes by index across cells and every child session.
ANALYSIS_VERSION = 2


def build_cascade_analytics(session: StoreSession, days: DayRange) -> StageSummary:
    rows = replace_days(
        session,
        "cascade_analytics",
        load_sql(__file__, "cascade_analytics"),
        {**days.params(), "analysis_version": ANALYSIS_VERSION},
        days,
    )
    (total_cost, outliers, regressions, anomalies, significant, predicted), = session.rows(
        "SELECT sum(total_cost), countIf(is_cost_outlier), countIf(is_regression),"
        " countIf(is_cost_anomaly), countIf(is_regression_significant),"
        " countIf(predicted_cost IS NOT NULL)"
        " FROM ${analytics}.cascade_analytics"
        " WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}",
        days.params(),
    )
    return {
        "dagster/row_count": rows,
        "total_cost_usd": float(total_cost or 0.0),
        "cost_outliers": outliers,
        "regressions": regressions,
        "cost_anomalies_robust": anomalies,
        "regressions_significant": significant,
        "runs_with_prediction": predicted,
        "top_anomalies": markdown_table(
            session.df(load_sql(__file__, "top_anomalies"), days.params()), "No cost outliers."
        ),
        "regressions_found": markdown_table(
            session.df(load_sql(__file__, "regressions_found"), days.params()),
            "No regressions.",
        ),
    }


@per_run_asset(
    deps=[
        session_facts,
        input_clusters,
        baselines,
        anomaly_scores,
        regression_flags,
        cost_prediction_model,
    ],
    description=(
        "The design's cascade_analytics table, one context-aware row per analysed run, "
        "plus the recommended flags: cost and duration anomalies with the cause and dollar "
        "impact of a flagged run (anomaly_scores), and significant regressions "
        "(regression_flags)."
    ),
)
def cascade_analytics(
    context: AssetExecutionContext, store: ClickHouseStore
) -> MaterializeResult:
    return run_stage(context, store, build_cascade_analytics)
