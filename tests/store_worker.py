"""Work on a separate embedded store, in a process of its own (for the fault tests).

chDB opens one store path per process and pytest's own process already uses the conftest
store, so tests that need a store of their own (one a process is killed on) drive it
through this script and the real CLI, each in a subprocess:

    python tests/store_worker.py seed SRC AN [SRC AN ...]   # migrate, write the same demo
    python tests/store_worker.py dump SRC AN OUT.pickle     # the analysed tables, pickled

The store is the one of RVBBIT_CLICKHOUSE_URL.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import pandas as pd
from pinned_dates import BASE_DAY, PINNED_NOW, migrate_test_databases
from test_determinism import STAGES, _analysed_tables

from rvbbit_assets.demo import generate_demo
from rvbbit_assets.store import ClickHouseStore

DEMO_DAYS = 3
DEMO_END = BASE_DAY + timedelta(days=DEMO_DAYS - 1)  # pinned (pinned_dates.py)
DEMO_FIRST = DEMO_END - timedelta(days=DEMO_DAYS - 1)


def _stores(names: list[str]) -> list[ClickHouseStore]:
    pairs = zip(names[::2], names[1::2], strict=True)
    return [ClickHouseStore(source_database=s, analytics_database=a) for s, a in pairs]


def seed(names: list[str]) -> None:
    for store in _stores(names):
        with store.session("store_worker seed") as session:
            migrate_test_databases(session)
            # The ground truth file goes beside the store directory (a test's tmp_path).
            generate_demo(session, days=DEMO_DAYS, sessions_per_day=40, seed=7,
                          end_date=DEMO_END, now=PINNED_NOW)


def dump(names: list[str], out: Path) -> None:
    (store,) = _stores(names)
    frames = _analysed_tables(store)
    with store.session("store_worker dump") as session:
        frames["tables"] = pd.DataFrame(session.rows(
            "SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name",
            {"db": session.analytics_database}), columns=["name"])
    pd.to_pickle(frames, out)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "seed":
        seed(args)
    elif command == "dump":
        dump(args[:2], Path(args[2]))
    else:
        raise SystemExit(f"unknown command {command!r}; tables: {STAGES}")
