"""One analysed demo store for the tests that only read it (the targets and the cost model).

The forecast backtest keeps a 60-day load of its own: on these 30 days it has two weekly
origins, where the forecast only ties the naive "same day last week" (MAE 0.395 vs 0.394).

The `demo` command's load (its default size and seed, pinned dates) is analysed once.
chDB opens slower the more parts its store holds (about 0.2 s more per open with this load
analysed), and tests open the store hundreds of times, so the store lives only while its
users run: their modules run one after another (`grouped`) and its databases are dropped
right after the last of them (conftest.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from analyse import analyse
from pinned_dates import DEMO_END, PINNED_NOW

from rvbbit_assets.demo import DemoSummary, generate_demo
from rvbbit_assets.store import ClickHouseStore

SHARED_DEMO = "shared_demo"  # the fixture's name
DAYS, RUNS_PER_DAY, SEED = 30, 300, 7  # the `demo` command's defaults


@dataclass(frozen=True)
class SharedDemo:
    store: ClickHouseStore
    summary: DemoSummary
    truth: dict[str, Any]


class SharedDemoLifetime:
    """Creates the shared demo on first use and drops its databases once, when told."""

    def __init__(self, fresh_store: Callable[[], Iterator[ClickHouseStore]]) -> None:
        self._fresh_store = fresh_store
        self._databases: Iterator[ClickHouseStore] | None = None
        self._demo: SharedDemo | None = None
        self.last_user: str | None = None

    def open(self, folder: Path) -> SharedDemo:
        if self._demo is None:
            self._databases = self._fresh_store()
            store = next(self._databases)
            truth_path = folder / "ground_truth.json"
            with store.session("test shared demo") as session:
                summary = generate_demo(session, DAYS, RUNS_PER_DAY, SEED, end_date=DEMO_END,
                                        ground_truth_path=truth_path, now=PINNED_NOW)
            analyse(store, summary.first_day, summary.last_day)
            self._demo = SharedDemo(store, summary, json.loads(truth_path.read_text()))
        return self._demo

    def close(self) -> None:
        if self._databases is not None:
            next(self._databases, None)
            self._databases = None

    @staticmethod
    def grouped(items: list[pytest.Item]) -> list[pytest.Item]:
        """The items with every module that uses the shared demo moved up to the first such
        module, keeping the order within and between modules otherwise."""
        users = [item.path for item in items if SHARED_DEMO in item.fixturenames]
        if not users:
            return items
        user_modules = set(users)
        first = next(i for i, item in enumerate(items) if item.path in user_modules)
        together = [item for item in items if item.path in user_modules]
        rest = [item for item in items if item.path not in user_modules]
        return rest[:first] + together + rest[first:]
