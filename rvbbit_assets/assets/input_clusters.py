"""input_clusters: the design's input complexity (score, category, fingerprint) of each run.

The complexity function runs in Python (it walks parsed JSON), so it is memoised by input
hash in `input_complexity`: each distinct input text is parsed once, ever.
"""

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult

from rvbbit_assets.analysis.input_complexity import score_inputs
from rvbbit_assets.assets.per_run import StageSummary, per_run_asset, run_stage
from rvbbit_assets.assets.session_facts import session_facts
from rvbbit_assets.assets.sources import cascade_sessions
from rvbbit_assets.orchestration.day_range import DayRange
from rvbbit_assets.store import ClickHouseStore, StoreSession
from rvbbit_assets.store.source_schema import check_source_schema
from rvbbit_assets.store.sql_files import load_sql
from rvbbit_assets.store.table_writes import replace_days


def score_new_inputs(session: StoreSession, days: DayRange) -> int:
    """Add the complexity of every input of these days not yet memoised; return how many."""
    unscored = session.df(load_sql(__file__, "unscored_inputs"), days.params())
    if unscored.empty:
        return 0
    scores = score_inputs(unscored["input_data"].tolist())
    session.insert_df(
        "input_complexity",
        pd.DataFrame(
            {
                "input_hash": unscored["input_hash"].astype("uint64"),
                "input_complexity_score": [s.score for s in scores],
                "input_category": [s.category for s in scores],
                "input_fingerprint": [s.fingerprint for s in scores],
                "char_count": [s.char_count for s in scores],
                "estimated_tokens": [s.estimated_tokens for s in scores],
                "is_valid_json": [s.is_valid_json for s in scores],
            }
        ),
    )
    return len(unscored)


def build_input_clusters(session: StoreSession, days: DayRange) -> StageSummary:
    check_source_schema(session)  # like session_facts: it reads RVBBIT's tables directly
    newly_scored = score_new_inputs(session, days)
    rows = replace_days(
        session, "input_clusters", load_sql(__file__, "input_clusters"), days.params(), days
    )
    by_category = dict(
        session.rows(
            "SELECT input_category, count() FROM ${analytics}.input_clusters"
            " WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime} GROUP BY 1",
            days.params(),
        )
    )
    malformed = session.scalar(
        "SELECT countIf(NOT is_valid_json) FROM ${analytics}.input_clusters"
        " WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}",
        days.params(),
    )
    return {
        "dagster/row_count": rows,
        "inputs_scored_now": newly_scored,
        "inputs_not_valid_json": malformed,
        **{f"category_{name}": count for name, count in sorted(by_category.items())},
    }


@per_run_asset(
    also_writes=("input_complexity",),
    # The runs are session_facts' finished runs; their input texts come from cascade_sessions.
    deps=[session_facts, cascade_sessions],
    description=(
        "Input complexity of every finished run (the design's _compute_input_complexity: "
        "score 0-1, category tiny..huge, structure fingerprint), memoised per distinct input "
        "text."
    ),
)
def input_clusters(context: AssetExecutionContext, store: ClickHouseStore) -> MaterializeResult:
    return run_stage(context, store, build_input_clusters)
