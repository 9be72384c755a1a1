"""The forecasts asset: known answers on hand-made daily series, then the backtest on a demo
load (the forecast beats "same day last week"; intervals hold about their stated share)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import dagster
import numpy as np
import pandas as pd
import pytest
from dagster import DagsterInstance
from pinned_dates import DEMO_END, PINNED_NOW
from scipy import stats

from rvbbit_assets.analysis.forecasting import (
    COVERAGE,
    FORECAST_COLUMNS,
    HORIZON_DAYS,
    TOTAL,
    forecast_series,
    projection_sentence,
)
from rvbbit_assets.assets.forecasts import forecasts, last_complete_day
from rvbbit_assets.assets.pipeline import per_run_assets
from rvbbit_assets.demo import generate_demo
from rvbbit_assets.demo.catalog import CASCADES
from rvbbit_assets.orchestration.day_range import RANGE_END_TAG, RANGE_START_TAG, utc_now
from rvbbit_assets.serving.reads.forecasts import forecast_rows, weekly_projection
from rvbbit_assets.store import ClickHouseStore

pytestmark = pytest.mark.store_open_for_the_test

# The hand-made histories end on a fixed, complete day (see pinned_dates.py); only the test
# of the clock itself writes runs of today.
LAST_DAY = DEMO_END - timedelta(days=2)
DEMO_DAYS = 60
BACKTEST_FOLDS_OF_THE_DEMO = (DEMO_DAYS - 14) // 7
WORKWEEK = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.4, 0.3])  # Monday .. Sunday


# ---------------------------------------------------------------------------------------
# The model on plain arrays


def test_clean_linear_trend_is_forecast_on_the_line() -> None:
    days = np.arange(30)
    result = forecast_series(2.0 + 0.25 * days, first_weekday=0)
    expected = 2.0 + 0.25 * np.arange(30, 30 + HORIZON_DAYS)
    np.testing.assert_allclose(result.predicted, expected, rtol=1e-9)
    assert result.trend == "increasing"
    assert result.r_squared == pytest.approx(1.0)
    # A perfect fit leaves no residual spread: the interval closes on the line.
    np.testing.assert_allclose(result.upper - result.lower, 0.0, atol=1e-9)
    assert result.weekly_total == pytest.approx(expected.sum())


def test_falling_trend_under_a_weekday_pattern_is_followed() -> None:
    # The weekday factors must not absorb the trend (30 days = 4 weeks + 2 weekdays).
    days = np.arange(30)
    first_weekday = 3
    costs = (40.0 - 0.8 * days) * WORKWEEK[(first_weekday + days) % 7]
    future = np.arange(30, 30 + HORIZON_DAYS)
    expected = (40.0 - 0.8 * future) * WORKWEEK[(first_weekday + future) % 7]
    result = forecast_series(costs, first_weekday)
    np.testing.assert_allclose(result.predicted, expected, rtol=2e-3)
    assert result.trend == "decreasing"


def test_weekday_pattern_is_recovered_from_noisy_days() -> None:
    rng = np.random.default_rng(3)
    days = np.arange(30)
    costs = 5.0 * WORKWEEK[days % 7] * rng.normal(1.0, 0.05, 30)
    result = forecast_series(costs, first_weekday=0)
    future_weekdays = np.arange(30, 30 + HORIZON_DAYS) % 7
    np.testing.assert_allclose(result.predicted, 5.0 * WORKWEEK[future_weekdays], rtol=0.1)
    assert result.trend_significant == "flat"  # no slope in the data, none in the forecast
    assert result.r_squared > 0.9
    weekend = future_weekdays >= 5
    assert result.predicted[weekend].max() < 0.5 * result.predicted[~weekend].min()
    # The quieter the day, the narrower its interval (multiplicative noise).
    widths = result.upper - result.lower
    assert widths[weekend].max() < widths[~weekend].min()
    assert np.all(result.lower <= result.predicted) and np.all(result.predicted <= result.upper)


@pytest.mark.parametrize("daily_growth", [0.0, 0.1])
def test_intervals_hold_about_the_stated_share_of_new_days(daily_growth: float) -> None:
    # Noise in proportion to the level, the model's assumption; a weak trend would be
    # shrunk and its forecast lag (see the module docstring), so: none, or a clear one.
    rng = np.random.default_rng(7)
    inside: list[np.ndarray] = []
    weekly_inside: list[bool] = []
    for _ in range(300):
        days = np.arange(30 + HORIZON_DAYS)
        level = 3.0 + daily_growth * days
        costs = level * WORKWEEK[days % 7] * rng.normal(1.0, 0.2, len(days))
        result = forecast_series(costs[:30], first_weekday=0)
        actual = costs[30:]
        inside.append((actual >= result.lower) & (actual <= result.upper))
        weekly_inside.append(abs(actual.sum() - result.weekly_total) <= result.weekly_plus_minus)
    assert np.concatenate(inside).mean() == pytest.approx(COVERAGE, abs=0.05)
    assert np.mean(weekly_inside) == pytest.approx(COVERAGE, abs=0.07)


@pytest.mark.parametrize("slope", [0.01, -0.01])
def test_trend_is_the_sign_of_the_designs_slope_with_its_r_squared(slope: float) -> None:
    # A slope inside the noise (±0.3 on alternate days): the design names its direction,
    # ours calls it flat.
    days = np.arange(30)
    costs = 3.0 + slope * days + np.where(days % 2 == 0, 0.3, -0.3)
    line = stats.linregress(days, costs)
    assert np.sign(line.slope) == np.sign(slope) and line.pvalue > 0.05
    result = forecast_series(costs, first_weekday=0)
    assert result.trend == ("increasing" if slope > 0 else "decreasing")
    assert result.confidence == pytest.approx(line.rvalue**2)
    assert result.trend_significant == "flat"
    clear = forecast_series(3.0 + 20 * slope * days, first_weekday=0)
    assert (clear.trend, clear.trend_significant, clear.confidence) == (
        result.trend, result.trend, pytest.approx(1.0))


def test_one_day_of_history_gives_a_flat_forecast_without_spread() -> None:
    result = forecast_series([0.42], first_weekday=4)
    np.testing.assert_allclose(result.predicted, 0.42)
    np.testing.assert_allclose(result.lower, 0.42)
    np.testing.assert_allclose(result.upper, 0.42)
    assert (result.trend, result.r_squared, result.weekly_plus_minus) == ("flat", 0.0, 0.0)


@pytest.mark.parametrize("days", [1, 5, 30])
def test_all_zero_costs_forecast_zero(days: int) -> None:
    result = forecast_series(np.zeros(days), first_weekday=6)
    for values in (result.predicted, result.lower, result.upper):
        np.testing.assert_array_equal(values, 0.0)
    assert (result.trend, result.r_squared, result.weekly_total) == ("flat", 0.0, 0.0)


def test_projection_sentence_reads_like_the_design() -> None:
    assert projection_sentence(12.5, 2.3) == "Projected weekly cost: $12.50 ± $2.30"
    assert projection_sentence(0.0123, 0.004) == "Projected weekly cost: $0.0123 ± $0.0040"


# ---------------------------------------------------------------------------------------
# The asset on hand-made rows of cascade_analytics


def _run_rows(daily: dict[str, dict[date, float]], runs_per_day: int = 2) -> pd.DataFrame:
    """cascade_analytics rows: each day's cost split over a few runs spread over the day."""
    rows = []
    for cascade_id, costs in daily.items():
        for day, cost in costs.items():
            for run in range(runs_per_day):
                rows.append(
                    {
                        "session_id": f"{cascade_id}-{day}-{run}",
                        "cascade_id": cascade_id,
                        "created_at": datetime.combine(day, time(1 + 22 * run // runs_per_day, 15)),
                        "total_cost": cost / runs_per_day,
                    }
                )
    return pd.DataFrame(rows)


def _insert(store: ClickHouseStore, frame: pd.DataFrame) -> None:
    with store.session("test data") as session:
        session.insert_df("cascade_analytics", frame)


def _materialize(store: ClickHouseStore) -> dict[str, Any]:
    result = dagster.materialize(
        [forecasts], resources={"store": store}, instance=DagsterInstance.ephemeral()
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("forecasts")
    return {key: getattr(value, "value", value) for key, value in materialization.metadata.items()}


def _table(store: ClickHouseStore, name: str, order: str) -> pd.DataFrame:
    with store.session("test read") as session:
        return session.df(f"SELECT * FROM ${{analytics}}.`{name}` ORDER BY {order}")


def _days(last: date, count: int) -> list[date]:
    return [last - timedelta(days=back) for back in range(count - 1, -1, -1)]


def _mixed_history() -> dict[str, dict[date, float]]:
    """Four weeks of a steady cascade, a Monday-only one, a free one and a newcomer."""
    weeks = _days(LAST_DAY, 28)
    return {
        "steady": {d: 4.0 * WORKWEEK[d.weekday()] for d in weeks},
        "mondays": {d: 7.0 for d in weeks if d.weekday() == 0},
        "free": {d: 0.0 for d in weeks},
        "newcomer": {LAST_DAY: 1.5},
    }


@pytest.fixture(scope="module")
def mixed() -> Iterator[tuple[ClickHouseStore, dict[str, Any]]]:
    """Fresh databases with the mixed history, materialized once for the tests that read
    it (module_store is the demo's)."""
    from conftest import _fresh_store

    databases = _fresh_store()
    store = next(databases)
    _insert(store, _run_rows(_mixed_history()))
    yield store, _materialize(store)
    next(databases, None)


@pytest.fixture(scope="module")
def mixed_store(mixed: tuple[ClickHouseStore, dict[str, Any]]) -> ClickHouseStore:
    return mixed[0]


def test_forecast_rows_follow_the_last_complete_day(
    mixed: tuple[ClickHouseStore, dict[str, Any]],
) -> None:
    mixed_store, metadata = mixed
    frame = _table(mixed_store, "forecasts", "cascade_id, day")
    assert metadata["dagster/row_count"] == len(frame) == 5 * HORIZON_DAYS
    assert sorted(frame["cascade_id"].unique()) == sorted([TOTAL, *_mixed_history()])
    horizon = [LAST_DAY + timedelta(days=ahead) for ahead in range(1, HORIZON_DAYS + 1)]
    for _, rows in frame.groupby("cascade_id"):
        assert [d.date() for d in pd.to_datetime(rows["day"])] == horizon
    assert set(pd.to_datetime(frame["history_end"]).dt.date) == {LAST_DAY}
    assert (frame["lower_bound"] <= frame["predicted_cost"]).all()
    assert (frame["predicted_cost"] <= frame["upper_bound"]).all()
    assert set(frame["trend"]) <= {"increasing", "decreasing", "flat"}
    with mixed_store.session("test read") as session:
        columns = session.rows(
            "SELECT name, type FROM system.columns WHERE database = {db:String}"
            " AND table = 'forecasts' ORDER BY position",
            {"db": session.analytics_database},
        )
    assert columns == [
        ("cascade_id", "String"), ("day", "Date"), ("predicted_cost", "Float64"),
        ("lower_bound", "Float64"), ("upper_bound", "Float64"),
        ("trend", "LowCardinality(String)"), ("trend_significant", "LowCardinality(String)"),
        ("confidence", "Float64"), ("r_squared", "Float64"),
        ("history_start", "Date"), ("history_end", "Date"), ("generated_at", "DateTime"),
    ]
    assert metadata["projection"].startswith("Projected weekly cost: $")
    assert "| cascade" in metadata["weekly_projections"]
    assert "| day" in metadata["forecast_total"]
    assert "| cascade" in metadata["backtest"]


def test_missing_days_count_as_zero_cost(mixed_store: ClickHouseStore) -> None:
    with mixed_store.session("test read") as session:
        mondays = forecast_rows(session, "mondays")
        projection = weekly_projection(session, "mondays")
        total = weekly_projection(session)
    # Seven dollars a week, on Mondays; not seven dollars a day.
    assert projection is not None and projection[0] == pytest.approx(7.0)
    first_monday = min(_mixed_history()["mondays"])
    for row in mondays:
        expected = 7.0 if row["day"].weekday() == 0 else 0.0
        assert row["predicted_cost"] == pytest.approx(expected, abs=1e-9)
        assert row["history_start"] == first_monday
    # The total is a series of its own: the newcomer's single day barely moves it.
    steady_week = 4.0 * WORKWEEK.sum()
    assert total is not None
    assert steady_week + 7.0 <= total[0] <= steady_week + 7.0 + 1.5


def test_one_day_of_history_and_all_zero_costs_do_not_fail(
    mixed_store: ClickHouseStore,
) -> None:
    with mixed_store.session("test read") as session:
        newcomer = forecast_rows(session, "newcomer")
        free = forecast_rows(session, "free")
        free_week = weekly_projection(session, "free")
    assert len(newcomer) == len(free) == HORIZON_DAYS
    for row in newcomer:
        assert row["predicted_cost"] == row["lower_bound"] == row["upper_bound"] == 1.5
        assert (row["trend"], row["trend_significant"], row["confidence"], row["r_squared"]
                ) == ("flat", "flat", 0.0, 0.0)
        assert row["history_start"] == row["history_end"] == LAST_DAY
    for row in free:
        assert row["predicted_cost"] == row["lower_bound"] == row["upper_bound"] == 0.0
        assert (row["trend"], row["trend_significant"], row["confidence"], row["r_squared"]
                ) == ("flat", "flat", 0.0, 0.0)
    assert free_week == (0.0, 0.0)


def test_unknown_cascade_and_empty_store_have_no_forecast(store: ClickHouseStore) -> None:
    metadata = _materialize(store)
    assert metadata["dagster/row_count"] == 0
    with store.session("test read") as session:
        assert weekly_projection(session) is None
        assert forecast_rows(session, "nope") == []
        assert last_complete_day(session) is None


def test_origin_is_the_data_not_the_clock(store: ClickHouseStore) -> None:
    today = utc_now().date()  # the asset reads the clock: this test is about it
    ended = today - timedelta(days=12)
    _insert(store, _run_rows({"old": {d: 1.0 for d in _days(ended, 20)}}))
    with store.session("test read") as session:
        assert last_complete_day(session) == ended
    # Runs of today (not over yet) are left out: the origin becomes yesterday.
    _insert(store, _run_rows({"old": {today: 50.0}}))
    with store.session("test read") as session:
        assert last_complete_day(session) == today - timedelta(days=1)
        assert last_complete_day(session, today=ended + timedelta(days=1)) == ended
    _materialize(store)
    with store.session("test read") as session:
        rows = forecast_rows(session, "old")
    assert rows[0]["day"] == today
    assert max(row["predicted_cost"] for row in rows) < 1.0  # the zero days since count


def test_a_cost_beyond_any_decimal_is_forecast(store: ClickHouseStore) -> None:
    """A finite but absurd logged cost (1e30 USD: a broken price) is summed, not a failure;
    the daily totals once went through Decimal128(38, 12), which tops out near 1.7e26."""
    _insert(store, _run_rows({"absurd": {d: 1e30 for d in _days(LAST_DAY, 7)}}))
    _materialize(store)
    with store.session("test read") as session:
        rows = forecast_rows(session, "absurd")
    assert len(rows) == HORIZON_DAYS
    assert rows[0]["predicted_cost"] == pytest.approx(1e30)


def test_same_data_gives_the_same_forecast(
    store: ClickHouseStore, twin_store: ClickHouseStore
) -> None:
    rng = np.random.default_rng(11)
    history = {
        cascade: {d: float(rng.gamma(2.0, 0.7)) * WORKWEEK[d.weekday()]
                  for d in _days(LAST_DAY, 45)}
        for cascade in ("alpha", "beta", "gamma")
    }
    rows = _run_rows(history, runs_per_day=7)
    _insert(store, rows)
    # The twin gets the rows in another order and in three inserts (three parts per day to
    # sum in any order), and is materialized at another time.
    shuffled = rows.sample(frac=1.0, random_state=1)
    for part in np.array_split(np.arange(len(shuffled)), 3):
        _insert(twin_store, shuffled.iloc[part])
    _materialize(store)
    _materialize(twin_store)
    orders = {"forecasts": "cascade_id, day", "forecast_weekly": "cascade_id",
              "forecast_backtest": "cascade_id"}
    for name, order in orders.items():
        first = _table(store, name, order).drop(columns="generated_at")
        twin = _table(twin_store, name, order).drop(columns="generated_at")
        assert len(first) > 0
        pd.testing.assert_frame_equal(twin, first, check_exact=True)
    first_forecasts = _table(store, "forecasts", "cascade_id, day")
    assert list(first_forecasts.columns) == list(FORECAST_COLUMNS)


# ---------------------------------------------------------------------------------------
# The backtest on a demo load


# Stages of the per-run pipeline that cascade_analytics.total_cost does not need. The weekly
# cost-model training dominates a full `analyse` of this load (about 20 s of 30 s on an idle
# machine, minutes on a busy one); without it the rows have no predicted_cost, which the
# forecast does not read.
NOT_NEEDED_FOR_COSTS = {"cost_prediction_model", "cell_analytics"}


def analyse_costs(store: ClickHouseStore, first: date, last: date) -> None:
    """The per-run pipeline over [first, last] as one backfill run, as `analyse` does it."""
    stages = [
        stage for stage in per_run_assets
        if stage.key.to_user_string() not in NOT_NEEDED_FOR_COSTS
    ]
    result = dagster.materialize(
        stages,
        resources={"store": store},
        instance=DagsterInstance.ephemeral(),
        tags={RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()},
    )
    assert result.success


@pytest.fixture(scope="module")
def demo_store(module_store: ClickHouseStore, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """60 days (pinned dates) for six weekly backtest origins; not the shared 30-day demo,
    whose two origins are too few for the forecast to show against the naive one."""
    with module_store.session("test demo") as session:
        summary = generate_demo(
            session, days=DEMO_DAYS, sessions_per_day=150, seed=5, end_date=DEMO_END,
            ground_truth_path=Path(tmp_path_factory.mktemp("demo")) / "gt.json", now=PINNED_NOW,
        )
    analyse_costs(module_store, summary.first_day, summary.last_day)
    metadata = _materialize(module_store)
    return module_store, metadata


def test_demo_forecast_beats_same_day_last_week(demo_store: Any) -> None:
    store, metadata = demo_store
    backtest = _table(store, "forecast_backtest", "cascade_id").set_index("cascade_id")
    # Every cascade of the demo, and the total; 60 days give six weekly origins with the 14
    # days of history a fold needs behind them (fewer for the cascade that starts later).
    folds = {c.cascade_id: (DEMO_DAYS - int(c.starts_at * DEMO_DAYS) - 14) // 7 for c in CASCADES}
    assert sorted(backtest.index) == sorted([TOTAL, *folds])
    expected = pd.Series(folds | {TOTAL: BACKTEST_FOLDS_OF_THE_DEMO})
    assert (backtest["folds"] == expected[backtest.index]).all(), backtest["folds"]
    assert (backtest["held_out_days"] == 7 * backtest["folds"]).all()
    total = backtest.loc[TOTAL]
    assert total["mae"] < 0.85 * total["naive_mae"]
    # Per cascade, on average, and for most cascades.
    assert (backtest["mae"] / backtest["naive_mae"]).mean() < 0.95
    assert (backtest["mae"] < backtest["naive_mae"]).mean() >= 0.6
    assert metadata["backtest_total_mae_usd"] == pytest.approx(total["mae"])


def test_demo_intervals_hold_about_the_stated_share(demo_store: Any) -> None:
    store, metadata = demo_store
    backtest = _table(store, "forecast_backtest", "cascade_id")
    held_out = backtest["held_out_days"]
    pooled = (backtest["interval_coverage"] * held_out).sum() / held_out.sum()
    assert pooled == pytest.approx(COVERAGE, abs=0.1)
    assert metadata["backtest_interval_coverage"] == pytest.approx(pooled)
    assert (backtest["coverage_target"] == COVERAGE).all()


def test_demo_forecast_keeps_the_quiet_weekend(demo_store: Any) -> None:
    store, _ = demo_store
    with store.session("test read") as session:
        rows = forecast_rows(session, TOTAL)
        projected, plus_minus = weekly_projection(session) or (0.0, 0.0)
    weekend = [r["predicted_cost"] for r in rows if r["day"].weekday() >= 5]
    workdays = [r["predicted_cost"] for r in rows if r["day"].weekday() < 5]
    assert max(weekend) < 0.75 * min(workdays)  # the demo's weekend load is 45%
    assert projected == pytest.approx(sum(r["predicted_cost"] for r in rows))
    assert 0 < plus_minus < 0.3 * projected
    assert rows[0]["history_end"] == DEMO_END
