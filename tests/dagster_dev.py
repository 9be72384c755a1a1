"""Dagster's own processes for end-to-end tests: `dagster dev` (webserver and daemon) or the
webserver alone, over one pair of test databases, with a GraphQL client that fails with the
server's error instead of waiting for a time-out.

Starting Dagster costs tens of seconds, so a module starts it once (a module-scoped fixture
calling `running_dagster`) and its tests share it, each with runs of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rvbbit_assets.store import ClickHouseStore

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"


ACTIVE_RUNS = """{ runsOrError(filter: {statuses: [QUEUED, NOT_STARTED, STARTING, STARTED,
  CANCELING]}) { ... on Runs { results { runId } } } }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class DagsterProcess:
    port: int
    log_path: Path
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The query's data; an answer with errors fails the test with them."""
        request = urllib.request.Request(
            self.url + "/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"GraphQL HTTP {exc.code}: {exc.read()[:2000]!r}") from None
        assert not answer.get("errors"), f"GraphQL errors: {answer['errors']}"
        return answer["data"]

    def wait_until_serving(self, timeout: float = 120) -> None:
        """Until the webserver answers; a process that exits fails with its log."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, f"Dagster exited:\n{self.log_tail()}"
            try:
                with urllib.request.urlopen(self.url + "/server_info", timeout=5):
                    return
            except OSError:  # not listening yet
                assert time.monotonic() < deadline, (
                    f"Dagster did not answer in {timeout}s:\n{self.log_tail()}")
                time.sleep(0.25)

    def wait_until_idle(self, timeout: float = 300) -> None:
        """Until no run is queued or in progress (runs of an earlier test, say)."""
        deadline = time.monotonic() + timeout
        while self.graphql(ACTIVE_RUNS)["runsOrError"]["results"]:
            assert time.monotonic() < deadline, f"runs still active:\n{self.log_tail()}"
            time.sleep(2)

    def wait_for_assets(self, timeout: float = 120) -> dict[str, set[str]]:
        """The asset graph (asset -> its dependencies) once the code location has loaded."""
        self.wait_until_serving(timeout)
        deadline = time.monotonic() + timeout
        while True:
            nodes = self.graphql(
                "{ assetNodes { assetKey { path } dependencyKeys { path } } }")["assetNodes"]
            if nodes:
                return {"/".join(n["assetKey"]["path"]):
                        {"/".join(d["path"]) for d in n["dependencyKeys"]} for n in nodes}
            assert time.monotonic() < deadline, f"no assets loaded:\n{self.log_tail()}"
            time.sleep(0.5)


@contextmanager
def running_dagster(
    store: ClickHouseStore, folder: Path, daemon: bool, env: dict[str, str] | None = None
) -> Iterator[DagsterProcess]:
    """`dagster dev` (daemon=True: sensors and runs) or `dagster-webserver` over the store's
    databases, with a Dagster home in `folder`; its process group is stopped afterwards."""
    home = folder / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    with (home / "dagster.yaml").open("a") as config:
        config.write("nux:\n  enabled: false\n")  # no "join the community" dialog
    port = free_port()
    command = ([str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-p", str(port)] if daemon
               else [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1",
                     "-p", str(port)])
    log_path = folder / "dagster.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "DAGSTER_HOME": str(home),
                 "RVBBIT_SOURCE_DATABASE": store.source_database,
                 "RVBBIT_ANALYTICS_DATABASE": store.analytics_database, **(env or {})},
        )
        try:
            yield DagsterProcess(port, log_path, process)
        finally:
            stop_process_group(process)


def stop_process_group(process: subprocess.Popen) -> None:
    """Ctrl-C to the process group (Dagster stops its children on it), SIGKILL if it hangs."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
