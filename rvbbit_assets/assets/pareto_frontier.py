"""pareto_frontier: per species and cell, which models are worth their cost.

The design's "Pareto Frontier Analysis" made set-based: one query compares every model of
every species/cell (and cascade) at once, on average cost per take and average quality
(evaluator score where prompt_lineage logged one, else win rate), as the design's SQL does.
Each row carries its sample size (take_count) and is `significant` when the model, and the
model it is advised to use instead, have MIN_TAKES_PER_MODEL decided takes each: on sparse
data one lucky run can put a model on the frontier, and the flag says so instead of hiding
the row. A row whose model has a cheaper frontier model of similar quality says so in a
recommendation sentence; a significant model is advised from the frontier of the
significant models when one qualifies there.
"""

from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue

from rvbbit_assets.analysis.pareto import (
    MIN_COST_SAVING,
    MIN_TAKES_PER_MODEL,
    SIMILAR_QUALITY_MARGIN,
)
from rvbbit_assets.assets.groups import INSIGHTS_GROUP
from rvbbit_assets.assets.sources import prompt_lineage, unified_logs
from rvbbit_assets.assets.store_asset import store_asset
from rvbbit_assets.store import ClickHouseStore, StoreSession
from rvbbit_assets.store.column_schemas import table_metadata
from rvbbit_assets.store.sql_files import load_sql
from rvbbit_assets.store.table_writes import replace_table

TOP_ROWS_SHOWN = 10
NULLABLE_FLOAT_COLUMNS = ("avg_evaluator_score", "cost_saving")


def compute_pareto_frontier(session: StoreSession) -> pd.DataFrame:
    """Every compared model of every species/cell with its frontier flag and advice."""
    frame = session.df(
        load_sql(__file__, "pareto_frontier"),
        {
            "min_takes": MIN_TAKES_PER_MODEL,
            "quality_margin": SIMILAR_QUALITY_MARGIN,
            "min_saving": MIN_COST_SAVING,
        },
    )
    if frame.empty:  # no rows also means no columns
        return frame
    # A NULL float reads back as NaN, and the client would write NaN, not NULL: the
    # nullable dtype keeps "no score" / "no saving" NULL in the table.
    return frame.astype({column: "Float64" for column in NULLABLE_FLOAT_COLUMNS})


def top_recommendations_markdown(frame: pd.DataFrame) -> str:
    """The rows with advice, significant first, then largest evidence, as a markdown table."""
    advised = frame[frame["recommendation"] != ""]
    if advised.empty:
        return "No cheaper model of similar quality on any frontier."
    top = advised.sort_values(
        ["significant", "take_count", "cost_saving", "species_hash", "model"],
        ascending=[False, False, False, True, True],
    ).head(TOP_ROWS_SHOWN)
    return pd.DataFrame(
        {
            "species": top["species_hash"],
            "cell": top["cascade_id"] + "/" + top["cell_name"],
            "model": top["model"],
            "takes": top["take_count"],
            "avg cost": top["avg_cost"].map("${:.5f}".format),
            "quality": top["avg_quality"].map("{:.2f}".format),
            "significant": top["significant"].map({True: "yes", False: "no"}),
            "recommendation": top["recommendation"],
        }
    ).to_markdown(index=False)


@store_asset(
    deps=[unified_logs, prompt_lineage],
    group_name=INSIGHTS_GROUP,
    metadata=table_metadata("pareto_frontier"),
    kinds={"clickhouse"},
    description=(
        "Per species, cascade and cell: each model's average cost per take, average quality "
        "(evaluator score, else win rate), take and run counts, whether it is on the design's "
        "Pareto frontier, whether it is significant (at least "
        f"{MIN_TAKES_PER_MODEL} decided takes, for the model and the one it is advised to "
        "use), and a recommendation when a cheaper frontier model is of similar quality."
    ),
)
def pareto_frontier(context: AssetExecutionContext, store: ClickHouseStore) -> MaterializeResult:
    with store.session(f"pareto_frontier (run {context.run.run_id[:8]})") as session:
        frame = compute_pareto_frontier(session)
        rows = replace_table(session, "pareto_frontier", frame)
    metadata: dict[str, Any] = {
        "dagster/row_count": rows,
        "min_takes_per_model": MIN_TAKES_PER_MODEL,
    }
    if rows:
        comparisons = frame.groupby(["species_hash", "cascade_id", "cell_name"]).ngroups
        metadata |= {
            "species_cells_compared": comparisons,
            "models_on_frontier": int(frame["is_pareto"].astype(bool).sum()),
            "recommendations": int((frame["recommendation"] != "").sum()),
            "significant_recommendations": int(
                ((frame["recommendation"] != "") & frame["significant"].astype(bool)).sum()),
            "top_recommendations": MetadataValue.md(top_recommendations_markdown(frame)),
        }
    else:
        comparisons = 0
        metadata["note"] = MetadataValue.text(
            "No take set with a winner and a model in the logs: nothing to compare yet."
        )
    context.log.info(f"pareto_frontier: {rows} rows over {comparisons} species/cells")
    return MaterializeResult(metadata=metadata)
