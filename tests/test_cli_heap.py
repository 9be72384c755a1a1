"""The program `rvbbit-analytics` freezes its heap before it exits (Python's exit would collect
it all once more: 2.4 s after a 60-day materialize), and a caller of `main` in its own
process keeps a heap the collector still walks."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

from rvbbit_assets.cli.commands import main


def test_main_called_in_a_process_leaves_its_heap_alone(store, monkeypatch):
    monkeypatch.setenv("RVBBIT_SOURCE_DATABASE", store.source_database)
    monkeypatch.setenv("RVBBIT_ANALYTICS_DATABASE", store.analytics_database)
    frozen = gc.get_freeze_count()
    assert main(["init", "--with-source"]) == 0
    assert gc.get_freeze_count() == frozen


def test_the_program_exits_with_its_heap_frozen(tmp_path: Path):
    as_the_program = (
        "import atexit, gc, sys\n"
        "from rvbbit_assets.cli.commands import main\n"
        # atexit runs after main returns, before Python's last collection.
        "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0))\n"
        "sys.argv = ['rvbbit-analytics', 'init', '--with-source']\n"
        "sys.exit(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", as_the_program], capture_output=True, text=True, timeout=300,
        env={**os.environ, "RVBBIT_CLICKHOUSE_URL": f"chdb://{tmp_path}/store"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "frozen True"
