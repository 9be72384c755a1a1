"""Under a real `dagster dev` with no dagster.yaml of ours: the sensor heals after the store
was held past its lock timeout during its run, and the webserver shows the card's lineage.

Short intervals come from the environment (sensor every 5 s, lock timeout 2 s, one busy
retry after 1 s, retry of a failed run after 5 s), so the fault and the healing take under a
minute after the webserver is up.
"""

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster_dev import stop_process_group
from runs import Run, llm, write_runs
from sensor_runs import SENSOR_RUN_TAGS, store_held

from rvbbit_assets.orchestration.day_range import utc_now
from rvbbit_assets.orchestration.run_exclusion import NOT_FINISHED
from rvbbit_assets.sensors.new_cascade_sessions import REASON_TAG

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
QUICK = {
    "RVBBIT_SENSOR_INTERVAL_SECONDS": "5",
    "RVBBIT_SENSOR_SETTLE_SECONDS": "1",
    "RVBBIT_SENSOR_STORE_WAIT_SECONDS": "1",
    "RVBBIT_SENSOR_RETRY_SECONDS": "5",
    "RVBBIT_STORE_LOCK_TIMEOUT": "2",
    "RVBBIT_STORE_BUSY_RETRIES": "1",
    "RVBBIT_STORE_BUSY_RETRY_SECONDS": "1",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _eventually(condition, timeout: float, what: str, every: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def dagster_dev(module_store, tmp_path_factory):
    """`dagster dev` on an instance without any configuration (an empty DAGSTER_HOME)."""
    home = tmp_path_factory.mktemp("dagster_home")
    env = {**os.environ, **QUICK, "DAGSTER_HOME": str(home),
           "RVBBIT_SOURCE_DATABASE": module_store.source_database,
           "RVBBIT_ANALYTICS_DATABASE": module_store.analytics_database}
    log = (home / "dagster.log").open("w")
    port = _free_port()
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "dagster"), "dev", "-w", "workspace.yaml",
         "-p", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    process.port, process.home = port, home
    try:
        _eventually(lambda: _graph(port), 180, "the webserver")
        yield process
    finally:
        stop_process_group(process)
        log.close()


LINEAGE = """{ assetNodes { assetKey { path } dependencies {
    asset { assetKey { path } } partitionMapping { description } } } }"""


def _graph(port: int) -> dict[str, dict[str, str]] | None:
    """Each asset's dependencies, with the description of their partition mapping."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": LINEAGE}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            nodes = json.load(response)["data"]["assetNodes"]
    except (OSError, KeyError, TypeError, ValueError):
        return None
    return {
        "/".join(n["assetKey"]["path"]): {
            "/".join(d["asset"]["assetKey"]["path"]): (d["partitionMapping"] or {}).get(
                "description", "")
            for d in n["dependencies"]
        }
        for n in nodes
    }


def test_the_webserver_shows_the_cards_chain_and_the_cross_day_dependency(dagster_dev):
    graph = _graph(dagster_dev.port)
    for before, after in [("session_facts", "input_clusters"), ("input_clusters", "baselines"),
                          ("baselines", "anomaly_scores"), ("anomaly_scores", "regression_flags"),
                          ("cascade_analytics", "forecasts"),
                          ("session_facts", "alerts")]:
        assert before in graph[after], (before, after)
    for stage in ("priced_runs", "baselines", "regression_flags",
                  "cost_prediction_model", "cell_analytics"):  # each day reads earlier days
        assert "offsetted by -36500 and 0 partitions" in graph[stage]["session_facts"], stage
    assert "offsetted" not in graph["anomaly_scores"]["session_facts"]


def _sensor_runs(instance: DagsterInstance, statuses=None):
    return instance.get_run_records(RunsFilter(tags=SENSOR_RUN_TAGS, statuses=statuses))


def _analysed(store) -> int:
    with store.session("e2e poll", timeout=30) as session:
        return session.scalar("SELECT count() FROM ${analytics}.cascade_analytics")


def test_a_store_held_past_the_lock_timeout_during_a_sensor_run_heals_by_itself(
    module_store, dagster_dev
):
    store = module_store
    now = utc_now().replace(microsecond=0)
    runs = [Run(f"held-{i}", "c", now.replace(hour=0, minute=i), [llm(0.01 * (i + 1))])
            for i in range(12)]
    with DagsterInstance.from_config(str(dagster_dev.home)) as instance:
        with store.session("e2e data") as session:
            write_runs(session, runs)
        # The sensor launches a run; the store is then held past the runs' lock timeout
        # (2 s) and their one busy retry, as a user's script holding it would, until the run
        # failed and one more sensor tick (5 s) found the store busy.
        _eventually(lambda: _sensor_runs(instance, NOT_FINISHED), 120, "a sensor run", 0.2)
        with store_held("e2e holder"):
            failed = _eventually(
                lambda: _sensor_runs(instance, [DagsterRunStatus.FAILURE]), 60, "the failure")
            time.sleep(6)
        released = time.monotonic()
        # Nobody launches anything from here on.
        _eventually(lambda: _analysed(store) == len(runs), 240, "every run's analytics", 3)
        print(f"store released -> every run analysed: {time.monotonic() - released:.1f}s")
        failed_id = failed[0].dagster_run.run_id
        succeeded = _eventually(lambda: _sensor_runs(instance, [DagsterRunStatus.SUCCESS]),
                                120, "the run to finish (its refresh after the analysis)")
    assert f"retry of failed run {failed_id[:8]}" in succeeded[0].dagster_run.tags[REASON_TAG]
    with store.session("e2e read") as session:
        total = session.scalar("SELECT sum(total_cost) FROM ${analytics}.cascade_analytics")
    assert total == pytest.approx(sum(0.01 * (i + 1) for i in range(12)))
