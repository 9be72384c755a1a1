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

The takes of the runs session_facts holds are summed per day in pareto_day_states, each day
rebuilt from its runs' logs when session_facts rewrote it since (or it has no state yet): a
new day reads the logs of its own runs and of the runs not analysed, not all history. Days
old enough for the logs' TTL to delete rows of are read from the logs (log_horizon).
"""

from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue

from rvbbit_assets.analysis.pareto import (
    MIN_COST_SAVING,
    MIN_TAKES_PER_MODEL,
    SIMILAR_QUALITY_MARGIN,
)
from rvbbit_assets.assets.day_states import stale_state_days
from rvbbit_assets.assets.groups import INSIGHTS_GROUP
from rvbbit_assets.assets.session_facts import session_facts
from rvbbit_assets.assets.sources import prompt_lineage, unified_logs
from rvbbit_assets.assets.store_asset import store_asset
from rvbbit_assets.orchestration.day_range import utc_now
from rvbbit_assets.store import ClickHouseStore, StoreSession
from rvbbit_assets.store.column_schemas import table_metadata
from rvbbit_assets.store.sql_files import render_sql_template
from rvbbit_assets.store.table_writes import replace_listed_days, replace_table

TOP_ROWS_SHOWN = 10
NULLABLE_FLOAT_COLUMNS = ("avg_evaluator_score", "cost_saving")


def log_horizon(now: datetime) -> date:
    """The last day whose runs' takes are read from the logs, not from pareto_day_states:
    RVBBIT's unified_logs deletes rows a year old (TTL), and the frontier, like the logs,
    forgets them; a later day's rows are all younger than a year (a day's margin)."""
    return (now - timedelta(days=364)).date()


def _refresh_day_states(session: StoreSession, horizon: date) -> int:
    """Rebuild the pareto_day_states of the days after `horizon` that session_facts rewrote
    since (or that have none); returns how many days."""
    days = stale_state_days(session, ("pareto_day_states",), since=horizon + timedelta(days=1))
    replace_listed_days(
        session, "pareto_day_states", render_sql_template(__file__, "pareto_day_states"), {},
        days,
    )
    return len(days)


def build_pareto_frontier(
    session: StoreSession, now: datetime | None = None
) -> tuple[pd.DataFrame, int]:
    """Every compared model of every species/cell with its frontier flag and advice, and how
    many days' states were rebuilt first (`now`: the clock, for log_horizon)."""
    horizon = log_horizon(now or utc_now())
    rebuilt = _refresh_day_states(session, horizon)
    frame = session.df(
        render_sql_template(__file__, "pareto_frontier"),
        {
            "log_horizon": horizon,
            "min_takes": MIN_TAKES_PER_MODEL,
            "quality_margin": SIMILAR_QUALITY_MARGIN,
            "min_saving": MIN_COST_SAVING,
        },
    )
    if frame.empty:  # no rows also means no columns
        return frame, rebuilt
    # A NULL float reads back as NaN, and the client would write NaN, not NULL: the
    # nullable dtype keeps "no score" / "no saving" NULL in the table.
    return frame.astype({column: "Float64" for column in NULLABLE_FLOAT_COLUMNS}), rebuilt


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
    # session_facts: which runs' takes are summed per day, and when each day was rewritten.
    deps=[session_facts, unified_logs, prompt_lineage],
    group_name=INSIGHTS_GROUP,
    metadata=table_metadata("pareto_frontier", also_writes=("pareto_day_states",)),
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
        frame, rebuilt = build_pareto_frontier(session)
        rows = replace_table(session, "pareto_frontier", frame)
    metadata: dict[str, Any] = {
        "dagster/row_count": rows,
        "min_takes_per_model": MIN_TAKES_PER_MODEL,
        "day_states_rebuilt": rebuilt,
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
