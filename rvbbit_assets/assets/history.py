"""The look-back population of baselines and regression windows, and the rule that it is
complete.

A day's baselines compare each run with every earlier run, whatever day it is in, so the
earlier days of the stages a stage reads (reads_earlier_days declares them: session_facts
and input_clusters, and for the recommended detection priced_runs and anomaly_scores) must
have been analysed. A stage over days whose earlier days were not is refused, naming them,
rather than computed over a partial population: that keeps results identical whatever
order days are materialized in. The sensor and `materialize` start at such a day instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from dagster import AssetExecutionContext, Failure, MaterializeResult

from rvbbit_assets.assets.per_run import HISTORY_TABLES, StageBuilder, day_range, run_stage
from rvbbit_assets.orchestration.day_range import DayRange
from rvbbit_assets.store import ClickHouseStore, StoreSession
from rvbbit_assets.store.sql_files import load_sql, render_sql_template


def with_history(
    stage_sql: str, history_filter: str | None = None, materialized: bool = False
) -> str:
    """A stage query that reads from the `history` population of analysed runs, or from
    its runs that pass `history_filter` (a condition on its columns). `materialized`
    computes the population once for a query that reads it more than once (each reference
    joins session_facts with input_clusters again otherwise)."""
    history = load_sql(__file__, "history")
    if history_filter:
        history = f"SELECT * FROM ({history}) WHERE {history_filter}"
    if materialized:
        return (f"WITH history AS MATERIALIZED ({history})\n{stage_sql}\n"
                "SETTINGS enable_materialized_cte = 1")
    return f"WITH history AS ({history})\n{stage_sql}"


def design_beside_ours(
    module_file: str, design: str, ours: str, history_filter: str | None = None,
    materialized: bool = False,
) -> str:
    """The design's columns (the `design` template) and ours (`ours`) per run, over the
    `history` population (or its runs that pass `history_filter`; `materialized`: computed
    once for both): one query, so both see the same runs."""
    return with_history(
        "SELECT design.*, ours.* EXCEPT (session_id)\n"
        f"FROM ({render_sql_template(module_file, design)}) AS design\n"
        f"LEFT JOIN ({render_sql_template(module_file, ours)}) AS ours"
        " ON ours.session_id = design.session_id",
        history_filter,
        materialized,
    )


def unanalysed_earlier_days(
    session: StoreSession, before: date, stages: Sequence[str]
) -> list[date]:
    """The days before `before` (from the partitions start) that have runs in the source but
    were never written by one of `stages` (day_writes records every day a stage wrote, runs
    or none)."""
    return [day for (day,) in session.rows(
        load_sql(__file__, "unanalysed_earlier_days"),
        {"first": DayRange(session.settings.partitions_start, before).start,
         "before": DayRange(before, before).start, "stages": list(stages)},
    )]


def earlier_day_stages(context: AssetExecutionContext) -> list[str]:
    """The stages whose earlier days this asset reads (reads_earlier_days declares them)."""
    spec = context.assets_def.specs_by_key[context.asset_key]
    return [name for dep in spec.deps
            if (name := dep.asset_key.to_user_string()) in HISTORY_TABLES]


def run_stage_over_history(
    context: AssetExecutionContext, store: ClickHouseStore, build: StageBuilder
) -> MaterializeResult:
    """`run_stage` for a stage that reads earlier days: refuse, naming them, when an earlier
    day with runs was never analysed, since the stage would compare with a population that
    lacks it (and give other results than in day order). The sensor and `materialize` start
    their runs at such a day; a run launched by hand over later days only is refused."""
    days = day_range(context)
    stages = earlier_day_stages(context)
    with store.session(f"history check {days} (run {context.run.run_id[:8]})") as session:
        missing = unanalysed_earlier_days(session, days.first, stages)
    if missing:
        span = DayRange(missing[0], days.last)
        raise Failure(
            description=(
                f"{len(missing)} earlier days with runs were not analysed yet (first "
                f"{missing[0]}, last {missing[-1]}; stages read: {', '.join(stages)}). "
                f"Materialize {span} as one backfill, or let the sensor do it."
            ),
            metadata={"unanalysed_days": ", ".join(map(str, missing[:50])),
                      "materialize_instead": str(span)},
            allow_retries=False,
        )
    return run_stage(context, store, build)
