"""cost_prediction_model: weekly model versions and the predicted cost of every run.

Point-in-time: a run is predicted by the version of its ISO week, trained only on runs that
started before that Monday, so the prediction never saw the run, its day or anything later.
A version is trained the first time its week is analysed and retrained only when its
training data, the features or the estimators' settings changed (the sensor then re-analyses
every later day, so all of the week's predictions move together). Partitioned by day like
the stages it reads, so a backfill trains each week once and a new day only predicts.
"""

import json
from datetime import date, datetime, timedelta

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue

from rvbbit_assets.analysis.cost_model import (
    FEATURES,
    MAX_TRAINING_RUNS,
    MIN_TRAINING_RUNS,
    CostModelVersion,
    estimator_settings,
    training_fingerprint,
    training_window,
    training_window_start,
)
from rvbbit_assets.analysis.cost_training import TrainingJob, train_versions
from rvbbit_assets.assets.groups import MODELS_GROUP
from rvbbit_assets.assets.history import run_stage_over_history
from rvbbit_assets.assets.input_clusters import input_clusters
from rvbbit_assets.assets.per_run import StageSummary, per_run_asset
from rvbbit_assets.assets.session_facts import session_facts
from rvbbit_assets.orchestration.day_range import DayRange, utc_now
from rvbbit_assets.store import ClickHouseStore, StoreSession
from rvbbit_assets.store.sql_files import render_sql_template
from rvbbit_assets.store.table_writes import replace_days_with_frame


def week_start(day: date) -> datetime:
    monday = day - timedelta(days=day.weekday())
    return datetime(monday.year, monday.month, monday.day)


def stored_versions(session: StoreSession, versions: list[datetime]) -> dict[datetime, dict]:
    frame = session.df(
        "SELECT * FROM ${analytics}.cost_models FINAL WHERE model_version IN {v:Array(Date)}",
        {"v": [v.date() for v in versions]},
    )
    return {week_start(r["model_version"]): r for r in frame.to_dict("records")}


def window_params(version: datetime) -> dict:
    """The parameters of cost_training_sample.sql for the version's training window."""
    return {"version": version, "window_start": training_window_start(version),
            "max_runs": MAX_TRAINING_RUNS}


def window_fingerprint(session: StoreSession, version: datetime) -> tuple[int, str]:
    """The number of runs in the version's training window and its training fingerprint,
    computed in the store (cost_model.training_fingerprint of cost_model.training_window)."""
    runs, fingerprint = session.rows(
        render_sql_template(__file__, "cost_training_fingerprint"),
        window_params(version) | {"features": json.dumps(FEATURES),
                                  "estimator_settings": estimator_settings()},
    )[0]
    return int(runs), fingerprint


def current_models(
    session: StoreSession, versions: list[datetime]
) -> tuple[dict[datetime, CostModelVersion], list[datetime]]:
    """The stored model of each week whose training data is unchanged, and the weeks to train
    now (missing or stale). A stored version is told current by a fingerprint computed in the
    store, so it costs no read of its runs; a missing one is fingerprinted from the runs it is
    trained on."""
    stored = stored_versions(session, versions)
    models: dict[datetime, CostModelVersion] = {}
    stale: list[datetime] = []
    for version in versions:
        row = stored.get(version)
        if row is None:
            stale.append(version)
            continue
        runs, fingerprint = window_fingerprint(session, version)
        if runs < MIN_TRAINING_RUNS:
            continue  # too few runs for a model: train_version would give none
        if row["training_fingerprint"] == fingerprint:
            models[version] = CostModelVersion.from_row(row)
        else:
            stale.append(version)
    return models, stale


def read_features(
    session: StoreSession, days: DayRange, stale: list[datetime]
) -> tuple[pd.DataFrame, dict[datetime, pd.DataFrame]]:
    """The features of the days predicted, and the training window of each stale version.

    One read serves both. A lone stale version (a new week) gets its training window's
    sample from the store, in the same pass over the history as its days; several (a
    backfill) overlap enough that one read of all their runs, sampled here, costs less.
    """
    if len(stale) == 1:
        (version,) = stale
        features = session.df(
            render_sql_template(__file__, "cost_training_features"),
            window_params(version) | {
                "start": min(days.start, training_window_start(version)), "end": days.end,
                "predicted_start": days.start})
        in_sample = features.pop("in_sample").astype(bool)
        window = training_window(features[in_sample].reset_index(drop=True), version)
        return features[features["created_at"] >= days.start], {version: window}
    start = min([days.start] + [training_window_start(version) for version in stale])
    features = session.df(render_sql_template(__file__, "cost_features"),
                          {"start": start, "end": days.end})
    windows = {version: training_window(features, version) for version in stale}
    return features[features["created_at"] >= days.start], windows


def train_and_store(session: StoreSession, jobs: list[TrainingJob]) -> list[CostModelVersion]:
    """Train the jobs' versions (those with enough runs give a model) and store them."""
    trained = [model for model in train_versions(jobs) if model is not None]
    if trained:
        now = utc_now()
        session.insert_df("cost_models", pd.DataFrame([m.to_row(now) for m in trained]))
    return trained


def build_cost_predictions(session: StoreSession, days: DayRange) -> StageSummary:
    versions = sorted({week_start(day) for day in days.days})
    models, stale = current_models(session, versions)
    runs, windows = read_features(session, days, stale)
    jobs: list[TrainingJob] = [(window, version, training_fingerprint(window))
                               for version, window in windows.items()
                               if len(window) >= MIN_TRAINING_RUNS]
    trained = train_and_store(session, jobs)
    models = dict(sorted((models | {m.model_version: m for m in trained}).items()))
    predicted = []
    for version, model in models.items():
        week = runs[(runs["created_at"] >= version)
                    & (runs["created_at"] < version + timedelta(days=7))]
        if week.empty:
            continue
        cost, low, high = model.predict(week)
        predicted.append(pd.DataFrame({
            "session_id": week["session_id"].to_numpy(),
            "cascade_id": week["cascade_id"].to_numpy(),
            "created_at": week["created_at"].to_numpy(),
            "model_version": version.date(),
            "predicted_cost": cost,
            "predicted_low": low,
            "predicted_high": high,
        }))
    frame = pd.concat(predicted, ignore_index=True) if predicted else pd.DataFrame()
    rows = replace_days_with_frame(session, "cost_predictions", frame, days)
    return {
        "dagster/row_count": rows,
        "runs_without_a_model": len(runs) - rows,
        "model_versions_used": ", ".join(str(v.date()) for v in models) or "none yet",
        "model_versions_trained_now": len(trained),
        "holdout_metrics": MetadataValue.md(versions_markdown(list(models.values()))),
    }


def versions_markdown(models: list[CostModelVersion]) -> str:
    lines = [
        "| version | estimator | training runs | holdout runs | MAE | naive MAE | MdAPE "
        "| naive MdAPE |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {m.model_version.date()} | {m.estimator} | {m.training_rows} | {m.holdout_rows} "
        f"| ${m.model_mae:.5f} | ${m.naive_mae:.5f} | {m.model_mdape:.1%} "
        f"| {m.naive_mdape:.1%} |"
        for m in models
    ]
    return "\n".join(lines) if models else "No model yet: too few earlier runs."


@per_run_asset(
    table="cost_predictions",
    also_writes=("cost_models",),
    deps=[session_facts, input_clusters],
    kinds={"clickhouse", "scikitlearn"},
    group_name=MODELS_GROUP,
    description=(
        "Weekly cost-prediction model versions (trained on runs before the week, stored with "
        "holdout metrics against the naive cascade-median baseline) and each run's predicted "
        "cost with a 90% interval."
    ),
)
def cost_prediction_model(
    context: AssetExecutionContext, store: ClickHouseStore
) -> MaterializeResult:
    return run_stage_over_history(context, store, build_cost_predictions)
