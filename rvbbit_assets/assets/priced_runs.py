"""priced_runs: each run's cost the way its cells usually pay, for the recommended detection.

A share of LLM calls routinely falls back to a pricier model, which gives a cascade's
costs a second mode that is nobody's mistake. Pricing every run's tokens at its cells'
usual prices removes that mode before runs are compared (baselines), and repricing only the
calls of models a cell never uses shows what a premium routing added (anomaly_scores).

What each day's runs did per cell and model is summed once per day into priced_day_models and
priced_day_cells (rebuilt when session_facts rewrote the day since): a day is priced from its
look-back's sums, not from its look-back's runs.
"""

from datetime import timedelta

from dagster import AssetExecutionContext, MaterializeResult

from rvbbit_assets.assets.day_states import stale_state_days
from rvbbit_assets.assets.detection_settings import PRICING_CONSTANTS, DetectionSettings
from rvbbit_assets.assets.history import run_stage_over_history
from rvbbit_assets.assets.per_run import StageSummary, per_run_asset
from rvbbit_assets.assets.session_facts import session_facts
from rvbbit_assets.orchestration.day_range import DayRange
from rvbbit_assets.store import ClickHouseStore, StoreSession
from rvbbit_assets.store.sql_files import render_sql_template
from rvbbit_assets.store.table_writes import replace_days, replace_listed_days

DAY_STATES = ("priced_day_models", "priced_day_cells")


def refresh_day_states(session: StoreSession, days: DayRange, lookback_days: int) -> int:
    """Rebuild the day states of the range and its look-back that are missing, older than
    session_facts' last rewrite of their day, or summed with another output weight; returns
    how many days."""
    since, until = days.first - timedelta(days=lookback_days), days.last + timedelta(days=1)
    weight = {"output_weight": PRICING_CONSTANTS["output_weight"]}
    stale = set(stale_state_days(session, DAY_STATES, since, until)) | {
        day for (day,) in session.rows(
            "SELECT DISTINCT day FROM ${analytics}.priced_day_models"
            " WHERE day >= {since:Date} AND day < {until:Date}"
            "   AND output_weight != {output_weight:Float64}",
            {"since": since, "until": until, **weight},
        )
    }
    for table in DAY_STATES:
        replace_listed_days(
            session, table, render_sql_template(__file__, table), weight, sorted(stale))
    return len(stale)


def build_priced_runs(
    session: StoreSession, days: DayRange, settings: DetectionSettings | None = None
) -> StageSummary:
    settings = settings or DetectionSettings.of(session.settings)
    params = days.params() | {"lookback_days": settings.lookback_days} | PRICING_CONSTANTS
    rebuilt = refresh_day_states(session, days, settings.lookback_days)
    rows = replace_days(
        session, "priced_runs", render_sql_template(__file__, "priced_runs"), params, days
    )
    (fallback_cost, unusual), = session.rows(
        "SELECT sum(total_cost - usual_price_cost) FILTER (WHERE empty(unusual_models)),"
        " countIf(notEmpty(unusual_models))"
        " FROM ${analytics}.priced_runs AS p"
        " INNER JOIN ${analytics}.session_facts AS f USING (session_id)"
        " WHERE p.created_at >= {start:DateTime} AND p.created_at < {end:DateTime}"
        "   AND f.created_at >= {start:DateTime} AND f.created_at < {end:DateTime}",
        days.params(),
    )
    return {
        "dagster/row_count": rows,
        "day_states_rebuilt": rebuilt,
        "cost_above_usual_prices_usd": float(fallback_cost or 0.0),
        "runs_on_models_their_cells_do_not_use": unusual,
    }


@per_run_asset(
    deps=[session_facts],
    also_writes=DAY_STATES,
    description=(
        "Each run's LLM calls priced the way its cells usually pay (their routine models, "
        "learnt from the days before): its cost at usual prices, and its cost with calls "
        "by models a cell never uses repriced as usual."
    ),
)
def priced_runs(context: AssetExecutionContext, store: ClickHouseStore) -> MaterializeResult:
    return run_stage_over_history(context, store, build_priced_runs)
