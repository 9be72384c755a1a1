"""baselines: what each run is compared with, over strictly earlier runs.

The design's global, cluster and species averages (baselines.sql), and beside them what
the run is expected to cost for the recommended detection (robust_baselines.sql).
"""

from datetime import date

from dagster import AssetExecutionContext, MaterializeResult

from rvbbit_assets.assets.detection_settings import BASELINE_CONSTANTS, DetectionSettings
from rvbbit_assets.assets.history import design_beside_ours, run_stage_over_history
from rvbbit_assets.assets.input_clusters import input_clusters
from rvbbit_assets.assets.per_run import StageSummary, per_run_asset
from rvbbit_assets.assets.priced_runs import priced_runs
from rvbbit_assets.assets.session_facts import session_facts
from rvbbit_assets.orchestration.day_range import DayRange
from rvbbit_assets.store import ClickHouseStore, StoreSession
from rvbbit_assets.store.table_writes import replace_days

# The robust part holds every run of the range and its look-back in per-key arrays, and
# each run's candidate baselines: whole days of up to this many runs at a time bound its
# memory (the 1M bench's backfill in two queries peaked at 3.0-3.3 GB, in three at 2.5-2.6
# GB), while a new day or a small range takes one query (each query reads the look-back
# again: two queries took 13.6-15.6 s there, three 16.2-17.0 s).
RUNS_PER_QUERY = 550_000


def baselines_sql() -> str:
    # Both parts read the history: joined once, not once each.
    return design_beside_ours(__file__, "baselines", "robust_baselines", materialized=True)


def runs_per_day(session: StoreSession, days: DayRange) -> dict[date, int]:
    return dict(session.rows(
        "SELECT toDate(created_at), count() FROM ${analytics}.session_facts"
        " WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime} GROUP BY 1",
        days.params(),
    ))


def build_baselines(
    session: StoreSession, days: DayRange, settings: DetectionSettings | None = None
) -> StageSummary:
    settings = settings or DetectionSettings.of(session.settings)
    rows = replace_days(
        session,
        "baselines",
        baselines_sql(),
        days.params() | settings.params() | BASELINE_CONSTANTS,
        days,
        chunks=days.chunks(runs_per_day(session, days), RUNS_PER_QUERY),
    )
    by_kind = dict(session.rows(
        "SELECT robust_baseline, count() FROM ${analytics}.baselines"
        " WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime} GROUP BY 1",
        days.params(),
    ))
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
        **{f"expected_from_{kind or 'nothing'}": count for kind, count in sorted(by_kind.items())},
    }


@per_run_asset(
    deps=[session_facts, input_clusters, priced_runs],
    description=(
        "Baselines of each run over the runs that started before it, on any earlier day: "
        "the design's global (same cascade), cluster (same cascade and input category, with "
        "population stddevs) and species (same primary species hash) averages; and what the "
        "run is expected to cost: medians of earlier runs of the same input, else of the "
        "cluster's or the cascade's runs closest in input size, at the cells' usual prices."
    ),
)
def baselines(context: AssetExecutionContext, store: ClickHouseStore) -> MaterializeResult:
    return run_stage_over_history(context, store, build_baselines)
