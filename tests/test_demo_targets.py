"""The issues' targets on the demo data: the `demo` command's data (its default size, seed and
world, pinned dates) analysed once, measured against its planted ground truth. The
comparison with the design's flags, and the other worlds and seeds, are in
bench/detection_bench.py."""

import pytest

from rvbbit_assets.demo.detection_report import detection_report

pytestmark = pytest.mark.store_open_for_the_test


@pytest.fixture(scope="module")
def demo_store(shared_demo):
    return shared_demo.store, shared_demo.truth


def test_cost_model_beats_the_naive_baseline_by_15_percent(demo_store):
    """On production-shaped costs, what is knowable before a run caps the gain: even each
    input's median over the holdout itself (which no model can know) beats the naive baseline
    by only 30-38% on the production worlds, since fallbacks, answer lengths and retries vary
    between runs of one input. The model gets 14-24% there (40% on the classic world)."""
    store, _ = demo_store
    with store.session("test read") as session:
        latest = session.df("SELECT * FROM ${analytics}.cost_models FINAL"
                            " ORDER BY model_version DESC LIMIT 1").iloc[0]
    assert latest["model_mae"] <= 0.85 * latest["naive_mae"], latest.to_dict()


def test_recommended_flags_meet_the_targets(demo_store):
    store, truth = demo_store
    with store.session("test report") as session:
        report = detection_report(session, truth)
    assert report.spikes == len(truth["cost_spikes"]["sessions"]) > 0
    assert report.regressed_runs > 0
    assert report.robust_spike_recall >= 0.95
    assert report.robust_driver_accuracy >= 0.8
    assert report.robust_cost_false_flags <= 0.01
    assert report.robust_duration_false_flags <= 0.01
    assert report.robust_regression_recall >= 0.8
    assert report.robust_regression_false_flags <= 0.02
