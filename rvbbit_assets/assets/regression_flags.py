"""regression_flags: has each run's prompt species become slower or costlier?

The design's "last 10 against the 10 before" (regression_flags.sql), and beside it the
significant regressions we recommend (significant_regressions.sql), which leave out the
runs anomaly_scores flagged.
"""

from dagster import AssetExecutionContext, MaterializeResult

from rvbbit_assets.assets.anomaly_scores import anomaly_scores
from rvbbit_assets.assets.baselines import runs_per_day
from rvbbit_assets.assets.detection_settings import REGRESSION_CONSTANTS, DetectionSettings
from rvbbit_assets.assets.history import design_beside_ours, run_stage_over_history
from rvbbit_assets.assets.input_clusters import input_clusters
from rvbbit_assets.assets.per_run import StageSummary, per_run_asset
from rvbbit_assets.assets.priced_runs import priced_runs
from rvbbit_assets.assets.session_facts import session_facts
from rvbbit_assets.orchestration.day_range import DayRange
from rvbbit_assets.store import ClickHouseStore, StoreSession
from rvbbit_assets.store.sql_files import load_sql
from rvbbit_assets.store.table_writes import replace_days

# Each run carries a series of up to 150 earlier runs through the query, in small blocks; a
# share of the species of up to about this many runs bounds the species' runs held at once,
# while small ranges take one query. Each share reads the tables again: the 1M bench's
# backfill in two shares took 12.6-14.2 s and peaked at 3.2-3.4 GB, in four 17.0-17.5 s and
# 3.3-3.5 GB (in one, 12.8-13.0 s and 3.5 GB).
RUNS_PER_QUERY = 600_000

# Both parts compare a run with earlier runs of its species only, so a query over the runs of
# one share of the species computes their rows exactly: each share reads the look-back and
# the range's runs of its species once, where chunks of days would read each chunk's
# look-back again. A run without a species is in share 0.
SPECIES_SHARE = (
    "ifNull(cityHash64(species_hash_primary), 0) % {species_shares:UInt32}"
    " = {species_share:UInt32}"
)


def regression_flags_sql(shared: bool = False) -> str:
    """The stage's query, over the runs its windows can reach (species_windows_reach.sql),
    computed once for both parts; `shared`: of the share of the species its parameters
    select."""
    reach = load_sql(__file__, "species_windows_reach")
    return design_beside_ours(
        __file__, "regression_flags", "significant_regressions",
        f"({SPECIES_SHARE}) AND ({reach})" if shared else reach,
        materialized=True,
    )


def species_shares(runs: int) -> list[dict[str, int]]:
    """The parameters of each share of the species, for a range of `runs` runs; none for a
    range that takes one query."""
    shares = -(-runs // RUNS_PER_QUERY)
    if shares <= 1:
        return [{}]
    return [{"species_shares": shares, "species_share": share} for share in range(shares)]


def build_regression_flags(
    session: StoreSession, days: DayRange, settings: DetectionSettings | None = None
) -> StageSummary:
    settings = settings or DetectionSettings.of(session.settings)
    shares = species_shares(sum(runs_per_day(session, days).values()))
    rows = replace_days(
        session,
        "regression_flags",
        regression_flags_sql(shared=len(shares) > 1),
        days.params() | settings.params() | REGRESSION_CONSTANTS,
        days,
        shares=shares,
    )
    by_severity = dict(
        session.rows(
            "SELECT regression_severity, count() FROM ${analytics}.regression_flags"
            " WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime} GROUP BY 1",
            days.params(),
        )
    )
    significant = session.scalar(
        "SELECT countIf(is_regression_significant) FROM ${analytics}.regression_flags"
        " WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}",
        days.params(),
    )
    return {
        "dagster/row_count": rows,
        **{f"severity_{name}": by_severity.get(name, 0) for name in
           ("none", "minor", "major", "critical")},
        "significant_regressions": significant,
    }


@per_run_asset(
    deps=[session_facts, input_clusters, priced_runs, anomaly_scores],
    description=(
        "The design's regression flags (the species' 10 latest prior runs against the 10 "
        "before them; cost +20% or duration +30% is a regression, graded minor/major/"
        "critical), and the recommended significant regressions: a rank test of the species' "
        "recent runs against its earlier ones, leaving out runs flagged as anomalies, with "
        "the design's effect floors."
    ),
)
def regression_flags(context: AssetExecutionContext, store: ClickHouseStore) -> MaterializeResult:
    return run_stage_over_history(context, store, build_regression_flags)
