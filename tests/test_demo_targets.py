"""The issues' targets on the demo data: the `demo` command's data (its default size and
seed, pinned dates) analysed once, measured against its planted ground truth."""

import pytest

from rvbbit_assets.demo.detection_report import detection_report


@pytest.fixture(scope="module")
def demo_store(shared_demo):
    return shared_demo.store, shared_demo.truth


def test_cost_model_beats_the_naive_baseline_by_30_percent(demo_store):
    store, _ = demo_store
    with store.session("test read") as session:
        latest = session.df("SELECT * FROM ${analytics}.cost_models FINAL"
                            " ORDER BY model_version DESC LIMIT 1").iloc[0]
    assert latest["model_mae"] <= 0.7 * latest["naive_mae"], latest.to_dict()


def test_robust_flags_meet_the_targets_where_the_design_falls_short(demo_store):
    store, truth = demo_store
    with store.session("test report") as session:
        report = detection_report(session, truth)
    assert report.spikes > 0 and report.regressed_runs > 0
    assert report.robust_spike_recall >= 0.95
    assert report.robust_cost_false_flags <= 0.01
    assert report.robust_regression_recall >= 0.8
    assert report.robust_regression_false_flags <= 0.02
    # What the issue measured of the design's flags, so the comparison stays honest.
    assert report.design_cost_false_flags > 0.01
    assert report.design_regression_recall < 0.5
