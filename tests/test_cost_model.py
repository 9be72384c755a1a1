"""Cost-prediction model: point-in-time versions, persisted, deterministic, useful.

On the shared demo store (read only): the rerun trains in databases of its own."""

import json
import urllib.error
import urllib.request
from datetime import datetime, timedelta

import jinja2
import numpy as np
import pandas as pd
import pytest
from analyse import table
from dagster import DagsterInstance, materialize
from serving import serving

from rvbbit_assets.analysis import cost_model
from rvbbit_assets.analysis.cost_model import (
    COST_FLOOR,
    HOLDOUT_SHARE,
    MIN_TRAINING_RUNS,
    CostModelVersion,
    training_fingerprint,
    training_window,
    training_window_start,
)
from rvbbit_assets.assets import cost_prediction_model as cost_model_asset
from rvbbit_assets.assets.cost_prediction_model import (
    build_cost_predictions,
    cost_prediction_model,
    week_start,
    window_fingerprint,
    window_params,
)
from rvbbit_assets.cli.commands import main
from rvbbit_assets.orchestration.day_range import RANGE_END_TAG, RANGE_START_TAG, DayRange, utc_now
from rvbbit_assets.serving import create_app
from rvbbit_assets.serving.reads.cost_estimate import estimate_cost
from rvbbit_assets.store import ClickHouseStore
from rvbbit_assets.store.sql_files import SHARED_MACROS, render_sql_template

pytestmark = pytest.mark.store_open_for_the_test

FEATURES_SQL = render_sql_template(cost_model_asset.__file__, "cost_features")
INPUT = '{"rows": [1, 2]}'


@pytest.fixture(scope="module")
def modelled(shared_demo):
    return shared_demo.store, shared_demo.summary


def _models(store):
    with store.session("test read") as session:
        return session.df("SELECT * FROM ${analytics}.cost_models FINAL ORDER BY model_version")


def _features_before(store, end: datetime) -> pd.DataFrame:
    with store.session("test read") as session:
        return session.df(FEATURES_SQL, {"start": datetime(1970, 1, 1), "end": end})


def _twin(demo_store, store, tables: tuple[str, ...]) -> ClickHouseStore:
    """The demo's source with fresh analytics databases holding a copy of `tables`: the
    shared store stays as it is."""
    copier = ClickHouseStore(source_database=demo_store.analytics_database,
                             analytics_database=store.analytics_database)
    with copier.session("test copy facts") as session:
        for name in tables:
            session.command(f"INSERT INTO ${{analytics}}.{name} SELECT * FROM ${{source}}.{name}")
    return ClickHouseStore(source_database=demo_store.source_database,
                           analytics_database=store.analytics_database)


def test_a_days_features_equal_those_computed_over_the_whole_history(modelled):
    # A day's windows see the whole history before it, whatever {start} says (a new day's
    # read must not start its windows at that day): its rows are the whole history's.
    store, demo = modelled
    start = datetime.combine(demo.last_day - timedelta(days=3), datetime.min.time())
    end = start + timedelta(days=2)
    with store.session("test read") as session:
        day = session.df(FEATURES_SQL, {"start": start, "end": end})
    everything = _features_before(store, end)
    expected = everything[everything["created_at"] >= start].reset_index(drop=True)
    pd.testing.assert_frame_equal(day, expected)
    # The windows are full on this day: its cascades and some inputs ran more often before.
    assert (day["cascade_prior_runs"] == 50).all()
    assert (day["input_prior_runs"] == 10).any() and (day["input_prior_runs"] < 10).any()


def test_the_sample_key_is_pandas_hash_of_the_session_id(modelled):
    """training_window samples by sample_key, which the store computes: it must be pandas'
    hash_pandas_object, the one the training fingerprint and the in-store sample use."""
    store, _ = modelled
    features = _features_before(store, datetime(2100, 1, 1))
    assert len(features) > 1000
    np.testing.assert_array_equal(
        features["sample_key"].to_numpy(),
        pd.util.hash_pandas_object(features["session_id"], index=False).to_numpy())
    # Ids the demo does not make: empty, quoted, Unicode beyond the BMP, control characters.
    odd = pd.Series(["", "it's", 'say "hi"', "caf\u00e9", "\U0001f407 rvbbit", "tab\there\n",
                     "x" * 10_000])
    template = jinja2.Environment(loader=jinja2.FileSystemLoader(SHARED_MACROS)).from_string(
        '{% from "pandas_hash.sql" import pandas_text_hash %}'
        "SELECT {{ pandas_text_hash('id', 'id') }}"
        " FROM (SELECT arrayJoin({ids:Array(String)}) AS id)")
    with store.session("test read") as session:
        in_store = [key for (key,) in session.rows(template.render(), {"ids": list(odd)})]
    assert in_store == list(pd.util.hash_pandas_object(odd, index=False))


def test_versions_never_see_their_week_or_later(modelled):
    store, demo = modelled
    models = _models(store)
    facts = table(store, "session_facts")
    # A version for every week of the load that has MIN_TRAINING_RUNS runs before its Monday.
    mondays = sorted({week_start(demo.first_day + timedelta(days=d)) for d in range(demo.days)})
    expected = [m for m in mondays if (facts["created_at"] < m).sum() >= MIN_TRAINING_RUNS]
    assert [pd.Timestamp(v) for v in models["model_version"]] == expected
    assert len(expected) == 4  # 2026-11-02 .. 2026-11-23: the first week has no earlier runs
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
    for model in _models(store).to_dict("records"):
        version = datetime.combine(model["model_version"], datetime.min.time())
        training = _features_before(store, version)
        split = int(len(training) * (1 - HOLDOUT_SHARE))
        older, newest = training.iloc[:split], training.iloc[split:]
        # The stored holdout is the newest 20% of the runs before the version's Monday.
        assert (model["holdout_rows"], model["holdout_start"]) == (
            len(newest), newest["created_at"].iloc[0])
        # The naive MAE, recomputed: each cascade's median cost over the older 80%.
        medians = older.groupby("cascade_id")["total_cost"].median()
        naive = newest["cascade_id"].map(medians).fillna(older["total_cost"].median())
        naive_mae = float(np.mean(np.abs(newest["total_cost"] - naive)))
        assert model["naive_mae"] == pytest.approx(naive_mae, rel=1e-9)
        # The kept estimator is the candidate with the lowest holdout MAE, and beats naive.
        candidates = json.loads(model["candidates_json"])
        assert model["estimator"] == min(candidates, key=lambda name: candidates[name]["mae"])
        assert model["model_mae"] == pytest.approx(candidates[model["estimator"]]["mae"])
        assert model["model_mae"] < model["naive_mae"], model["model_version"]


def test_the_rerun_of_the_model_alone_gives_the_same_model_and_predictions(modelled, store):
    demo_store, demo = modelled
    # The shared store stays as it is: its per-run facts (and the record of the days they
    # were written) are copied into fresh databases, where only cost_prediction_model
    # reruns, over the load's last week (training is what costs: one version from scratch,
    # the one with the most runs behind it).
    twin = _twin(demo_store, store, ("session_facts", "input_clusters", "day_writes"))
    week = week_start(demo.last_day)
    result = materialize([cost_prediction_model], resources={"store": twin},
                         instance=DagsterInstance.ephemeral(),
                         tags={RANGE_START_TAG: week.date().isoformat(),
                               RANGE_END_TAG: demo.last_day.isoformat()})
    assert result.success
    events = result.asset_materializations_for_node("cost_prediction_model")
    assert len(events) == 7  # one run, every day of the week
    assert events[0].metadata["model_versions_trained_now"].value == 1
    stored = _models(demo_store)
    pd.testing.assert_frame_equal(
        _models(twin).drop(columns=["trained_at"]),
        stored[stored["model_version"] == pd.Timestamp(week)].drop(columns=["trained_at"])
        .reset_index(drop=True))
    predictions = table(demo_store, "cost_predictions")
    pd.testing.assert_frame_equal(
        table(twin, "cost_predictions"),
        predictions[predictions["created_at"] >= week].reset_index(drop=True))


@pytest.mark.parametrize("cap", [None, 250])
def test_the_store_computes_the_training_fingerprint_of_the_training_window(
    modelled, monkeypatch, cap
):
    """The fingerprint that tells a stored version is current is computed in SQL: it equals
    the definition's (pandas) over the same window, also when the window is sampled."""
    store, _ = modelled
    if cap is not None:  # the demo's windows are below the real cap: sample them
        monkeypatch.setattr(cost_model, "MAX_TRAINING_RUNS", cap)
        monkeypatch.setattr(cost_model_asset, "MAX_TRAINING_RUNS", cap)
    versions = [datetime.combine(v, datetime.min.time())
                for v in _models(store)["model_version"]]
    for version in versions:
        window = training_window(_features_before(store, version), version)
        assert cap is None or len(window) == cap
        with store.session("test read") as session:
            assert window_fingerprint(session, version) == (
                len(window), training_fingerprint(window))
            # A new week's version reads its sample's features with its days': the same
            # rows, told by in_sample, besides the week's first day.
            read = session.df(
                render_sql_template(cost_model_asset.__file__, "cost_training_features"),
                window_params(version) | {"start": training_window_start(version),
                                          "end": version + timedelta(days=1),
                                          "predicted_start": version})
        in_sample = read.pop("in_sample").astype(bool)
        pd.testing.assert_frame_equal(read[in_sample].reset_index(drop=True),
                                      window.reset_index(drop=True))
        day = _features_before(store, version + timedelta(days=1))
        pd.testing.assert_frame_equal(read[~in_sample].reset_index(drop=True),
                                      day[day["created_at"] >= version].reset_index(drop=True))


def test_a_stored_version_is_kept_until_its_training_data_changes(modelled, store):
    demo_store, demo = modelled
    twin = _twin(demo_store, store,
                 ("session_facts", "input_clusters", "day_writes", "cost_models"))
    week = week_start(demo.last_day)
    last_day = DayRange(demo.last_day, demo.last_day)
    with twin.session("test rerun") as session:
        assert build_cost_predictions(session, last_day)["model_versions_trained_now"] == 0
        # One run of the version's training window costs more now: the version is retrained.
        changed = session.scalar(
            "SELECT session_id FROM ${analytics}.session_facts WHERE created_at < {v:DateTime}"
            " ORDER BY created_at DESC, session_id LIMIT 1", {"v": week})
        session.command(
            "ALTER TABLE ${analytics}.session_facts UPDATE total_cost = total_cost + 0.01"
            " WHERE session_id = {s:String} SETTINGS mutations_sync = 2", {"s": changed})
        assert build_cost_predictions(session, last_day)["model_versions_trained_now"] == 1
        assert build_cost_predictions(session, last_day)["model_versions_trained_now"] == 0
    fingerprints = _models(twin).set_index("model_version")["training_fingerprint"]
    stored = _models(demo_store).set_index("model_version")["training_fingerprint"]
    assert fingerprints[pd.Timestamp(week)] != stored[pd.Timestamp(week)]
    earlier = stored.index[stored.index < pd.Timestamp(week)]
    pd.testing.assert_series_equal(fingerprints[earlier], stored[earlier])


def test_stored_versions_are_retrained_when_the_estimators_settings_change(
    modelled, store, monkeypatch
):
    """The store's fingerprint covers the estimators' settings too: a stored version whose
    runs are unchanged is retrained once the settings change, and kept after that."""
    demo_store, demo = modelled
    twin = _twin(demo_store, store,
                 ("session_facts", "input_clusters", "day_writes", "cost_models"))
    last_day = DayRange(demo.last_day, demo.last_day)
    fewer_trees = cost_model.CANDIDATES | {"gradient_boosting_log_cost": lambda: (
        cost_model._gradient_boosting().set_params(boost__max_iter=10))}
    with twin.session("test rerun") as session:
        assert build_cost_predictions(session, last_day)["model_versions_trained_now"] == 0
        monkeypatch.setattr(cost_model, "CANDIDATES", fewer_trees)
        assert build_cost_predictions(session, last_day)["model_versions_trained_now"] == 1
        assert build_cost_predictions(session, last_day)["model_versions_trained_now"] == 0
    # Refitted with the new settings: gradient boosting's holdout scores moved, ridge's not.
    week = pd.Timestamp(week_start(demo.last_day))
    retrained = json.loads(_models(twin).set_index("model_version").loc[week, "candidates_json"])
    stored = json.loads(
        _models(demo_store).set_index("model_version").loc[week, "candidates_json"])
    assert retrained["gradient_boosting_log_cost"] != stored["gradient_boosting_log_cost"]
    assert retrained["ridge_log_cost"] == stored["ridge_log_cost"]


def test_stored_versions_reload_and_predict_as_stored(modelled):
    store, _ = modelled
    row = _models(store).iloc[-1].to_dict()
    model = CostModelVersion.from_row(row)
    assert model.training_fingerprint == row["training_fingerprint"]
    assert week_start(row["model_version"]) == model.model_version
    week_end = model.model_version + timedelta(days=7)
    features = _features_before(store, week_end)
    week = features[features["created_at"] >= model.model_version]
    stored = table(store, "cost_predictions").set_index("session_id").loc[week["session_id"]]
    assert len(week) > 1000 and set(stored["model_version"]) == {row["model_version"]}
    cost, low, high = model.predict(week)
    np.testing.assert_allclose(cost, stored["predicted_cost"], rtol=1e-12)
    np.testing.assert_allclose(low, stored["predicted_low"], rtol=1e-12)
    np.testing.assert_allclose(high, stored["predicted_high"], rtol=1e-12)


def post_json(url: str, body: object) -> tuple[int, object]:
    """POST `body` as JSON; the status and the decoded JSON answer."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def _cascade(store) -> str:
    with store.session("test read") as session:
        return session.scalar("SELECT cascade_id FROM ${analytics}.session_facts"
                              " GROUP BY cascade_id ORDER BY count() DESC, cascade_id LIMIT 1")


def _estimates_around(store, call, *args):
    """The estimate just before and just after `call` (the CLI and the API read the clock):
    equal unless an hour began in between."""
    with store.session("test estimate") as session:
        before = estimate_cost(session, *args, starts_at=utc_now())
    answer = call()
    with store.session("test estimate") as session:
        after = estimate_cost(session, *args, starts_at=utc_now())
    return answer, {before, after}


def test_pre_run_estimate_and_cli(modelled, capsys, monkeypatch):
    store, demo = modelled
    cascade_id = _cascade(store)
    latest = CostModelVersion.from_row(_models(store).iloc[-1].to_dict())
    monday = datetime.combine(demo.last_day, datetime.min.time()).replace(hour=10) - timedelta(
        days=demo.last_day.weekday())
    with store.session("test") as session:
        estimate = estimate_cost(session, cascade_id, INPUT, starts_at=monday)
        unknown = estimate_cost(session, "no-such-cascade", INPUT, starts_at=monday)
        costs = session.rows("SELECT min(total_cost), max(total_cost)"
                             " FROM ${analytics}.session_facts WHERE cascade_id = {c:String}",
                             {"c": cascade_id})[0]
    assert estimate is not None and unknown is not None
    assert (estimate.model_version, estimate.estimator) == (
        latest.model_version.date(), latest.estimator)
    assert costs[0] <= estimate.predicted_cost <= costs[1]
    # The interval is the model's holdout residual quantiles around the (log) prediction.
    level = estimate.predicted_cost + COST_FLOOR
    assert estimate.interval_low == pytest.approx(
        level * np.exp(latest.interval_low_log_residual) - COST_FLOOR, rel=1e-9)
    assert estimate.interval_high == pytest.approx(
        level * np.exp(latest.interval_high_log_residual) - COST_FLOOR, rel=1e-9)
    assert unknown.predicted_cost != estimate.predicted_cost  # the cascade's own level counts

    monkeypatch.setenv("RVBBIT_SOURCE_DATABASE", store.source_database)
    monkeypatch.setenv("RVBBIT_ANALYTICS_DATABASE", store.analytics_database)
    code, expected = _estimates_around(
        store, lambda: main(["predict", cascade_id, "--input", INPUT]), cascade_id, INPUT)
    assert code == 0
    assert capsys.readouterr().out.strip() in {e.sentence() for e in expected}


@pytest.mark.store_open_for_the_test(False)  # the API answers from a thread
def test_the_api_predicts_as_the_library(modelled):
    store, _ = modelled
    cascade_id = _cascade(store)
    body = {"cascade_id": cascade_id, "input": json.loads(INPUT), "origin": "cli"}
    with serving(create_app(store)) as base:
        (status, answer), expected = _estimates_around(
            store, lambda: post_json(base + "/api/analytics/predict", body),
            cascade_id, INPUT, "cli")
    assert status == 200
    assert answer in [e.as_dict() for e in expected]
    assert answer["interval"]["level"] == 0.9 and answer["predicted_cost"] > 0


def test_the_estimate_skips_versions_of_other_features(modelled, store):
    """A version stored before the features changed (here a newer one, with one feature more
    and a pickle nothing could load) never meets today's features: the estimate uses the
    newest version of today's features."""
    demo_store, _ = modelled
    twin = _twin(demo_store, store, ("session_facts", "input_clusters", "cost_models"))
    latest = _models(demo_store).iloc[-1]["model_version"].date()
    with twin.session("test estimate") as session:
        session.command(
            "INSERT INTO ${analytics}.cost_models SELECT * REPLACE (model_version + 7 AS"
            " model_version, arrayPushBack(features, 'caller_id') AS features, 'not a pickle'"
            " AS model_pickle) FROM (SELECT * FROM ${analytics}.cost_models FINAL"
            " WHERE model_version = {v:Date})",
            {"v": latest})
        estimate = estimate_cost(session, _cascade(twin), INPUT)
    assert estimate is not None and estimate.model_version == latest
