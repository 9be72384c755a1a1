"""The HTTP API, over real requests to a uvicorn server on a loopback port, and the CLI."""

import json
import urllib.error
import urllib.request
from datetime import timedelta
from urllib.parse import quote, urlencode

import pytest
from analyse import analyse, at, day, row
from dagster import DagsterInstance, materialize
from runs import Row, Run, lineage_row, llm, write_lineage, write_runs
from serving import serving
from starlette.routing import Route

from rvbbit_assets.analysis.alert_rules import ALERT_TYPES
from rvbbit_assets.assets.alerts import alerts
from rvbbit_assets.cli import commands as cli
from rvbbit_assets.orchestration.day_range import RANGE_END_TAG, RANGE_START_TAG
from rvbbit_assets.serving import app as api_app
from rvbbit_assets.serving import create_app

ODD_SESSION = "it's \"quoted\" \\ ☃ / ünïcode"
ODD_CASCADE = "cascade 'with' \"quotes\" ☃"

DESIGN_KEYS = {
    "session_id": None,
    "cascade_id": None,
    "input_category": None,
    "total_cost": None,
    "cost_complete": None,  # false while a late cost is missing
    "baselines": {"global_avg", "cluster_avg", "species_avg"},
    "anomaly_scores": {"cost_z_score", "duration_z_score", "is_outlier"},
    "efficiency": {"cost_per_message", "cost_per_token"},
    "regression": {"cost_change_pct", "is_regression", "severity"},
    "error_outlier": {"is_error_outlier", "rule", "min_prior_runs"},
    "alerts": None,
    "cells": None,  # the cell breakdown of the insights issue
    "prediction": None,
    "robust_detection": {"cost_robust_z", "duration_robust_z", "is_cost_anomaly",
                         "is_duration_anomaly", "regression_p_value",
                         "is_regression_significant", "expected_cost", "cost_anomaly_driver",
                         "cost_anomaly_driver_ratio", "cost_anomaly_impact_usd",
                         "cost_anomaly_baseline", "explanation"},
}


def _runs():
    runs = [
        Run("s1", "extract_brand", at(0, 10), [llm(1.0, species_hash="sp")]),
        Run("s2", "extract_brand", at(0, 11), [llm(2.0, species_hash="sp")]),
        Run("s3", "extract_brand", at(0, 12), [llm(4.0, species_hash="sp")]),
        Run("s4", "extract_brand", at(1, 10), [llm(8.0, species_hash="sp")]),
        Run("o1", ODD_CASCADE, at(0, 9), [llm(0.5)]),
        Run(ODD_SESSION, ODD_CASCADE, at(1, 9), [llm(0.7)]),
    ]
    return runs


@pytest.fixture(scope="module")
def analysed(module_store):
    with module_store.session("test data") as session:
        write_runs(session, _runs())
    analyse(module_store, day(0), day(1), refresh=True)
    result = materialize(
        [alerts], resources={"store": module_store}, instance=DagsterInstance.ephemeral(),
        tags={RANGE_START_TAG: day(0).isoformat(), RANGE_END_TAG: day(1).isoformat()},
    )
    assert result.success
    return module_store


def _echo(call):
    body = call.json()
    if not isinstance(body, dict):
        raise api_app.BadRequest("the body must be a JSON object")
    return {"echo": body, "query": call.query({"x"})}


@pytest.fixture(scope="module")
def server(analysed):
    app = create_app(analysed)
    # What adding POST /api/analytics/predict will look like: one function, one Route.
    app.router.routes.append(
        Route("/test/echo", api_app._endpoint(analysed, _echo), methods=["POST"]))
    with serving(app) as base:
        yield base


def get(base, path, params=None, method="GET", data=None):
    url = base + path + (("?" + urlencode(params)) if params else "")
    request = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        assert exc.headers["content-type"] == "application/json", body
        return exc.code, exc.headers, json.loads(body)


def session_path(session_id):
    return "/api/analytics/session/" + quote(session_id, safe="")


def test_session_document_has_exactly_the_design_shape(server, analysed):
    status, headers, document = get(server, session_path("s4"))
    assert status == 200 and headers["content-type"] == "application/json"
    assert set(document) == set(DESIGN_KEYS)
    for key, nested in DESIGN_KEYS.items():
        if nested:
            assert set(document[key]) == nested, key
    stored = row(analysed, "cascade_analytics", "s4")
    assert document["session_id"] == "s4" and document["cascade_id"] == "extract_brand"
    assert document["input_category"] == stored["input_category"]
    assert document["total_cost"] == 8.0
    assert document["baselines"] == {
        "global_avg": pytest.approx(7 / 3), "cluster_avg": pytest.approx(7 / 3),
        "species_avg": pytest.approx(7 / 3),
    }
    z = document["anomaly_scores"]["cost_z_score"]
    assert z == pytest.approx(float(stored["cost_z_score"]), rel=1e-6)
    assert document["anomaly_scores"]["is_outlier"] is True
    assert document["efficiency"]["cost_per_message"] == 4.0
    assert document["efficiency"]["cost_per_token"] == 0.4
    assert document["regression"] == {
        "cost_change_pct": 0.0, "is_regression": False, "severity": "none"}
    # Ours: the same tokens as the three runs of the day before, billed 8/(7/3) times as
    # much per token; expected: their median canonical cost, 2.
    assert document["robust_detection"]["expected_cost"] == pytest.approx(2.0)
    assert document["robust_detection"]["cost_anomaly_driver"] == "model_price"
    assert document["alerts"] == [{
        "type": "cost_spike", "severity": "critical",
        "message": f"Cost is {z:.1f}σ above normal!", "session_id": "s4",
    }, {
        "type": "cost_anomaly", "severity": "critical",
        "message": "Cost 4.0× expected (+$6.00): price per token 3.4× usual", "session_id": "s4",
    }]
    assert document["prediction"] is None


def test_prediction_when_the_cost_model_predicted_the_run(server, analysed):
    def set_prediction(predicted, error):
        with analysed.session("test prediction") as session:
            session.command(
                "ALTER TABLE ${analytics}.cascade_analytics"
                " UPDATE predicted_cost = {p:Nullable(Float64)},"
                " prediction_error = {e:Nullable(Float32)} WHERE session_id = 's2'"
                " SETTINGS mutations_sync = 2", {"p": predicted, "e": error})

    set_prediction(0.8, 1.5)
    try:
        document = get(server, session_path("s2"))[2]
        assert document["prediction"] == {"predicted_cost": 0.8, "prediction_error": 1.5}
        assert "prediction_miss" not in {a["type"] for a in document["alerts"]}  # not > 1.5
        set_prediction(0.7, 1.857)
        document = get(server, session_path("s2"))[2]
        assert document["prediction"] == {"predicted_cost": 0.7, "prediction_error": 1.857}
        assert document["alerts"][-1] == {
            "type": "prediction_miss", "severity": "warning",
            "message": "Cost 186% higher than predicted", "session_id": "s2"}
    finally:
        set_prediction(None, None)
    assert get(server, session_path("s2"))[2]["prediction"] is None


def test_first_run_has_null_species_average_and_no_alerts(server):
    status, _, document = get(server, session_path("s1"))
    assert status == 200
    assert document["baselines"] == {"global_avg": 0.0, "cluster_avg": 0.0, "species_avg": None}
    assert document["alerts"] == [] and document["anomaly_scores"]["is_outlier"] is False


def test_ids_with_quotes_slashes_and_unicode(server):
    status, _, document = get(server, session_path(ODD_SESSION))
    assert status == 200
    assert (document["session_id"], document["cascade_id"]) == (ODD_SESSION, ODD_CASCADE)
    status, _, summary = get(server, "/api/analytics/cascade/" + quote(ODD_CASCADE, safe=""))
    assert status == 200 and summary["cascade_id"] == ODD_CASCADE and summary["run_count"] == 2
    status, _, listed = get(server, "/api/analytics/alerts", {"cascade_id": ODD_CASCADE})
    assert status == 200 and listed["alerts"] == []


def test_unknown_ids_are_404_json(server):
    for path in (session_path("nope"), session_path("s4' OR '1'='1"),
                 "/api/analytics/cascade/nope", "/api/analytics/nothing-here"):
        status, _, body = get(server, path)
        assert status == 404, path
        assert body["error"] == "not_found" and "message" in body


def test_malformed_requests_are_400(server):
    bad = [
        (session_path("x" * 257), None),
        (session_path("line\nbreak"), None),
        (session_path("nul\x00byte"), None),
        ("/api/analytics/cascade/" + quote("tab\there", safe=""), None),
        ("/api/analytics/alerts", {"severity": "apocalyptic"}),
        ("/api/analytics/alerts", {"type": "nope"}),
        ("/api/analytics/alerts", {"limit": "0"}),
        ("/api/analytics/alerts", {"limit": "many"}),
        ("/api/analytics/alerts", {"limit": "100000"}),
        ("/api/analytics/alerts", {"since": "yesterday"}),
        ("/api/analytics/alerts", {"cascade_id": "x" * 300}),
        ("/api/analytics/alerts", {"severity_typo": "critical"}),
        ("/api/analytics/alerts?limit=1&limit=2", None),
    ]
    for path, params in bad:
        status, _, body = get(server, path, params)
        assert status == 400, (path, params)
        assert body["error"] == "bad_request" and body["message"]
    assert get(server, session_path("x" * 256))[0] == 404


def test_other_methods_are_405_json(server):
    status, _, body = get(server, session_path("s4"), method="POST")
    assert status == 405 and body["error"] == "method_not_allowed"


def test_alerts_listing_and_filters(server):
    status, _, listed = get(server, "/api/analytics/alerts")
    assert status == 200 and listed["limit"] == 100
    kinds = {(a["session_id"], a["type"], a["severity"]) for a in listed["alerts"]}
    assert ("s4", "cost_spike", "critical") in kinds and ("s3", "cost_spike", "critical") in kinds
    first = next(a for a in listed["alerts"] if a["session_id"] == "s4")
    assert set(first) == {"type", "severity", "message", "detail", "session_id", "cascade_id",
                          "metric", "created_at", "detected_at", "delivery"}
    assert first["created_at"] == at(1, 10).isoformat() + "Z"
    # 20-day-old runs: recorded, never sent.
    assert first["delivery"]["status"] == "not_sent_too_old"
    # Newest run first.
    assert [a["session_id"] for a in listed["alerts"]][0] == "s4"

    assert get(server, "/api/analytics/alerts", {"severity": "warning"})[2]["alerts"] == []
    only = get(server, "/api/analytics/alerts", {"severity": "critical,major",
                                                 "type": "cost_spike",
                                                 "cascade_id": "extract_brand"})[2]
    assert {a["session_id"] for a in only["alerts"]} == {"s3", "s4"}
    since = get(server, "/api/analytics/alerts", {"since": at(1, 0).isoformat() + "Z"})[2]
    assert {a["session_id"] for a in since["alerts"]} == {"s4"}
    since_date = get(server, "/api/analytics/alerts", {"since": day(1).isoformat()})[2]
    assert since_date["alerts"] == since["alerts"]
    limited = get(server, "/api/analytics/alerts", {"limit": "1"})[2]
    assert limited["count"] == 1 and limited["alerts"][0]["session_id"] == "s4"
    by_session = get(server, "/api/analytics/alerts", {"session_id": "s3"})[2]
    assert [a["session_id"] for a in by_session["alerts"]] == ["s3"]


def test_cascade_summary_and_forecast_extension_point(server, analysed):
    status, _, summary = get(server, "/api/analytics/cascade/extract_brand")
    assert status == 200
    assert set(summary) == {"cascade_id", "run_count", "first_run_at", "last_run_at",
                            "total_cost", "baselines", "recent_regressions", "forecast",
                            "pattern_suggestions", "pareto_frontier"}
    assert summary["run_count"] == 4 and summary["total_cost"] == 15.0
    (category,) = summary["baselines"]
    assert category["latest_session_id"] == "s4" and category["run_count"] == 4
    assert category["cluster_avg_cost"] == pytest.approx(7 / 3)
    assert summary["recent_regressions"] == []
    # the analysis refreshed the forecasts asset: seven days and a weekly projection
    forecast = summary["forecast"]
    assert len(forecast["days"]) == 7
    assert set(forecast["days"][0]) == {"day", "predicted_cost", "lower_bound", "upper_bound",
                                        "trend", "confidence", "trend_significant", "r_squared"}
    assert forecast["weekly_projection"]["sentence"].startswith("Projected weekly cost: $")


def test_a_post_endpoint_reads_a_json_body(server):
    payload = json.dumps({"input": "it's ☃"}).encode()
    status, _, body = get(server, "/test/echo", {"x": "1"}, "POST", payload)
    assert status == 200 and body == {"echo": {"input": "it's ☃"}, "query": {"x": "1"}}
    for data in (b"{not json", b"[1, 2]", b"\xff\xfe"):
        status, _, body = get(server, "/test/echo", None, "POST", data)
        assert status == 400 and body["error"] == "bad_request", data
    assert get(server, "/test/echo", {"y": "1"}, "POST", b"{}")[0] == 400
    status, _, body = get(server, "/test/echo", None, "POST", b"x" * 1_000_001)
    assert status == 413 and body["error"] == "body_too_large"


def test_healthz(server):
    assert get(server, "/healthz")[:3:2] == (200, {"status": "ok"})


def test_busy_store_is_503(server, analysed, monkeypatch):
    monkeypatch.setenv("RVBBIT_API_STORE_WAIT_SECONDS", "0.2")
    with analysed.session("test holds the store"):
        status, headers, body = get(server, session_path("s4"))
    assert status == 503 and body["error"] == "store_busy" and headers["retry-after"] == "5"
    assert "chdb" not in body["message"] and "pid" not in body["message"]
    assert get(server, session_path("s4"))[0] == 200


def test_unexpected_errors_are_500_without_details(server, monkeypatch):
    def broken(session, session_id):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(api_app, "session_analytics", broken)
    status, _, body = get(server, session_path("s4"))
    assert status == 500
    assert body == {"error": "internal_error", "message": "internal server error"}


def test_cli_session_prints_the_api_document(server, analysed, monkeypatch, capsys):
    monkeypatch.setenv("RVBBIT_SOURCE_DATABASE", analysed.source_database)
    monkeypatch.setenv("RVBBIT_ANALYTICS_DATABASE", analysed.analytics_database)
    for session_id in ("s4", ODD_SESSION):
        assert cli.main(["session", session_id]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed == get(server, session_path(session_id))[2]
    assert cli.main(["session", "nope"]) == 1
    assert "no analytics for session 'nope'" in capsys.readouterr().err


def test_serve_binds_loopback_by_default():
    args = cli._parser().parse_args(["serve"])
    assert (args.host, args.port) == ("127.0.0.1", 8765)
    assert api_app.DEFAULT_HOST == "127.0.0.1"


def contents_checksums(store):
    """Per table of both databases: its row count and an order-free hash of every row, so an
    in-place ALTER ... UPDATE shows as well as an insert or a delete. Tables that merges
    deduplicate are read as their readers see them (FINAL), so a merge is not a change."""
    with store.session("test read") as session:
        tables = session.rows(
            "SELECT database, name, match(engine, '(Replacing|Collapsing|Summing|Aggregating)')"
            " FROM system.tables WHERE database IN {dbs:Array(String)} ORDER BY ALL",
            {"dbs": [store.source_database, store.analytics_database]})
        return {
            (database, name): session.rows(
                f"SELECT count(), sum(cityHash64(formatRow('TabSeparated', *)))"
                f" FROM `{database}`.`{name}`{' FINAL' if merged else ''}")[0]
            for database, name, merged in tables
        }


def _set_input_category(store, category):
    with store.session("test tamper") as session:
        session.command("ALTER TABLE ${analytics}.cascade_analytics UPDATE input_category ="
                        " {c:String} WHERE session_id = 's1' SETTINGS mutations_sync = 2",
                        {"c": category})


def test_the_api_only_reads(server, analysed):
    before = contents_checksums(analysed)
    for path in (session_path("s4"), "/api/analytics/cascade/extract_brand",
                 "/api/analytics/alerts", "/healthz"):
        assert get(server, path)[0] == 200
    assert get(server, "/api/analytics/predict", None, "POST", json.dumps(
        {"cascade_id": "extract_brand", "input": {"rows": [1]}}).encode())[0] == 404
    after = contents_checksums(analysed)
    assert [t for t in before if after[t] != before[t]] == []
    # The snapshot sees a change in place, which keeps every table's row count.
    category = row(analysed, "cascade_analytics", "s1")["input_category"]
    _set_input_category(analysed, category + "-changed")
    try:
        assert contents_checksums(analysed) != before
    finally:
        _set_input_category(analysed, category)
    assert contents_checksums(analysed) == before


def test_predict_needs_a_cascade_and_an_input_and_a_model(server):
    path = "/api/analytics/predict"
    assert get(server, path, None, "POST", b"not json")[0] == 400
    assert get(server, path, None, "POST", json.dumps({"input": "{}"}).encode())[0] == 400
    missing_input = json.dumps({"cascade_id": "extract_brand"}).encode()
    assert get(server, path, None, "POST", missing_input)[0] == 400
    body = json.dumps({"cascade_id": "extract_brand", "input": {"rows": [1]}}).encode()
    status, _, document = get(server, path, None, "POST", body)
    assert status == 404 and document["error"] == "no_model"  # too few runs for a model


# --- every alert type, pattern suggestions and the Pareto frontier (issue 17) ---------------


def _next_monday_offset():
    """The day offset of the first Monday after day(0): the cost model's first version
    (trained on the runs before it) predicts that week."""
    return next(offset for offset in range(1, 8) if day(offset).weekday() == 0)


def _runs_raising_every_alert():
    monday = _next_monday_offset()
    ordinary = [0.9, 1.1]  # mean 1.0, stddev 0.1
    runs = [Run(f"train-{i:03d}", "ca", at(monday - 1, 0, 0) + timedelta(minutes=5 * i),
                [llm(ordinary[i % 2])]) for i in range(210)]
    runs += [Run(f"monday-{i:02d}", "ca", at(monday, 8, i), [llm(ordinary[i % 2])])
             for i in range(12)]
    runs += [
        # 90σ above its cluster, 60 robust σ above runs of its input, 9x the prediction
        Run("spike", "ca", at(monday, 9), [llm(10.0)]),
        # the first error in 223 runs of the cascade
        Run("erred", "ca", at(monday, 10), [llm(1.1), Row(node_type="cell_error", role="",
                                                          at=1.5)]),
    ]
    # 10 runs at 1.0, then 11 at 1.6: the last ones regress, significantly
    runs += [Run(f"r{i + 1:02d}", "cr", at(monday, 11, i),
                 [llm(1.0 if i < 10 else 1.6, species_hash="sp_r")]) for i in range(21)]
    return monday, runs


def _insight_runs(first_day):
    """Cascade "ins": a species of 6 winner and 6 loser base prompts where 'step by step' is
    in 5 winners and 1 loser, and 5 take sets of two models scored 0.80 and 0.82."""
    runs, lineage = [], []
    models = {"cheap": (0.01, 0.80), "dear": (0.05, 0.82)}
    for i, winner in enumerate(("cheap", "dear", "cheap", "dear", "dear")):
        run = Run(f"ins-{i}", "ins", at(first_day, 6, i))
        for take, (model, (cost, score)) in enumerate(models.items()):
            run.rows.append(llm(cost, at=1 + take, model=model, cell_name="pick",
                                species_hash="sp_ins", take_index=take,
                                is_winner=model == winner))
            lineage.append(lineage_row(run, "pick", "sp_ins", take, model, model == winner,
                                       score, cost))
        runs.append(run)
    prompts = Run("ins-prompts", "ins", at(first_day, 7))
    for outcome in (True, False):
        for i in range(6):
            with_phrase = i < 5 if outcome else i < 1
            text = "Summarize the report." + (" Let's think step by step." if with_phrase else "")
            lineage.append(lineage_row(prompts, "summarize", "sp_phrase6", i, "m", outcome,
                                       None, 0.01, text))
    return runs, lineage


@pytest.fixture(scope="module")
def every_alert():
    from conftest import _fresh_store

    databases = _fresh_store()
    store = next(databases)
    monday, runs = _runs_raising_every_alert()
    insights, lineage = _insight_runs(monday - 1)
    with store.session("test data") as session:
        write_runs(session, runs + insights)
        write_lineage(session, lineage)
    analyse(store, day(monday - 1), day(monday), refresh=True)
    result = materialize(
        [alerts], resources={"store": store}, instance=DagsterInstance.ephemeral(),
        tags={RANGE_START_TAG: day(monday - 1).isoformat(),
              RANGE_END_TAG: day(monday).isoformat()},
    )
    assert result.success
    metadata = result.asset_materializations_for_node("alerts")[0].metadata
    with serving(create_app(store)) as base:
        yield base, {key: getattr(value, "value", value) for key, value in metadata.items()}
    next(databases, None)


def test_every_alert_type_is_counted_and_filtered(every_alert):
    base, metadata = every_alert
    raised_by = {
        "cost_spike": "spike", "regression": "r21", "prediction_miss": "spike",
        "error_outlier": "erred", "cost_anomaly": "spike", "significant_regression": "r21",
    }
    for alert_type, session_id in raised_by.items():
        status, _, listed = get(base, "/api/analytics/alerts",
                                {"type": alert_type, "limit": "1000"})
        assert status == 200, (alert_type, listed)
        assert listed["alerts"] and {a["type"] for a in listed["alerts"]} == {alert_type}
        assert session_id in {a["session_id"] for a in listed["alerts"]}, alert_type
        assert metadata[f"alerts_{alert_type}"] == listed["count"]
    assert set(ALERT_TYPES) == set(raised_by)  # the one list, read from the rules
    both = get(base, "/api/analytics/alerts",
               {"type": "cost_anomaly,significant_regression", "limit": "1000"})[2]
    assert {a["type"] for a in both["alerts"]} == {"cost_anomaly", "significant_regression"}
    assert get(base, "/api/analytics/alerts", {"type": "spike"})[0] == 400


def test_regression_message_is_the_designs_and_detail_says_the_rest(every_alert):
    base, _ = every_alert
    listed = get(base, "/api/analytics/alerts", {"type": "regression", "session_id": "r21"})[2]
    (alert,) = listed["alerts"]
    assert alert["message"] == "Performance degradation: cost +60%"
    assert alert["detail"] == (
        "cost +60%, duration +0%: the species' last 10 earlier runs against the 10 before "
        "them (a regression: cost +20% or duration +30%)")
    spike = get(base, "/api/analytics/alerts", {"type": "cost_spike", "session_id": "spike"})[2]
    assert spike["alerts"][0]["detail"] == ""


def test_cascade_shows_pattern_suggestions_and_the_frontier(every_alert):
    base, _ = every_alert
    status, _, summary = get(base, "/api/analytics/cascade/ins")
    assert status == 200
    suggestions = summary["pattern_suggestions"]
    assert suggestions["species_count"] == 1
    (species,) = suggestions["species"]
    assert {k: species[k] for k in ("species_hash", "cell_name", "winner_prompts",
                                    "loser_prompts", "pattern_count", "significant_count")} == {
        "species_hash": "sp_phrase6", "cell_name": "summarize", "winner_prompts": 6,
        "loser_prompts": 6, "pattern_count": 1, "significant_count": 0}
    (pattern,) = species["patterns"]
    assert pattern["suggestion"] == "💡 Try 'step by step' (in 83% of winners)"
    assert pattern["recommendation"] == "Try adding 'step by step' to your prompt"
    assert (pattern["winner_count"], pattern["loser_count"], pattern["significant"]) == (
        5, 1, False)
    assert pattern["lift"] == pytest.approx(2 / 3)

    frontier = summary["pareto_frontier"]
    assert frontier["row_count"] == 2
    by_model = {r["model"]: r for r in frontier["rows"]}
    assert {m: (r["take_count"], r["is_pareto"], r["significant"])
            for m, r in by_model.items()} == {"cheap": (5, True, False),
                                              "dear": (5, True, False)}
    assert by_model["dear"]["recommended_model"] == "cheap"
    assert by_model["dear"]["recommendation"] == (
        "Consider cheap: wins 40% (vs 60%), scores 0.80 vs 0.82, costs 80% less than dear")
    # Another cascade's document has none of them.
    other = get(base, "/api/analytics/cascade/ca")[2]
    assert other["pattern_suggestions"] == {"species": [], "species_count": 0}
    assert other["pareto_frontier"] == {"rows": [], "row_count": 0}
