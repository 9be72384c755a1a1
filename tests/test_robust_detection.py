"""Robust scores and significant regressions on hand-made histories, point-in-time."""

import random

import numpy as np
import pandas as pd
import pytest
from analyse import analyse, at, day, table
from runs import Run, llm, write_runs

from rvbbit_assets.assets import robust_detection
from rvbbit_assets.assets.robust_detection_sql import MAD_TO_SIGMA, MIN_RELATIVE_SCALE
from rvbbit_assets.day_partitions import DayRange

LAST_DAY = 20


def _noisy(rng: random.Random, level: float, spread: float = 0.1) -> float:
    return level * rng.lognormvariate(0, spread)


def _history() -> list[Run]:
    rng = random.Random(5)
    runs: list[Run] = []
    # A constant history: MAD 0; then the usual value, a small step and a 5x spike.
    runs += [Run(f"const-{i}", "const", at(0, 8, i), [llm(1.0)]) for i in range(15)]
    runs += [Run(name, "const", at(1, 8), [llm(cost)])
             for name, cost in (("const-same", 1.0), ("const-step", 1.1), ("const-spike", 5.0))]
    # Too few earlier runs to judge a 10x run.
    runs += [Run(f"few-{i}", "few", at(0, 9, i), [llm(1.0)]) for i in range(5)]
    runs.append(Run("few-spike", "few", at(1, 9), [llm(10.0)]))
    # Weekends cost three times weekdays, every week.
    for offset in range(LAST_DAY):
        weekend = day(offset).isoweekday() >= 6
        runs += [Run(f"week-{offset}-{i}", "week", at(offset, 10 + i),
                     [llm(_noisy(rng, 3.0 if weekend else 1.0))]) for i in range(2)]
    # One species, steady for 30 runs, then twice as expensive.
    for i in range(45):
        cost = _noisy(rng, 2.0 if i >= 30 else 1.0)
        runs.append(Run(f"shift-{i:02}", "shift", at(i // 3, 12 + i % 3),
                        [llm(cost, species_hash="sp-shift")]))
    # One species of pure noise.
    runs += [Run(f"noise-{i:02}", "noise", at(i // 3, 15 + i % 3),
                 [llm(_noisy(rng, 1.0), species_hash="sp-noise")]) for i in range(60)]
    return runs


def _last_weekday_and_weekend() -> tuple[int, int]:
    offsets = range(LAST_DAY, LAST_DAY + 7)
    weekday = next(o for o in offsets if day(o).isoweekday() < 6)
    weekend = next(o for o in offsets if day(o).isoweekday() >= 6)
    return weekday, weekend


@pytest.fixture(scope="module")
def detected(module_store):
    weekday, weekend = _last_weekday_and_weekend()
    with module_store.session("test data") as session:
        write_runs(session, _history())
    analyse(module_store, day(0), day(LAST_DAY - 1))
    before_later_days = table(module_store, "robust_detection")
    # Later days: typical costs of each day type, and a weekday run at the weekend level.
    with module_store.session("test data") as session:
        write_runs(session, [
            Run("week-typical-weekday", "week", at(weekday, 9), [llm(1.0)]),
            Run("week-weekend-cost-on-weekday", "week", at(weekday, 10), [llm(3.0)]),
            Run("week-typical-weekend", "week", at(weekend, 9), [llm(3.0)]),
            Run("const-later", "const", at(weekday, 11), [llm(100.0)]),
        ])
    analyse(module_store, day(LAST_DAY), day(max(weekday, weekend)))
    rows = table(module_store, "robust_detection").set_index("session_id")
    return rows, before_later_days, table(module_store, "session_facts"), module_store


def test_constant_history_scores_the_usual_value_zero_and_a_spike_finitely(detected):
    rows, *_ = detected
    floor_sigma = MIN_RELATIVE_SCALE * 1.0  # MAD is 0: the scale floor applies
    assert rows.loc["const-same", "cost_robust_z"] == 0
    assert rows.loc["const-step", "cost_robust_z"] == pytest.approx(0.1 / floor_sigma, rel=1e-4)
    assert not rows.loc["const-step", "is_cost_anomaly"]
    assert rows.loc["const-spike", "cost_robust_z"] == pytest.approx(4.0 / floor_sigma, rel=1e-4)
    assert rows.loc["const-spike", "is_cost_anomaly"]
    assert rows.loc["const-spike", "baseline_kind"] == "input"
    assert (rows.filter(like="const", axis=0)["duration_robust_z"] == 0).all()


def test_scores_follow_the_definition_over_earlier_runs_of_the_same_input(detected):
    rows, _, facts, _ = detected
    noise = facts[facts["session_id"].str.startswith("noise-")].sort_values("session_id")
    earlier = noise["total_cost"].to_numpy()[:30]
    median = np.median(earlier)
    sigma = max(MAD_TO_SIGMA * np.median(np.abs(earlier - median)), MIN_RELATIVE_SCALE * median)
    expected = (noise["total_cost"].to_numpy()[30] - median) / sigma
    assert rows.loc["noise-30", "baseline_runs"] == 30
    assert rows.loc["noise-30", "cost_robust_z"] == pytest.approx(expected, rel=1e-4)


def test_too_few_prior_runs_score_zero(detected):
    rows, *_ = detected
    assert rows.loc["few-spike", "baseline_runs"] == 5
    assert rows.loc["few-spike", "cost_robust_z"] == 0
    assert not rows.loc["few-spike", "is_cost_anomaly"]


def test_weekday_and_weekend_are_judged_against_their_own_days(detected):
    rows, *_ = detected
    for session_id in ("week-typical-weekday", "week-typical-weekend"):
        assert rows.loc[session_id, "baseline_by_day_type"], session_id
        assert not rows.loc[session_id, "is_cost_anomaly"], session_id
    assert rows.loc["week-typical-weekend", "baseline_median_cost"] == pytest.approx(3.0, rel=0.15)
    # The weekend's usual cost on a weekday is an anomaly.
    assert rows.loc["week-weekend-cost-on-weekday", "is_cost_anomaly"]


def test_a_clean_shift_is_significant_and_stays_flagged(detected):
    rows, *_ = detected
    shift = rows.filter(like="shift-", axis=0).sort_index()
    before = shift.loc[[f"shift-{i:02}" for i in range(30)]]
    assert not before["is_regression_significant"].any()
    after = shift.loc[[f"shift-{i:02}" for i in range(38, 45)]]  # 8+ prior runs after the change
    assert after["is_regression_significant"].all()
    assert (after["regression_p_value"] < 0.001).all()
    # The design's "last 10 vs the 10 before" would have lost it by now; ours has not.
    assert shift.loc["shift-44", "is_regression_significant"]


def test_pure_noise_is_never_significant(detected):
    rows, *_ = detected
    noise = rows.filter(like="noise-", axis=0)
    assert noise["regression_p_value"].notna().sum() >= 30
    assert not noise["is_regression_significant"].any()


def test_species_with_too_little_history_has_no_p_value(detected):
    rows, *_ = detected
    first = rows.loc[[f"shift-{i:02}" for i in range(19)]]  # fewer than 2 x 10 prior runs
    assert first["regression_p_value"].isna().all()
    assert not first["is_regression_significant"].any()


def test_later_days_never_change_earlier_scores(detected):
    rows, before_later_days, *_ = detected
    earlier = rows.loc[before_later_days["session_id"]].reset_index()
    pd.testing.assert_frame_equal(earlier, before_later_days)
    # The later spike is scored against the earlier constant runs.
    assert rows.loc["const-later", "is_cost_anomaly"]


def test_days_are_grouped_into_queries_by_their_runs():
    days = DayRange(day(0), day(5))
    runs = {day(0): 10, day(1): 50, day(2): 5, day(4): 100}
    assert days.chunks(runs, 60) == [DayRange(day(0), day(1)), DayRange(day(2), day(3)),
                                     DayRange(day(4), day(4)), DayRange(day(5), day(5))]
    assert days.chunks({}, 60) == [days]


def test_one_query_per_day_gives_the_same_rows(detected, monkeypatch):
    rows, _, _, store = detected
    monkeypatch.setattr(robust_detection, "RUNS_PER_QUERY", 1)  # every day a query of its own
    with store.session("test rerun") as session:
        robust_detection.build_robust_detection(session, DayRange(day(0), day(LAST_DAY + 7)))
    pd.testing.assert_frame_equal(table(store, "robust_detection").set_index("session_id"), rows)
