"""Cost-prediction model: point-in-time versions, persisted, deterministic, useful."""

from datetime import timedelta

import pandas as pd
import pytest
from analyse import analyse, table

from rvbbit_assets.assets.cost_prediction_model import week_start
from rvbbit_assets.cli import main
from rvbbit_assets.cost_estimate import estimate_cost
from rvbbit_assets.cost_model import MIN_TRAINING_RUNS, CostModelVersion
from rvbbit_assets.day_partitions import utc_now
from rvbbit_assets.demo import generate_demo


@pytest.fixture(scope="module")
def modelled(module_store, tmp_path_factory):
    end = utc_now().date() - timedelta(days=1)
    with module_store.session("test demo") as session:
        demo = generate_demo(session, days=24, sessions_per_day=250, seed=4, end_date=end,
                             ground_truth_path=tmp_path_factory.mktemp("gt") / "gt.json")
    analyse(module_store, demo.first_day, demo.last_day)
    return module_store, demo


def _models(store):
    with store.session("test read") as session:
        return session.df("SELECT * FROM ${analytics}.cost_models FINAL ORDER BY model_version")


def test_versions_never_see_their_week_or_later(modelled):
    store, demo = modelled
    models = _models(store)
    assert len(models) >= 2
    facts = table(store, "session_facts")
    predictions = table(store, "cost_predictions")
    for model in models.to_dict("records"):
        version = pd.Timestamp(model["model_version"])
        assert model["training_end"] == version
        assert model["holdout_start"] < version
        earlier = int((facts["created_at"] < version).sum())
        assert model["training_rows"] == min(earlier, 100_000)
        predicted = predictions[predictions["model_version"] == model["model_version"]]
        assert (predicted["created_at"] >= version).all()
        assert (predicted["created_at"] < version + timedelta(days=7)).all()


def test_predictions_filled_from_the_first_model_on(modelled):
    store, _ = modelled
    first_version = pd.Timestamp(_models(store)["model_version"].min())
    analytics = table(store, "cascade_analytics")
    before = analytics[analytics["created_at"] < first_version]
    after = analytics[analytics["created_at"] >= first_version]
    assert len(before) >= MIN_TRAINING_RUNS
    assert before["predicted_cost"].isna().all()
    assert after["predicted_cost"].notna().all()
    error = (after["total_cost"] - after["predicted_cost"]) / after["predicted_cost"]
    assert after["prediction_error"].to_numpy() == pytest.approx(error.to_numpy(), rel=1e-5)


def test_model_beats_the_naive_baseline(modelled):
    store, _ = modelled
    latest = _models(store).iloc[-1]
    assert latest["model_mae"] < latest["naive_mae"], latest.to_dict()


def test_rerun_gives_the_same_models_and_predictions(modelled):
    store, demo = modelled
    models_before = _models(store).drop(columns=["trained_at"])
    predictions_before = table(store, "cost_predictions")
    with store.session("test") as session:  # force retraining from scratch
        session.command("TRUNCATE TABLE ${analytics}.cost_models")
    analyse(store, demo.first_day, demo.last_day)
    pd.testing.assert_frame_equal(_models(store).drop(columns=["trained_at"]), models_before)
    pd.testing.assert_frame_equal(table(store, "cost_predictions"), predictions_before)


def test_stored_versions_reload_and_predict_as_stored(modelled):
    store, _ = modelled
    row = _models(store).iloc[-1].to_dict()
    model = CostModelVersion.from_row(row)
    assert model.training_fingerprint == row["training_fingerprint"]
    assert week_start(row["model_version"]) == model.model_version


def test_pre_run_estimate_and_cli(modelled, capsys, monkeypatch):
    store, _ = modelled
    with store.session("test") as session:
        cascade_id = session.scalar("SELECT any(cascade_id) FROM ${analytics}.session_facts")
        estimate = estimate_cost(session, cascade_id, '{"question": "it\'s fine"}')
    assert estimate is not None
    assert 0 <= estimate.interval_low <= estimate.predicted_cost <= estimate.interval_high
    monkeypatch.setenv("RVBBIT_SOURCE_DATABASE", store.source_database)
    monkeypatch.setenv("RVBBIT_ANALYTICS_DATABASE", store.analytics_database)
    assert main(["predict", cascade_id, "--input", '{"rows": [1, 2]}']) == 0
    assert "predicted cost $" in capsys.readouterr().out
