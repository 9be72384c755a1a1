"""Cost-model training windows and training over two processes, on made-up features."""

import copy
import pickle
from concurrent.futures import Future
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from rvbbit_assets.analysis import cost_model, cost_training
from rvbbit_assets.analysis.cost_model import (
    MAX_TRAINING_RUNS,
    TRAINING_WEEKS,
    model_features,
    stored_pickle,
    train_version,
    training_fingerprint,
    training_window,
)
from rvbbit_assets.analysis.worker_pool import pool_allowed

VERSION = datetime(2026, 3, 2)  # a Monday


def _history(runs: int, first: datetime, last: datetime, seed: int = 0) -> pd.DataFrame:
    """cost_features.sql's columns and order ((created_at, session_id)), evenly over
    [first, last), with costs that grow with the input as the demo's do."""
    rng = np.random.default_rng(seed)
    created = pd.date_range(first, last, periods=runs + 1)[:-1]
    chars = rng.integers(20, 20_000, runs)
    cascade = rng.choice(["extract", "summarise", "triage"], runs)
    cost = (chars * 2e-7 + (cascade == "triage") * 3e-3) * rng.lognormal(0, 0.2, runs)
    session_ids = pd.Series([f"s{i:07d}" for i in range(runs)])
    return pd.DataFrame({
        "session_id": session_ids,
        "cascade_id": cascade,
        "created_at": created,
        "total_cost": cost,
        "input_complexity_score": np.minimum(chars / 10_000, 1.0),
        "char_count": chars,
        "estimated_tokens": chars // 4,
        "input_category": np.where(chars > 5_000, "large", "small"),
        "is_valid_json": True,
        "origin": "cli",
        "hour_of_day": created.hour,
        "day_of_week": created.day_of_week + 1,
        "depth": 0,
        "sample_key": pd.util.hash_pandas_object(session_ids, index=False).to_numpy(),
        "cascade_prior_runs": 50,
        "cascade_recent_median_cost": 1e-3,
        "input_prior_runs": 0,
        "input_recent_median_cost": np.nan,
    })


def test_training_window_is_the_recent_weeks_before_the_version():
    history = _history(20_000, VERSION - timedelta(weeks=20), VERSION + timedelta(weeks=1))
    window = training_window(history, VERSION)
    earliest = VERSION - timedelta(weeks=TRAINING_WEEKS)
    expected = history[(history["created_at"] >= earliest) & (history["created_at"] < VERSION)]
    assert 0 < len(expected) < MAX_TRAINING_RUNS
    pd.testing.assert_frame_equal(window, expected)


def test_training_window_samples_evenly_beyond_the_cap():
    earliest = VERSION - timedelta(weeks=TRAINING_WEEKS)
    history = _history(3 * MAX_TRAINING_RUNS, earliest, VERSION + timedelta(weeks=1))
    window = training_window(history, VERSION)
    assert len(window) == MAX_TRAINING_RUNS
    assert window["created_at"].is_monotonic_increasing  # the newest runs stay the holdout
    assert (window["created_at"] < VERSION).all()
    # Spread over the whole window (not the most recent runs): every week is represented
    # in proportion, within sampling noise.
    per_week = window.groupby((window["created_at"] - earliest) // timedelta(weeks=1)).size()
    assert len(per_week) == TRAINING_WEEKS
    assert per_week.min() > 0.8 * MAX_TRAINING_RUNS / TRAINING_WEEKS
    # The sample depends only on the runs before the version, not on later ones.
    before = history[history["created_at"] < VERSION]
    pd.testing.assert_frame_equal(training_window(before, VERSION), window)


def test_the_fingerprint_covers_the_estimators_settings(monkeypatch):
    """A change of settings alone (the same runs and features) gives another fingerprint, so
    stored versions are retrained with the new settings."""
    window = training_window(_history(2_000, VERSION - timedelta(weeks=2), VERSION), VERSION)
    before = training_fingerprint(window)
    slower = cost_model.CANDIDATES | {"gradient_boosting_log_cost": lambda: (
        cost_model._gradient_boosting().set_params(boost__learning_rate=0.1))}
    monkeypatch.setattr(cost_model, "CANDIDATES", slower)
    assert training_fingerprint(window) != before
    monkeypatch.undo()
    assert training_fingerprint(window) == before


def _jobs(history: pd.DataFrame, weeks: int) -> list[cost_training.TrainingJob]:
    versions = [VERSION - timedelta(weeks=w) for w in range(weeks)]
    return [(window, v, training_fingerprint(window))
            for v in versions if len(window := training_window(history, v))]


@pytest.mark.skipif(not pool_allowed(), reason="no second core here")
def test_versions_trained_in_a_worker_equal_those_trained_here(monkeypatch):
    history = _history(6_000, VERSION - timedelta(weeks=4), VERSION)
    jobs = _jobs(history, 3)
    here = [train_version(*job) for job in jobs]
    # Every job to the worker (none taken back); fitting in this process fails, so the worker
    # did them all.
    monkeypatch.setattr(cost_training, "_worth_a_worker", lambda jobs: True)
    monkeypatch.setattr(cost_training, "_taken_back", lambda future: False)

    def not_here(*args: object) -> None:
        raise AssertionError("trained in this process")

    monkeypatch.setattr(cost_model, "_train", not_here)
    there = cost_training.train_versions(jobs)
    runs = history.tail(300)
    trained_at = datetime(2026, 3, 3)
    for mine, theirs in zip(here, there, strict=True):
        # the same row, the pickle's bytes included (not the worker's model pickled again)
        assert theirs.to_row(trained_at) == mine.to_row(trained_at)
        for a, b in zip(mine.predict(runs), theirs.predict(runs), strict=True):
            np.testing.assert_array_equal(a, b)


def test_a_few_small_versions_are_all_trained_here():
    history = _history(4_000, VERSION - timedelta(weeks=3), VERSION)
    jobs = [(history.head(n), VERSION, "f") for n in (1_000, 2_000, 4_000)]
    assert not cost_training._worth_a_worker(jobs)


def test_big_backfills_share_the_versions_out():
    history = _history(60_000, VERSION - timedelta(weeks=TRAINING_WEEKS + 6), VERSION)
    assert cost_training._worth_a_worker(_jobs(history, 6))


@pytest.mark.skipif(not pool_allowed(), reason="no second core here")
def test_this_process_takes_back_what_the_worker_has_not_started(monkeypatch):
    """The worker goes smallest first, this process biggest first, taking back each version
    the worker has not started: each is trained once, in the process that took it."""
    history = _history(8_000, VERSION - timedelta(weeks=5), VERSION)
    jobs = _jobs(history, 4)
    monkeypatch.setattr(cost_training, "_worth_a_worker", lambda jobs: True)
    taken: list[bool] = []

    def taken_back(future: Future) -> bool:  # the two biggest at most
        taken.append(len(taken) < 2 and future.cancel())
        return taken[-1]

    monkeypatch.setattr(cost_training, "_taken_back", taken_back)
    trained_here: list[datetime] = []
    train_here = cost_model._train

    def counted(training: pd.DataFrame, version: datetime, fingerprint: str):
        trained_here.append(version)
        return train_here(training, version, fingerprint)

    monkeypatch.setattr(cost_model, "_train", counted)
    trained = cost_training.train_versions(jobs)
    assert [m.model_version for m in trained] == [version for _, version, _ in jobs]
    biggest = [version for _, version, _ in sorted(jobs, key=lambda job: -len(job[0]))]
    assert taken[0]  # the worker starts with the smallest: the biggest is not started yet
    assert trained_here == biggest[: sum(taken)]


def test_a_model_stores_the_same_bytes_whichever_objects_hold_its_names():
    # The same fitted model, its feature names equal strings but other objects (as where a
    # worker fitted it from a frame that crossed processes, or the store's client made them).
    history = _history(3_000, VERSION - timedelta(weeks=3), VERSION)
    frame, version, fingerprint = _jobs(history, 1)[0]
    fitted = train_version(frame, version, fingerprint).pipeline
    renamed = copy.deepcopy(fitted)
    encode = renamed.named_steps["encode"]
    encode.feature_names_in_ = np.array(["".join(list(name)) for name in encode.feature_names_in_],
                                        dtype=object)
    assert pickle.dumps(renamed) != pickle.dumps(fitted)  # what was stored before
    assert stored_pickle(renamed) == stored_pickle(fitted)
    runs = model_features(frame.head(50))
    loaded = pickle.loads(stored_pickle(fitted))  # noqa: S301 (made above)
    np.testing.assert_array_equal(loaded.predict(runs), fitted.predict(runs))
