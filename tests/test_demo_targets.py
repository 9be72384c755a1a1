"""The issues' targets on the demo data: the `demo` command's data (its default size, seed and
world, ending on a fixed day) analysed once, measured against its planted ground truth. The
comparison with the design's flags, and the other worlds and seeds, are in
bench/detection_bench.py."""

import json
from datetime import date

import pytest
from analyse import analyse

from rvbbit_assets.demo import generate_demo
from rvbbit_assets.demo.detection_report import detection_report

DEMO_END = date(2026, 11, 29)


@pytest.fixture(scope="module")
def demo_store(module_store, tmp_path_factory):
    truth = tmp_path_factory.mktemp("demo") / "ground_truth.json"
    with module_store.session("test demo") as session:
        demo = generate_demo(session, days=30, sessions_per_day=300, seed=7,
                             end_date=DEMO_END, ground_truth_path=truth)
    analyse(module_store, demo.first_day, demo.last_day)
    return module_store, json.loads(truth.read_text())


def test_cost_model_beats_the_naive_baseline_by_30_percent(demo_store):
    store, _ = demo_store
    with store.session("test read") as session:
        latest = session.df("SELECT * FROM ${analytics}.cost_models FINAL"
                            " ORDER BY model_version DESC LIMIT 1").iloc[0]
    assert latest["model_mae"] <= 0.7 * latest["naive_mae"], latest.to_dict()


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
