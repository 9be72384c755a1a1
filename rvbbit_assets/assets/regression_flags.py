"""regression_flags: the design's regression detection over each run's species history."""

from dagster import AssetExecutionContext, MaterializeResult

from rvbbit_assets.assets.history import run_stage_over_history, with_history
from rvbbit_assets.assets.input_clusters import input_clusters
from rvbbit_assets.assets.per_run import StageSummary, per_run_asset
from rvbbit_assets.assets.session_facts import session_facts
from rvbbit_assets.day_partitions import DayRange, load_sql, replace_days
from rvbbit_assets.store import ClickHouseStore, StoreSession


def build_regression_flags(session: StoreSession, days: DayRange) -> StageSummary:
    rows = replace_days(
        session,
        "regression_flags",
        with_history(load_sql(__file__, "regression_flags")),
        days.params(),
        days,
    )
    by_severity = dict(
        session.rows(
            "SELECT regression_severity, count() FROM ${analytics}.regression_flags"
            " WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime} GROUP BY 1",
            days.params(),
        )
    )
    return {
        "dagster/row_count": rows,
        **{f"severity_{name}": by_severity.get(name, 0) for name in
           ("none", "minor", "major", "critical")},
    }


@per_run_asset(
    deps=[session_facts, input_clusters],
    description=(
        "Regression flags: the species' 10 latest prior runs against the 10 before them; "
        "cost +20% or duration +30% is a regression, graded minor/major/critical."
    ),
)
def regression_flags(context: AssetExecutionContext, store: ClickHouseStore) -> MaterializeResult:
    return run_stage_over_history(context, store, build_regression_flags)
