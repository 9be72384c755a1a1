"""Cost-prediction model: point-in-time versions, persisted, deterministic, useful."""

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from analyse import analyse, table

from rvbbit_assets import cost_model, cost_training
from rvbbit_assets.assets import cost_prediction_model
from rvbbit_assets.assets.cost_prediction_model import week_start
from rvbbit_assets.cli import main
from rvbbit_assets.cost_estimate import estimate_cost
from rvbbit_assets.cost_model import (
    MAX_TRAINING_RUNS,
    MIN_TRAINING_RUNS,
    TRAINING_WEEKS,
    CostModelVersion,
    train_version,
    training_window,
)
from rvbbit_assets.day_partitions import load_sql, utc_now
from rvbbit_assets.demo import generate_demo
from rvbbit_assets.worker_pool import pool_allowed


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
        earliest = version - timedelta(weeks=TRAINING_WEEKS)
        earlier = int(facts["created_at"].between(earliest, version, inclusive="left").sum())
        assert model["training_rows"] == min(earlier, MAX_TRAINING_RUNS)
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


def _history(runs: int, first: datetime, last: datetime) -> pd.DataFrame:
    """cost_features.sql's ordering: (created_at, session_id), evenly over [first, last)."""
    created = pd.date_range(first, last, periods=runs + 1)[:-1]
    return pd.DataFrame({
        "session_id": [f"s{i:07d}" for i in range(runs)],
        "created_at": created,
        "total_cost": np.arange(runs) * 1e-5,
    })


def test_training_window_is_the_recent_weeks_before_the_version():
    version = datetime(2026, 3, 2)
    history = _history(20_000, version - timedelta(weeks=20), version + timedelta(weeks=1))
    window = training_window(history, version)
    earliest = version - timedelta(weeks=TRAINING_WEEKS)
    expected = history[(history["created_at"] >= earliest) & (history["created_at"] < version)]
    assert 0 < len(expected) < MAX_TRAINING_RUNS
    pd.testing.assert_frame_equal(window, expected)


def test_training_window_samples_evenly_beyond_the_cap():
    version = datetime(2026, 3, 2)
    earliest = version - timedelta(weeks=TRAINING_WEEKS)
    history = _history(3 * MAX_TRAINING_RUNS, earliest, version + timedelta(weeks=1))
    window = training_window(history, version)
    assert len(window) == MAX_TRAINING_RUNS
    assert window["created_at"].is_monotonic_increasing  # the newest runs stay the holdout
    assert (window["created_at"] < version).all()
    # Spread over the whole window (not the most recent runs): every week is represented
    # in proportion, within sampling noise.
    per_week = window.groupby((window["created_at"] - earliest) // timedelta(weeks=1)).size()
    assert len(per_week) == TRAINING_WEEKS
    assert per_week.min() > 0.8 * MAX_TRAINING_RUNS / TRAINING_WEEKS
    # The sample depends only on the runs before the version, not on later ones.
    before = history[history["created_at"] < version]
    pd.testing.assert_frame_equal(training_window(before, version), window)


@pytest.mark.skipif(not pool_allowed(), reason="no second core here")
def test_versions_trained_in_a_worker_equal_those_trained_here(modelled, monkeypatch):
    store, demo = modelled
    with store.session("test read") as session:
        history = session.df(load_sql(cost_prediction_model.__file__, "cost_features"),
                             {"since": datetime(2000, 1, 1), "end": datetime.now()})
    versions = sorted({week_start(day) for day in history["created_at"].dt.date})[1:]
    jobs = [(training_window(history, v), v, f"fingerprint {v}") for v in versions]
    assert len(jobs) >= 2
    here = [train_version(*job) for job in jobs]
    # Every job to the worker; fitting in this process fails, so the worker did them all.
    monkeypatch.setattr(cost_training, "_share_out", lambda jobs: ([], list(range(len(jobs)))))

    def not_here(*args):
        raise AssertionError("trained in this process")

    monkeypatch.setattr(cost_model, "_train", not_here)
    there = cost_training.train_versions(jobs)
    runs = history.tail(500)
    for mine, theirs in zip(here, there, strict=True):
        assert theirs.to_row(demo.last_day) | {"model_pickle": ""} == mine.to_row(
            demo.last_day) | {"model_pickle": ""}
        for a, b in zip(mine.predict(runs), theirs.predict(runs), strict=True):
            np.testing.assert_array_equal(a, b)


def test_small_versions_are_all_trained_here():
    version = datetime(2026, 3, 2)
    history = _history(4_000, version - timedelta(weeks=3), version)
    jobs = [(history.head(n), version, "f") for n in (1_000, 2_000, 4_000)]
    assert cost_training._share_out(jobs) == ([2, 1, 0], [])
