"""baselines: global, cluster and species baselines of each run over strictly earlier runs."""

from dagster import AssetExecutionContext, MaterializeResult

from rvbbit_assets.assets.history import run_stage_over_history, with_history
from rvbbit_assets.assets.input_clusters import input_clusters
from rvbbit_assets.assets.per_run import StageSummary, per_run_asset
from rvbbit_assets.assets.session_facts import session_facts
from rvbbit_assets.day_partitions import DayRange, load_sql, replace_days
from rvbbit_assets.store import ClickHouseStore, StoreSession


def build_baselines(session: StoreSession, days: DayRange) -> StageSummary:
    rows = replace_days(
        session, "baselines", with_history(load_sql(__file__, "baselines")), days.params(), days
    )
    (first_of_cascade, first_of_cluster, without_species), = session.rows(
        "SELECT countIf(global_run_count = 0), countIf(cluster_run_count = 0),"
        " countIf(species_run_count = 0) FROM ${analytics}.baselines"
        " WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}",
        days.params(),
    )
    return {
        "dagster/row_count": rows,
        "runs_first_of_their_cascade": first_of_cascade,
        "runs_first_of_their_cluster": first_of_cluster,
        "runs_without_species_history": without_species,
    }


@per_run_asset(
    deps=[session_facts, input_clusters],
    description=(
        "Baselines of each run over the runs that started before it, on any earlier day: "
        "global (same cascade), cluster (same cascade and input category, with population "
        "stddevs) and species (same primary species hash)."
    ),
)
def baselines(context: AssetExecutionContext, store: ClickHouseStore) -> MaterializeResult:
    return run_stage_over_history(context, store, build_baselines)
