"""The cost-prediction model: what a run will cost, from what is known before it starts.

Estimator choice, on evidence: every version fits each candidate on the older 80% of its
training window and scores it on the newest 20% (a time-based holdout), next to the naive
baseline (the cascade's median cost over the training window). The candidate with the lowest
holdout MAE is refitted on the whole window and kept; all candidates' scores are stored with
the version. Costs span orders of magnitude, so both candidates learn log cost: gradient
boosting with absolute-error loss (it captures the input-size x cascade interactions that
drive token counts; the loss fits the conditional median, which is what MAE rewards, and the
log keeps the median, so spikes pull it less than a mean would), and a ridge regression (a
stable fallback when data are few). On the demo data gradient boosting wins every version
after the first.

What is knowable before a run bounds the gain over the naive baseline. On the production-shaped
demo worlds (fallbacks, long answers, retries vary between runs of one input) the model's MAE
is 14-24% below the naive one, 38-43% on the classic world; even each input's median over the
holdout itself, which no model can know, is only 30-38% below on the production worlds.
Features from the detection stages (each run's point-in-time expected canonical cost and its
spread, its species' latest significant regression) left the holdout MAE unchanged, so the
model reads only what a run's author knows before it starts. The caller is not a feature: its
ids are nearly one per run (9,406 in a 42k-run window, capped to 200 categories), and without
it the holdout MAE and MdAPE were lower on every demo world.

Gradient boosting's size was chosen on the same holdouts, as fast as accuracy allows: 75
trees of at most 15 leaves at a learning rate of 0.2 were more accurate than 150 of 31 at 0.1
(mean over versions, $/1000: production seed 7 MAE 3.352 vs 3.385, MdAPE 15.9% vs 16.1%;
heavy seed 3 4.249 vs 4.335, 22.3% vs 23.0%; classic seed 5 1.656 vs 1.676, 7.33% vs 7.43%)
at 37-42% of the training time; 50 trees at 0.3 or 7 leaves were less accurate somewhere (so
were sklearn's early stopping and squared-error loss, tried with the caller).

A version's training window is bounded, so a version costs about the same at every history
size: the runs of the last `TRAINING_WEEKS` weeks before it, and of those at most
`MAX_TRAINING_RUNS`, an even sample by session hash (spread over every weekday and hour,
which the most recent runs alone are not). Fits run OpenMP single-threaded: gradient boosting
gives the same trees on any thread count, and two spinning OpenMP threads on a shared
machine (or beside chDB's threads in the same process) made fits up to 20x slower.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from rvbbit_assets.analysis.worker_pool import available_cpus

# scikit-learn (with scipy.stats, 1.2-1.5 s) comes with cost_estimators, imported where an
# estimator is made, so that a process that trains nothing (the UI's code server, most
# commands) does not pay for it.
if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

CATEGORICAL_FEATURES = ["cascade_id", "input_category", "origin"]
NUMERIC_FEATURES = [
    "input_complexity_score",
    "log_char_count",
    "log_estimated_tokens",
    "is_valid_json",
    "hour_of_day",
    "day_of_week",
    "depth",
    "log_cascade_recent_median_cost",
    "cascade_prior_runs",
    "log_input_recent_median_cost",
    "input_prior_runs",
]
FEATURES = CATEGORICAL_FEATURES + NUMERIC_FEATURES
MIN_TRAINING_RUNS = 200
TRAINING_WEEKS = 13  # a quarter: every weekday a dozen times; older runs are stale
MAX_TRAINING_RUNS = 50_000  # a sample beyond this: enough for a stable fit, fast to train
HOLDOUT_SHARE = 0.2
INTERVAL_QUANTILES = (0.05, 0.95)  # a 90% prediction interval
COST_FLOOR = 1e-7  # keeps log cost finite for free runs


def model_features(raw: pd.DataFrame) -> pd.DataFrame:
    """Model inputs from the columns of cost_features.sql (or a pre-run estimate)."""
    cascade_level = raw["cascade_recent_median_cost"].astype(float)
    input_level = raw["input_recent_median_cost"].astype(float).fillna(cascade_level)
    frame = pd.DataFrame(
        {
            **{name: raw[name].astype(str) for name in CATEGORICAL_FEATURES},
            "input_complexity_score": raw["input_complexity_score"].astype(float),
            "log_char_count": np.log1p(raw["char_count"].astype(float)),
            "log_estimated_tokens": np.log1p(raw["estimated_tokens"].astype(float)),
            "is_valid_json": raw["is_valid_json"].astype(float),
            "hour_of_day": raw["hour_of_day"].astype(float),
            "day_of_week": raw["day_of_week"].astype(float),
            "depth": raw["depth"].astype(float),
            "log_cascade_recent_median_cost": np.log(cascade_level.fillna(0) + COST_FLOOR),
            "cascade_prior_runs": raw["cascade_prior_runs"].astype(float),
            "log_input_recent_median_cost": np.log(input_level.fillna(0) + COST_FLOOR),
            "input_prior_runs": raw["input_prior_runs"].astype(float),
        }
    )
    return frame[FEATURES]


def _gradient_boosting() -> Pipeline:
    from rvbbit_assets.analysis import cost_estimators

    return cost_estimators.gradient_boosting(CATEGORICAL_FEATURES)


def _ridge() -> Pipeline:
    from rvbbit_assets.analysis import cost_estimators

    return cost_estimators.ridge(CATEGORICAL_FEATURES, NUMERIC_FEATURES)


CANDIDATES = {"gradient_boosting_log_cost": _gradient_boosting, "ridge_log_cost": _ridge}


def _log_cost(cost: pd.Series | np.ndarray) -> np.ndarray:
    return np.log(np.asarray(cost, dtype=float) + COST_FLOOR)


def _cost(log_cost: np.ndarray) -> np.ndarray:
    return np.maximum(np.exp(log_cost) - COST_FLOOR, 0.0)


def mean_absolute_error(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(np.abs(actual - predicted)))


def median_absolute_percentage_error(actual: np.ndarray, predicted: np.ndarray) -> float:
    paid = actual > 0
    if not paid.any():
        return 0.0
    return float(np.median(np.abs(actual[paid] - predicted[paid]) / actual[paid]))


def naive_costs(training: pd.DataFrame, runs: pd.DataFrame) -> np.ndarray:
    """The baseline: each run's cascade median cost over the training window."""
    medians = training.groupby("cascade_id")["total_cost"].median()
    overall = float(training["total_cost"].median())
    return runs["cascade_id"].map(medians).fillna(overall).to_numpy(dtype=float)


@dataclass(frozen=True)
class CostModelVersion:
    model_version: datetime  # the Monday of the week it predicts
    training_start: datetime
    training_rows: int
    training_fingerprint: str
    estimator: str
    holdout_start: datetime
    holdout_rows: int
    model_mae: float
    model_mdape: float
    naive_mae: float
    naive_mdape: float
    candidates: dict[str, dict[str, float]]
    interval_low_log_residual: float
    interval_high_log_residual: float
    pipeline: Pipeline
    # The stored form of `pipeline` (stored_pickle), made where it was fitted.
    model_pickle: str

    def predict(self, raw: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predicted cost with the low and high end of the 90% interval."""
        with on_every_core():
            log_cost = self.pipeline.predict(model_features(raw))
        return (
            _cost(log_cost),
            _cost(log_cost + self.interval_low_log_residual),
            _cost(log_cost + self.interval_high_log_residual),
        )

    def to_row(self, trained_at: datetime) -> dict:
        return {
            "model_version": self.model_version.date(),
            "trained_at": trained_at,
            "training_start": self.training_start,
            "training_end": self.model_version,
            "training_rows": self.training_rows,
            "training_fingerprint": self.training_fingerprint,
            "estimator": self.estimator,
            "features": FEATURES,
            "holdout_start": self.holdout_start,
            "holdout_rows": self.holdout_rows,
            "model_mae": self.model_mae,
            "model_mdape": self.model_mdape,
            "naive_mae": self.naive_mae,
            "naive_mdape": self.naive_mdape,
            "candidates_json": json.dumps(self.candidates, sort_keys=True),
            "interval_low_log_residual": self.interval_low_log_residual,
            "interval_high_log_residual": self.interval_high_log_residual,
            "model_pickle": self.model_pickle,
        }

    @classmethod
    def from_row(cls, row: dict) -> CostModelVersion:
        version = row["model_version"]
        return cls(
            model_version=datetime(version.year, version.month, version.day),
            training_start=row["training_start"],
            training_rows=int(row["training_rows"]),
            training_fingerprint=row["training_fingerprint"],
            estimator=row["estimator"],
            holdout_start=row["holdout_start"],
            holdout_rows=int(row["holdout_rows"]),
            model_mae=float(row["model_mae"]),
            model_mdape=float(row["model_mdape"]),
            naive_mae=float(row["naive_mae"]),
            naive_mdape=float(row["naive_mdape"]),
            candidates=json.loads(row["candidates_json"]),
            interval_low_log_residual=float(row["interval_low_log_residual"]),
            interval_high_log_residual=float(row["interval_high_log_residual"]),
            # Our own pickles, written by to_row into our own table.
            pipeline=pickle.loads(base64.b64decode(row["model_pickle"])),  # noqa: S301
            model_pickle=row["model_pickle"],
        )


def estimator_settings() -> str:
    """The candidates' settings as stable text: each estimator's class and parameters, its
    steps' and transformers' too."""
    return json.dumps({name: _settings(make()) for name, make in CANDIDATES.items()},
                      sort_keys=True)


def _settings(value: object) -> object:
    if hasattr(value, "get_params"):
        params = value.get_params(deep=False)
        return {"class": type(value).__name__} | {k: _settings(v) for k, v in params.items()}
    if isinstance(value, list | tuple):
        return [_settings(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)  # a type, such as an encoder's dtype


def training_fingerprint(training: pd.DataFrame) -> str:
    """Identifies the training data, the feature set and the estimators' settings, so a
    version is retrained only when one of them changed (a stored version never meets
    features it was not trained on, nor stays as settings left it). The pipeline computes it
    in the store (assets/cost_training_fingerprint.sql, the same value); this is the
    definition that one is tested against."""
    digest = hashlib.sha256(json.dumps(FEATURES).encode())
    digest.update(estimator_settings().encode())
    digest.update(pd.util.hash_pandas_object(
        training[["session_id", "total_cost"]], index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


@contextmanager
def single_threaded() -> Iterator[None]:
    """OpenMP (gradient boosting) on one thread; BLAS (ridge) as it is, so ridge's results
    do not move in the last digits."""
    # threadpoolctl limits the OpenMP runtimes loaded: load gradient boosting's first, or the
    # first fit of a process that had not made an estimator yet would take every core.
    from rvbbit_assets.analysis import cost_estimators  # noqa: F401

    with threadpool_limits(limits=1, user_api="openmp"):
        yield


@contextmanager
def on_every_core() -> Iterator[None]:
    """OpenMP on every core, for predictions: rows are predicted independently, so the
    results do not depend on the thread count, and a prediction is one parallel loop per
    tree, not the many short ones of a fit that make spinning threads costly."""
    with threadpool_limits(limits=available_cpus(), user_api="openmp"):
        yield


def training_window_start(version_start: datetime) -> datetime:
    """The earliest start of a run that a version may learn from."""
    return version_start - timedelta(weeks=TRAINING_WEEKS)


def training_window(history: pd.DataFrame, version_start: datetime) -> pd.DataFrame:
    """The runs a version learns from: those of the `TRAINING_WEEKS` weeks before its week,
    and when there are more than `MAX_TRAINING_RUNS`, the ones of smallest `sample_key` (a
    sample that depends only on the runs, so every materialization order picks it).

    `history` is cost_features.sql's output ordered by (created_at, session_id); so is the
    window, whose newest runs are the holdout. Its `sample_key` is pandas' hash of the
    session id (hash_pandas_object), computed in the store with the features.
    """
    # The history is in time order: the weeks are one slice of it, found by bisection.
    first, end = history["created_at"].searchsorted(
        [training_window_start(version_start), version_start])
    if end - first <= MAX_TRAINING_RUNS:
        return history.iloc[first:end]
    keys = history["sample_key"].to_numpy()[first:end]
    sample = np.sort(np.argpartition(keys, MAX_TRAINING_RUNS - 1)[:MAX_TRAINING_RUNS])
    return history.iloc[first + sample]


def train_version(
    training: pd.DataFrame, version_start: datetime, fingerprint: str
) -> CostModelVersion | None:
    """The model for the week starting `version_start`, from its `training_window`."""
    if len(training) < MIN_TRAINING_RUNS:
        return None
    with single_threaded():
        return _train(training, version_start, fingerprint)


def _train(
    training: pd.DataFrame, version_start: datetime, fingerprint: str
) -> CostModelVersion:
    split = int(len(training) * (1 - HOLDOUT_SHARE))
    older, newest = training.iloc[:split], training.iloc[split:]
    actual = newest["total_cost"].to_numpy(dtype=float)
    naive = naive_costs(older, newest)
    scores: dict[str, dict[str, float]] = {}
    residuals: dict[str, np.ndarray] = {}
    for name, make in CANDIDATES.items():
        fitted = make().fit(model_features(older), _log_cost(older["total_cost"]))
        log_predicted = fitted.predict(model_features(newest))
        predicted = _cost(log_predicted)
        residuals[name] = _log_cost(actual) - log_predicted
        scores[name] = {
            "mae": mean_absolute_error(actual, predicted),
            "mdape": median_absolute_percentage_error(actual, predicted),
        }
    best = min(scores, key=lambda name: (scores[name]["mae"], name))
    low, high = np.quantile(residuals[best], INTERVAL_QUANTILES)
    final = CANDIDATES[best]().fit(model_features(training), _log_cost(training["total_cost"]))
    return CostModelVersion(
        model_version=version_start,
        training_start=training["created_at"].iloc[0].to_pydatetime(),
        training_rows=len(training),
        training_fingerprint=fingerprint,
        estimator=best,
        holdout_start=newest["created_at"].iloc[0].to_pydatetime(),
        holdout_rows=len(newest),
        model_mae=scores[best]["mae"],
        model_mdape=scores[best]["mdape"],
        naive_mae=mean_absolute_error(actual, naive),
        naive_mdape=median_absolute_percentage_error(actual, naive),
        candidates=scores,
        interval_low_log_residual=float(low),
        interval_high_log_residual=float(high),
        pipeline=final,
        model_pickle=base64.b64encode(stored_pickle(final)).decode(),
    )


def stored_pickle(model: object) -> bytes:
    """`model`'s pickle made from its values alone. A plain pickle writes an object shared by
    two attributes once and refers back to it, so its bytes follow which equal strings happen
    to be one object. That depends on the process's history (a frame that crossed into a
    worker holds other string objects than the column names here), and equal models stored
    other bytes. Without a memo every object is written out by value."""
    by_value = io.BytesIO()
    pickler = pickle.Pickler(by_value)
    pickler.fast = True  # no memo: a cyclic object would raise; a fitted pipeline is a tree
    pickler.dump(model)
    return by_value.getvalue()
