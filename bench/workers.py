"""Each benchmark case runs in a worker process of its own with a fresh embedded store:
chDB opens one store per process, and a case must not see another's data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile


def run_worker(script: str, case: str) -> dict:
    """Run `script --worker case` on a temporary store; its last stdout line is JSON."""
    with tempfile.TemporaryDirectory(prefix=f"rvbbit-bench-{case}-") as tmp:
        env = {**os.environ, "RVBBIT_CLICKHOUSE_URL": f"chdb://{tmp}/chdb",
               "RVBBIT_PARTITIONS_START": "2000-01-01"}
        env.pop("DAGSTER_HOME", None)
        done = subprocess.run([sys.executable, script, "--worker", case], env=env,
                              capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"worker {case} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
