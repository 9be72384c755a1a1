"""pareto_frontier: per species and cell, which models are worth their cost.

The design's "Pareto Frontier Analysis" made set-based: one query compares every model of
every species/cell (and cascade) at once, on average cost per take and average quality
(evaluator score where prompt_lineage logged one, else win rate). A model with too few
takes is left out, so one lucky run cannot put it on the frontier; a row whose model has a
cheaper frontier model of similar quality says so in a recommendation sentence.
"""

from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue

from rvbbit_assets.assets.groups import INSIGHTS_GROUP
from rvbbit_assets.assets.sources import prompt_lineage, unified_logs
from rvbbit_assets.assets.store_asset import store_asset
from rvbbit_assets.column_schemas import table_metadata
from rvbbit_assets.day_partitions import load_sql, replace_table
from rvbbit_assets.store import ClickHouseStore, StoreSession

# Decided takes a model needs in a species/cell before it is compared at all.
MIN_TAKES_PER_MODEL = 20
# "Similar quality": at most this much lower, on the 0-1 scale of scores and win rates.
SIMILAR_QUALITY_MARGIN = 0.05
# A cheaper model is only worth recommending if it saves at least this share of the cost.
MIN_COST_SAVING = 0.10
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
    """The rows with advice, largest evidence first, as a markdown table."""
    advised = frame[frame["recommendation"] != ""]
    if advised.empty:
        return "No cheaper model of similar quality on any frontier."
    top = advised.sort_values(
        ["take_count", "cost_saving", "species_hash", "model"],
        ascending=[False, False, True, True],
    ).head(TOP_ROWS_SHOWN)
    return pd.DataFrame(
        {
            "species": top["species_hash"],
            "cell": top["cascade_id"] + "/" + top["cell_name"],
            "model": top["model"],
            "takes": top["take_count"],
            "avg cost": top["avg_cost"].map("${:.5f}".format),
            "quality": top["avg_quality"].map("{:.2f}".format),
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
        "(evaluator score, else win rate), take and run counts, whether it is on the Pareto "
        f"frontier (models with at least {MIN_TAKES_PER_MODEL} decided takes), and a "
        "recommendation when a cheaper frontier model is of similar quality."
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
            "top_recommendations": MetadataValue.md(top_recommendations_markdown(frame)),
        }
    else:
        comparisons = 0
        metadata["note"] = MetadataValue.text(
            f"No species/cell has two models with at least {MIN_TAKES_PER_MODEL} decided "
            "takes each: nothing to compare yet."
        )
    context.log.info(f"pareto_frontier: {rows} rows over {comparisons} species/cells")
    return MaterializeResult(metadata=metadata)
