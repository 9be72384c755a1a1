"""Alerts: the design's rules, stored once, delivered once to a real loopback webhook."""

import json
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from analyse import analyse, at, day
from dagster import DagsterInstance, materialize
from runs import Row, Run, llm, write_runs

from rvbbit_assets.assets.alert_delivery import (
    Alert,
    DeliverySettings,
    deliver,
    payload_for,
    redact_webhook,
)
from rvbbit_assets.assets.alerts import alerts
from rvbbit_assets.orchestration.day_range import RANGE_END_TAG, RANGE_START_TAG, utc_now

pytestmark = pytest.mark.store_open_for_the_test

SECRET = "T000/B000/SECRET-TOKEN"
BIG_WINDOW = str(24 * 365 * 30)  # hours: the pinned test runs (November 2026) are inside it


class Webhook:
    """A real HTTP server on 127.0.0.1 answering a script of statuses (then 200)."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.bodies = []
        self.paths = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with lock:
                    status = hook.statuses.pop(0) if hook.statuses else 200
                    hook.paths.append(self.path)
                    if status == 200:
                        hook.bodies.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/{SECRET}?token=abc"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _dead_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks/{SECRET}"


def _runs():
    runs = [
        Run("c1", "c", at(0, 10), [llm(1.0)]),
        Run("c2", "c", at(0, 11), [llm(2.0)]),
        Run("c3", "c", at(0, 12), [llm(4.0)]),
        Run("c4", "c", at(1, 10), [llm(8.0)]),  # z = 4.54 on the cluster of c1..c3
    ]
    for i in range(21):  # 10 runs at 1.0, then 11 at 1.6: regressions and spikes
        runs.append(Run(f"r{i + 1:02d}", "r", at(2, 8, i),
                        [llm(1.0 if i < 10 else 1.6, species_hash="sp_r")]))
    for i in range(20):
        runs.append(Run(f"e-{i:02d}", "e", at(3, 8, i), [llm(0.01)]))
    runs.append(Run("e-err", "e", at(3, 9), [llm(0.01), Row(node_type="cell_error", role="",
                                                                at=1.5)]))
    return runs


def run_alerts(store, first, last=None):
    last = last or first
    result = materialize(
        [alerts],
        resources={"store": store},
        instance=DagsterInstance.ephemeral(),
        tags={RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()},
    )
    assert result.success
    return result


def stored(store, sql, params=None):
    with store.session("test read") as session:
        return session.rows(sql, params or {})


def deliveries(store, day_offset):
    return {
        (sid, kind): (status, attempts, error)
        for sid, kind, status, attempts, error in stored(
            store,
            "SELECT d.session_id, d.alert_type, d.status, d.attempts, d.last_error"
            " FROM ${analytics}.alert_deliveries AS d FINAL"
            " INNER JOIN ${analytics}.alerts AS a"
            " ON a.session_id = d.session_id AND a.alert_type = d.alert_type"
            " WHERE toDate(a.created_at) = {d:Date}",
            {"d": day(day_offset)},
        )
    }


@pytest.fixture(scope="module")
def analysed_runs(module_store):
    with module_store.session("test data") as session:
        write_runs(session, _runs())
    analyse(module_store, day(0), day(3))
    return module_store


@pytest.fixture
def analysed(analysed_runs):
    """The analysed runs without alerts or deliveries: each test runs the alerts it needs,
    so it passes alone and in any order (the per-run analysis itself is shared)."""
    with analysed_runs.session("test reset") as session:
        session.command("TRUNCATE TABLE ${analytics}.alerts")
        session.command("TRUNCATE TABLE ${analytics}.alert_deliveries")
    return analysed_runs


@pytest.fixture
def delivery_env(monkeypatch, analysed):
    monkeypatch.setenv("RVBBIT_ALERT_SEND_WINDOW_HOURS", BIG_WINDOW)
    monkeypatch.setenv("RVBBIT_ALERT_RETRY_BASE_SECONDS", "0.01")
    monkeypatch.setenv("RVBBIT_ALERT_TIMEOUT_SECONDS", "2")
    return monkeypatch


def _alerts(store, session_id):
    return {
        kind: (severity, message)
        for kind, severity, message in stored(
            store,
            "SELECT alert_type, severity, message FROM ${analytics}.alerts"
            " WHERE session_id = {s:String}",
            {"s": session_id},
        )
    }


def _p_value(store, session_id: str) -> str:
    (p,), = stored(store, "SELECT toString(round(toFloat64(regression_p_value), 6))"
                          " FROM ${analytics}.cascade_analytics WHERE session_id = {s:String}",
                   {"s": session_id})
    return p


def test_rules_of_the_design(analysed, monkeypatch):
    monkeypatch.delenv("RVBBIT_ALERT_WEBHOOK_URL", raising=False)
    run_alerts(analysed, day(0), day(3))
    (z,), = stored(analysed, "SELECT cost_z_score FROM ${analytics}.cascade_analytics"
                             " WHERE session_id = 'c4'")
    assert _alerts(analysed, "c4") == {
        "cost_spike": ("critical", f"Cost is {float(np.float32(z)):.1f}σ above normal!"),
        # Ours too: the same tokens as c1..c3, billed 8 / (7/3) times as much per token.
        "cost_anomaly": ("critical", "Cost 4.0× expected (+$6.00): price per token 3.4× usual"),
    }
    assert f"{z:.1f}" == "4.5"
    assert _alerts(analysed, "r21") == {
        "regression": ("critical", "Performance degradation: cost +60%"),
        # Ours agree here: the species' cost rose and stayed up: its last 10 runs against the
        # 11 before (one of them already at 1.6), 1.6^(10/11) = 1.53 times.
        "significant_regression": (
            "major", "Cost of this prompt species up 53% over its last 10 runs (rank test, "
            f"p = {_p_value(analysed, 'r21')})"),
    }
    assert _alerts(analysed, "r16")["regression"] == (
        "minor", "Performance degradation: cost +30%")
    assert _alerts(analysed, "e-err") == {"error_outlier": (
        "warning", "Run logged 1 error while under 5% of its cascade's earlier runs had any")}
    assert _alerts(analysed, "c1") == {} and _alerts(analysed, "r05") == {}
    # Past runs: recorded as too old to send (no webhook is configured anyway).
    assert stored(analysed, "SELECT DISTINCT status FROM ${analytics}.alert_deliveries FINAL"
                  ) == [("not_sent_too_old",)]


def test_no_webhook_records_nothing_inside_the_window(delivery_env, analysed):
    delivery_env.delenv("RVBBIT_ALERT_WEBHOOK_URL", raising=False)
    result = run_alerts(analysed, day(1))
    assert stored(analysed, "SELECT count() FROM ${analytics}.alert_deliveries") == [(0,)]
    metadata = result.asset_materializations_for_node("alerts")[0].metadata
    assert metadata["delivery_not_sent_no_webhook"].value == 2  # c4: the design's and ours
    assert metadata["webhook"].value == "not configured"


def test_rerun_keeps_one_copy_and_first_detection(analysed, monkeypatch):
    monkeypatch.delenv("RVBBIT_ALERT_WEBHOOK_URL", raising=False)
    run_alerts(analysed, day(0), day(3))
    before = stored(analysed, "SELECT session_id, alert_type, detected_at"
                              " FROM ${analytics}.alerts ORDER BY 1, 2")
    run_alerts(analysed, day(2))
    run_alerts(analysed, day(0), day(3))
    after = stored(analysed, "SELECT session_id, alert_type, detected_at"
                             " FROM ${analytics}.alerts ORDER BY 1, 2")
    assert after == before
    assert stored(analysed, "SELECT count() FROM (SELECT session_id, alert_type, count() AS n"
                            " FROM ${analytics}.alerts GROUP BY 1, 2 HAVING n > 1)") == [(0,)]


def test_prediction_miss(analysed, monkeypatch):
    monkeypatch.delenv("RVBBIT_ALERT_WEBHOOK_URL", raising=False)
    with analysed.session("test tamper") as session:
        session.command(
            "ALTER TABLE ${analytics}.cascade_analytics UPDATE predicted_cost = 1.0,"
            " prediction_error = 1.8 WHERE session_id = 'c3' SETTINGS mutations_sync = 2"
        )
    try:
        run_alerts(analysed, day(0))
        assert _alerts(analysed, "c3")["prediction_miss"] == (
            "warning", "Cost 180% higher than predicted")
    finally:
        with analysed.session("test untamper") as session:
            session.command(
                "ALTER TABLE ${analytics}.cascade_analytics UPDATE predicted_cost = NULL,"
                " prediction_error = NULL WHERE session_id = 'c3' SETTINGS mutations_sync = 2"
            )
        run_alerts(analysed, day(0))


def test_backfill_of_old_runs_pages_nobody(delivery_env, analysed):
    delivery_env.delenv("RVBBIT_ALERT_SEND_WINDOW_HOURS")  # default: 24 hours
    with Webhook() as hook:
        delivery_env.setenv("RVBBIT_ALERT_WEBHOOK_URL", hook.url)
        run_alerts(analysed, day(0), day(3))
        assert hook.paths == []
        recorded = deliveries(analysed, 2)
        assert recorded and {s for s, _, _ in recorded.values()} == {"not_sent_too_old"}
        # Recorded for good: a later run with a wider window still does not send them.
        delivery_env.setenv("RVBBIT_ALERT_SEND_WINDOW_HOURS", BIG_WINDOW)
        run_alerts(analysed, day(2))
        assert hook.paths == []


def test_delivered_once(delivery_env, analysed):
    with Webhook() as hook:
        delivery_env.setenv("RVBBIT_ALERT_WEBHOOK_URL", hook.url)
        result = run_alerts(analysed, day(1))
        assert hook.bodies == [{
            "type": "cost_anomaly", "severity": "critical",
            "message": _alerts(analysed, "c4")["cost_anomaly"][1], "session_id": "c4",
            "cascade_id": "c", "created_at": at(1, 10).isoformat() + "Z",
            "metric": hook.bodies[0]["metric"],
            "text": hook.bodies[0]["text"],
        }, {
            "type": "cost_spike", "severity": "critical",
            "message": _alerts(analysed, "c4")["cost_spike"][1], "session_id": "c4",
            "cascade_id": "c", "created_at": at(1, 10).isoformat() + "Z",
            "metric": pytest.approx(4.54, abs=0.01),
            "text": hook.bodies[1]["text"],
        }]
        assert deliveries(analysed, 1) == {("c4", "cost_spike"): ("sent", 1, ""),
                                           ("c4", "cost_anomaly"): ("sent", 1, "")}
        run_alerts(analysed, day(1))
        run_alerts(analysed, day(0), day(1))  # day 0 has its own alert (c3) to send
        assert [b["session_id"] for b in hook.bodies] == ["c4", "c4", "c3"]
    metadata = result.asset_materializations_for_node("alerts")[0].metadata
    assert metadata["delivery_sent"].value == 2
    assert metadata["webhook"].value == f"http://127.0.0.1:{hook.server.server_address[1]}/***"
    _assert_secret_absent(result)


def test_server_error_then_success(delivery_env, analysed):
    with Webhook(statuses=[500]) as hook:
        delivery_env.setenv("RVBBIT_ALERT_WEBHOOK_URL", hook.url)
        run_alerts(analysed, day(3))
        assert [b["session_id"] for b in hook.bodies] == ["e-err"]
        assert len(hook.paths) == 2
    assert deliveries(analysed, 3) == {("e-err", "error_outlier"): ("sent", 2, "")}


def test_dead_endpoint_is_recorded_and_retried_later(delivery_env, analysed):
    delivery_env.setenv("RVBBIT_ALERT_WEBHOOK_URL", _dead_url())
    result = run_alerts(analysed, day(2))  # the pipeline does not fail
    recorded = deliveries(analysed, 2)
    assert len(recorded) == 10 and {s for s, _, _ in recorded.values()} == {"failed"}
    attempts = sorted(a for _, a, _ in recorded.values())
    # Two alerts tried 4 times each, then the rest wait for a later run.
    assert attempts == [0] * (len(recorded) - 2) + [4, 4]
    assert any("unreachable" in e for _, _, e in recorded.values())
    _assert_secret_absent(result)
    with Webhook() as hook:
        delivery_env.setenv("RVBBIT_ALERT_WEBHOOK_URL", hook.url)
        run_alerts(analysed, day(2))
        assert len(hook.bodies) == len(recorded)
    assert {s for s, _, _ in deliveries(analysed, 2).values()} == {"sent"}


def _assert_secret_absent(result):
    text = " ".join(str(event) for event in result.all_events)
    assert SECRET not in text and "SECRET-TOKEN" not in text


# --- delivery unit tests against the loopback server -------------------------------------

ALERT = Alert("s1", "cost_spike", "casc", at(0), "critical", "Cost is 3.4σ above normal!", 3.4)
FAST = DeliverySettings(None, max_attempts=4, retry_base_seconds=0.01, timeout_seconds=2)


def test_deliver_success_and_retry_and_permanent_failure():
    with Webhook(statuses=[503, 500]) as hook:
        result = deliver(hook.url, ALERT, FAST)
        assert (result.sent, result.attempts) == (True, 3)
        assert hook.bodies[0]["message"] == "Cost is 3.4σ above normal!"
    with Webhook(statuses=[400]) as hook:
        result = deliver(hook.url, ALERT, FAST)
        assert (result.sent, result.attempts) == (False, 1)
        assert result.last_error == "HTTP 400 (not retried)"
    with Webhook(statuses=[500] * 10) as hook:
        result = deliver(hook.url, ALERT, FAST)
        assert (result.sent, result.attempts, result.last_error) == (False, 4, "HTTP 500")
        assert len(hook.paths) == 4


def test_backoff_is_exponential():
    waits = []
    result = deliver(_dead_url(), ALERT, DeliverySettings(None, retry_base_seconds=0.5),
                     sleep=waits.append)
    assert waits == [0.5, 1.0, 2.0] and result.unreachable and SECRET not in result.last_error


def test_only_http_urls_are_used():
    result = deliver("file:///etc/passwd", ALERT, FAST)
    assert (result.sent, result.attempts) == (False, 0)


def test_slack_body_and_redaction():
    slack = "https://hooks.slack.com/services/T000/B000/XXXX"
    assert payload_for(slack, ALERT) == {
        "text": "[critical] casc: Cost is 3.4σ above normal! (session s1, cost_spike)"
    }
    assert set(payload_for("https://example.com/hook", ALERT)) >= {
        "type", "severity", "message", "session_id"}
    assert redact_webhook(slack) == "https://hooks.slack.com/***"
    assert redact_webhook("http://user:pw@example.com:8080/x?y=1") == "http://example.com:8080/***"
    assert redact_webhook("https://example.com") == "https://example.com"


def test_a_malformed_response_is_a_failed_delivery_not_a_crash():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(5)

    def answer_garbage():
        for _ in range(2):
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"NOT HTTP AT ALL\r\n\r\n")

    thread = threading.Thread(target=answer_garbage, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/hooks/{SECRET}"
    try:
        result = deliver(url, ALERT, DeliverySettings(None, max_attempts=2,
                                                      retry_base_seconds=0.01,
                                                      timeout_seconds=2))
    finally:
        thread.join(timeout=5)
        listener.close()
    assert (result.sent, result.attempts) == (False, 2)
    assert result.last_error and SECRET not in result.last_error


def test_claims_of_other_runs_are_respected(delivery_env, analysed):
    now = utc_now()
    with analysed.session("test claims") as session:
        session.insert_rows(
            "alert_deliveries",
            [("r21", "regression", "sending", 0, "", "", now - timedelta(hours=1), 1),
             ("r20", "regression", "sending", 0, "", "", now, 1)],
            ["session_id", "alert_type", "status", "attempts", "last_error", "destination",
             "updated_at", "version"],
        )
    with Webhook() as hook:
        delivery_env.setenv("RVBBIT_ALERT_WEBHOOK_URL", hook.url)
        result = run_alerts(analysed, day(2))
        sent = {(b["session_id"], b["type"]) for b in hook.bodies}
    recorded = deliveries(analysed, 2)
    # A claim left by a run that stopped is not resent; a fresh one belongs to a live run.
    assert recorded[("r21", "regression")][0] == "interrupted"
    assert recorded[("r20", "regression")][0] == "sending"
    assert ("r21", "regression") not in sent and ("r20", "regression") not in sent
    assert sent and {s for k, (s, _, _) in recorded.items() if k in sent} == {"sent"}
    metadata = result.asset_materializations_for_node("alerts")[0].metadata
    assert metadata["delivery_interrupted"].value == 1
    assert metadata["delivery_in_flight_elsewhere"].value == 1
