"""`dagster dev` (webserver + daemon) analyses new runs with nobody launching anything.

One `dagster dev` serves the module's tests, over one pair of databases: each test writes
runs of its own, with ids no other test uses.
"""

import time
from datetime import date, timedelta

import pytest
from analyse import analyse, row, table
from dagster_dev import running_dagster
from runs import Run, llm, write_runs

from rvbbit_assets.orchestration.day_range import utc_now

pytestmark = pytest.mark.slow
LINEAGE_TARGETS = ("cascade_analytics", "alerts", "forecasts")


def _wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(3)  # each poll takes the store from the Dagster processes for a moment
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _analysed(store, session_id):
    with store.session("e2e poll", timeout=30) as session:
        rows = session.rows(
            "SELECT total_cost FROM ${analytics}.cascade_analytics WHERE session_id = {s:String}",
            {"s": session_id},
        )
    return rows[0][0] if rows else None


@pytest.fixture(scope="module")
def dagster_dev(module_store, tmp_path_factory):
    with running_dagster(module_store, tmp_path_factory.mktemp("dagster_dev"), daemon=True,
                         # A tick every 5 s, not 15: each wait below is for a tick.
                         env={"RVBBIT_SENSOR_SETTLE_SECONDS": "2",
                              "RVBBIT_SENSOR_INTERVAL_SECONDS": "5"}) as dagster:
        dagster.wait_until_serving()
        yield dagster


@pytest.fixture
def store(module_store):
    """The databases `dagster dev` analyses (the conftest `store` would be others)."""
    return module_store


def test_new_runs_and_late_costs_are_analysed_by_the_sensor(store, dagster_dev):
    now = utc_now()
    landed = time.monotonic()
    with store.session("e2e data") as session:
        write_runs(session, [Run("e2e-1", "c", now.replace(microsecond=0), [llm(0.25)]),
                             Run("e2e-2", "c", now.replace(microsecond=0) - timedelta(minutes=5),
                                 [llm(None), llm(0.5, at=2)])])
    first_cost = _wait_for(lambda: _analysed(store, "e2e-1"), 240, "the first analytics row")
    print(f"run landed -> analytics row: {time.monotonic() - landed:.1f}s")
    assert first_cost == pytest.approx(0.25)
    assert row(store, "cascade_analytics", "e2e-2")["total_cost"] == pytest.approx(0.5)

    with store.session("late cost") as session:
        session.command(
            "ALTER TABLE ${source}.unified_logs UPDATE cost = 0.125"
            " WHERE session_id = 'e2e-2' AND role = 'assistant' AND cost IS NULL"
            " SETTINGS mutations_sync = 2"
        )
    _wait_for(lambda: (_analysed(store, "e2e-2") or 0) > 0.6, 240, "the late cost")
    assert _analysed(store, "e2e-2") == pytest.approx(0.625)


def _upstream(graph: dict[str, set[str]], key: str) -> set[str]:
    seen, todo = set(), [key]
    while todo:
        for parent in graph.get(todo.pop(), set()) - seen:
            seen.add(parent)
            todo.append(parent)
    return seen


def test_the_webserver_shows_lineage_from_the_source_tables(dagster_dev):
    graph = dagster_dev.wait_for_assets()
    for asset in LINEAGE_TARGETS:
        assert asset in graph, asset
        assert {"unified_logs", "cascade_sessions"} <= _upstream(graph, asset), asset
    assert "session_facts" in _upstream(graph, "cascade_analytics")
    assert graph["unified_logs"] == set()  # RVBBIT's tables are the roots


LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}"""
BACKFILL_STATUS = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status runs(limit: 50) { runId status tags { key value } } }
    ... on PythonError { message }
  }
}"""


def test_a_backfill_from_the_asset_graph_is_one_run_equal_to_the_cli(store, dagster_dev):
    now = utc_now().replace(microsecond=0)
    runs = [Run(f"bf-{i}", "c", now - timedelta(days=1, minutes=i), [llm(0.1 * (i + 1))])
            for i in range(3)] + [Run("bf-today", "c", now - timedelta(minutes=5), [llm(0.2)])]
    dagster_dev.wait_for_assets()
    dagster_dev.wait_until_idle()  # the sensor's runs for an earlier test's data
    with store.session("e2e data") as session:
        write_runs(session, runs)
    days = [(now - timedelta(days=1)).date().isoformat(), now.date().isoformat()]
    stages = ["session_facts", "input_clusters", "priced_runs", "baselines", "anomaly_scores",
              "regression_flags", "cost_prediction_model", "cascade_analytics"]
    launched = dagster_dev.graphql(LAUNCH_BACKFILL, {"params": {
        "partitionNames": days, "assetSelection": [{"path": [s]} for s in stages]}})
    assert launched["launchPartitionBackfill"]["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["launchPartitionBackfill"]["backfillId"]

    def finished():
        state = dagster_dev.graphql(BACKFILL_STATUS, {"id": backfill_id})
        backfill = state["partitionBackfillOrError"]
        assert backfill["__typename"] == "PartitionBackfill", backfill
        return backfill if backfill["status"] not in ("REQUESTED", "CANCELING") else None

    backfill = _wait_for(finished, 300, "the backfill")
    assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), backfill
    (run,) = backfill["runs"]  # the whole range of days in one run
    assert run["status"] == "SUCCESS", f"backfill run {run}:\n{dagster_dev.log_tail()}"
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert (tags["dagster/asset_partition_range_start"],
            tags["dagster/asset_partition_range_end"]) == tuple(days)

    from_ui = table(store, "cascade_analytics", exclude=("analyzed_at",))
    assert set(from_ui["session_id"]) >= {"bf-0", "bf-1", "bf-2", "bf-today"}
    analyse(store, date.fromisoformat(days[0]), date.fromisoformat(days[1]))
    assert table(store, "cascade_analytics", exclude=("analyzed_at",)).equals(from_ui)
