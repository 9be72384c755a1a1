"""Baselines, z-scores, flags, efficiency and regressions against hand-computed values."""

import math

import pytest
from analyse import analyse, at, day, row
from runs import Row, Run, llm, write_runs

pytestmark = pytest.mark.store_open_for_the_test

HUGE_INPUT = '{"text": "' + "x" * 50_000 + '"}'


def _runs():
    runs = [
        Run("c1", "c", at(0, 10), [llm(1.0, species_hash="sp1")]),
        Run("c2", "c", at(0, 11), [llm(2.0, species_hash="sp1")]),
        Run("c3", "c", at(0, 12), [llm(4.0, species_hash="sp1")]),
        Run("c4", "c", at(1, 10), [llm(8.0, species_hash="sp1")]),
        Run("c-huge", "c", at(1, 11), [llm(3.0)], input_data=HUGE_INPUT),
        # float noise: 0.1 + 0.2 != 0.3
        Run("n1", "noise", at(0, 10), [llm(0.1), llm(0.2, at=1.5)]),
        Run("n2", "noise", at(0, 11), [llm(0.3), llm(0.0, at=1.5)]),
        Run("n3", "noise", at(0, 12), [llm(0.3), llm(0.0, at=1.5)]),
    ]
    # Regression: 10 runs at 1.0, then 10 at 1.6, then one more.
    for i in range(21):
        cost = 1.0 if i < 10 else 1.6
        runs.append(Run(f"r{i + 1:02d}", "r", at(2, 8, i), [llm(cost, species_hash="sp_r")]))
    # Error outliers: cascade e has 20 clean runs before an error; e2 only 19.
    for cascade, clean_runs in (("e", 20), ("e2", 19)):
        for i in range(clean_runs):
            runs.append(Run(f"{cascade}-{i:02d}", cascade, at(3, 8, i), [llm(0.01)]))
        runs.append(Run(f"{cascade}-err", cascade, at(3, 9), [
            llm(0.01), Row(node_type="cell_error", role="", at=1.5)]))
    return runs


@pytest.fixture(scope="module")
def scored(module_store):
    store = module_store
    with store.session("test data") as session:
        write_runs(session, _runs())
    analyse(store, day(0), day(3))
    return store


def test_first_run_has_zero_baselines_and_no_species_average(scored):
    b = row(scored, "baselines", "c1")
    assert (b["global_run_count"], b["global_avg_cost"], b["cluster_avg_cost"]) == (0, 0, 0)
    assert b["cluster_stddev_cost"] == 0
    assert b["species_run_count"] == 0 and _missing(b["species_avg_cost"])
    assert row(scored, "anomaly_scores", "c1")["cost_z_score"] == 0


def test_one_prior_run_gives_its_values_and_zero_stddev(scored):
    b = row(scored, "baselines", "c2")
    assert b["global_avg_cost"] == 1.0 and b["cluster_avg_cost"] == 1.0
    assert b["cluster_stddev_cost"] == 0
    assert b["species_avg_cost"] == 1.0 and b["species_run_count"] == 1
    assert row(scored, "anomaly_scores", "c2")["cost_z_score"] == 0


def test_cluster_stddev_and_z_score_across_days(scored):
    b = row(scored, "baselines", "c4")  # prior runs 1, 2, 4 on the day before
    mean = 7 / 3
    stddev = math.sqrt(((1 - mean) ** 2 + (2 - mean) ** 2 + (4 - mean) ** 2) / 3)
    assert b["cluster_avg_cost"] == pytest.approx(mean)
    assert b["cluster_stddev_cost"] == pytest.approx(stddev)
    assert b["global_avg_tokens"] == pytest.approx(120)
    scores = row(scored, "anomaly_scores", "c4")
    assert scores["cost_z_score"] == pytest.approx((8 - mean) / stddev)
    assert scores["is_cost_outlier"]
    assert scores["tokens_z_score"] == 0 and not scores["is_tokens_outlier"]
    analytics = row(scored, "cascade_analytics", "c4")
    assert analytics["cost_z_score"] == pytest.approx((8 - mean) / stddev, rel=1e-6)
    assert analytics["species_avg_cost"] == pytest.approx(mean)


def test_another_input_category_is_another_cluster(scored):
    b = row(scored, "baselines", "c-huge")
    assert b["input_category"] == "huge"
    assert b["global_run_count"] == 4 and b["cluster_run_count"] == 0
    assert b["global_avg_cost"] == pytest.approx(15 / 4)


def test_floating_point_noise_is_not_a_stddev(scored):
    b = row(scored, "baselines", "n3")
    assert b["cluster_stddev_cost"] == 0
    assert row(scored, "anomaly_scores", "n3")["cost_z_score"] == 0


def test_efficiency(scored):
    scores = row(scored, "anomaly_scores", "c1")  # one LLM row plus the completion row
    assert scores["cost_per_message"] == pytest.approx(0.5)
    assert scores["cost_per_output_token"] == pytest.approx(1.0 / 20)
    assert scores["duration_per_message"] == pytest.approx(500.0)
    assert scores["tokens_per_message"] == pytest.approx(60.0)


@pytest.mark.parametrize(
    ("session_id", "change", "severity"),
    [
        ("r10", 0.0, "none"),       # 9 prior runs: not enough history
        ("r11", 0.0, "none"),       # 10 prior runs: historical = recent
        ("r16", 30.0, "minor"),     # recent 5x1.0 + 5x1.6 vs 1.0
        ("r20", 54.0, "critical"),  # recent 1x1.0 + 9x1.6 vs 1.0
        ("r21", 60.0, "critical"),  # recent 10x1.6 vs 1.0
    ],
)
def test_regression_severity(scored, session_id, change, severity):
    flags = row(scored, "regression_flags", session_id)
    assert flags["vs_recent_avg_cost"] == pytest.approx(change)
    assert flags["regression_severity"] == severity
    assert bool(flags["is_regression"]) == (severity != "none")


def test_error_outlier_needs_twenty_clean_prior_runs(scored):
    assert row(scored, "anomaly_scores", "e-err")["is_error_outlier"]
    assert not row(scored, "anomaly_scores", "e2-err")["is_error_outlier"]
    assert not row(scored, "anomaly_scores", "e-05")["is_error_outlier"]


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value) == "<NA>"


def test_error_outlier_history_is_configurable_and_said(store, monkeypatch):
    from rvbbit_assets.serving.views import session_analytics

    monkeypatch.setenv("RVBBIT_ERROR_OUTLIER_MIN_PRIOR_RUNS", "5")
    runs = []
    for cascade, clean_runs in (("five", 5), ("four", 4)):
        runs += [Run(f"{cascade}-{i}", cascade, at(3, 8, i), [llm(0.01)])
                 for i in range(clean_runs)]
        runs.append(Run(f"{cascade}-err", cascade, at(3, 9), [
            llm(0.01), Row(node_type="cell_error", role="", at=1.5)]))
    with store.session("test data") as session:
        write_runs(session, runs)
    analyse(store, day(3))
    assert row(store, "anomaly_scores", "five-err")["is_error_outlier"]
    assert not row(store, "anomaly_scores", "four-err")["is_error_outlier"]
    analysed = row(store, "cascade_analytics", "five-err")
    assert (analysed["is_error_outlier"], analysed["error_outlier_min_prior_runs"]) == (True, 5)
    with store.session("test api") as session:
        document = session_analytics(session, "five-err")
    assert document["error_outlier"] == {
        "is_error_outlier": True, "min_prior_runs": 5,
        "rule": "errors while under 5% of the cascade's earlier runs had any"}


def test_error_outlier_history_defaults_to_twenty(scored):
    assert row(scored, "cascade_analytics", "e-err")["error_outlier_min_prior_runs"] == 20
