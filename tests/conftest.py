"""Shared fixtures: one real embedded store per pytest process, one pair of databases per test.

chDB opens one store path per process, so every test of this process shares one store
directory and isolates itself with its own source and analytics databases.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

STORE_ROOT = Path(tempfile.mkdtemp(prefix="rvbbit-test-"))
os.environ["RVBBIT_CLICKHOUSE_URL"] = "chdb://" + str(STORE_ROOT / "chdb")
os.environ.setdefault("RVBBIT_STORE_LOCK_TIMEOUT", "120")

from rvbbit_assets.schema import apply_migrations  # noqa: E402
from rvbbit_assets.store import ClickHouseStore  # noqa: E402

_database_numbers = itertools.count(1)


def _fresh_store() -> Iterator[ClickHouseStore]:
    number = next(_database_numbers)
    store = ClickHouseStore(
        source_database=f"src_{os.getpid()}_{number}",
        analytics_database=f"an_{os.getpid()}_{number}",
    )
    with store.session("test setup") as session:
        apply_migrations(session, with_source=True)
    yield store
    with store.session("test teardown") as session:
        session.command("DROP DATABASE IF EXISTS ${source} SYNC")
        session.command("DROP DATABASE IF EXISTS ${analytics} SYNC")


@pytest.fixture
def store() -> Iterator[ClickHouseStore]:
    """A store with fresh, migrated source and analytics databases for this test."""
    yield from _fresh_store()


@pytest.fixture(scope="module")
def module_store() -> Iterator[ClickHouseStore]:
    """Like `store`, shared by the tests of one module (for data analysed once)."""
    yield from _fresh_store()

