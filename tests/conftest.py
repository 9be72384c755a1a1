"""Shared fixtures: one real embedded store per pytest process, one pair of databases per test.

chDB opens one store path per process, so every test of this process shares one store
directory and isolates itself with its own source and analytics databases.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

STORE_ROOT = Path(tempfile.mkdtemp(prefix="rvbbit-test-"))
os.environ["RVBBIT_CLICKHOUSE_URL"] = "chdb://" + str(STORE_ROOT / "chdb")
os.environ.setdefault("RVBBIT_STORE_LOCK_TIMEOUT", "120")
# `make test` exports the project's DAGSTER_HOME; tests make their own instances, and the CLI
# they start must not write runs into the developer's instance.
os.environ.pop("DAGSTER_HOME", None)

from anyio_preload import import_anyio_modules  # noqa: E402
from pinned_dates import migrate_test_databases  # noqa: E402
from shared_demo import SHARED_DEMO, SharedDemo, SharedDemoLifetime  # noqa: E402

from rvbbit_assets import store as store_module  # noqa: E402
from rvbbit_assets.store import ClickHouseStore  # noqa: E402

# Two test workers share two cores: a query's second thread only adds CPU on the tests'
# small tables (14% of a tiny day's run), so each test process queries on one thread.
store_module.CLIENT_SETTINGS["max_threads"] = 1

import_anyio_modules()  # before any test starts a server thread (anyio_preload.py says why)

_database_numbers = itertools.count(1)


def _fresh_store() -> Iterator[ClickHouseStore]:
    number = next(_database_numbers)
    store = ClickHouseStore(
        source_database=f"src_{os.getpid()}_{number}",
        analytics_database=f"an_{os.getpid()}_{number}",
    )
    with store.session("test setup") as session:
        migrate_test_databases(session)
    yield store
    with store.session("test teardown") as session:
        session.command("DROP DATABASE IF EXISTS ${source} SYNC")
        session.command("DROP DATABASE IF EXISTS ${analytics} SYNC")


@pytest.fixture
def store() -> Iterator[ClickHouseStore]:
    """A store with fresh, migrated source and analytics databases for this test."""
    yield from _fresh_store()


@pytest.fixture
def twin_store() -> Iterator[ClickHouseStore]:
    """A second pair of databases in the same chDB store (one store path per process)."""
    yield from _fresh_store()


@pytest.fixture(scope="module")
def module_store() -> Iterator[ClickHouseStore]:
    """Like `store`, shared by the tests of one module (for data analysed once)."""
    yield from _fresh_store()


_shared_demo = SharedDemoLifetime(_fresh_store)

# Opening chDB loads every table of the store: 0.1-0.2 s, a third of an in-process test's
# time when each of its sessions and steps opened it again.
ONE_OPEN = "store_open_for_the_test"
STORE_FIXTURES = {"store", "twin_store", "module_store", SHARED_DEMO}


@pytest.fixture(autouse=True)
def _store_open_for_the_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """For modules marked `store_open_for_the_test`: the store stays open from the test's
    setup to its teardown (if it uses the store), so its sessions share one engine, as the
    CLI's steps do. Such a test never hands the store to another process or thread: they
    would wait for it."""
    marker = request.node.get_closest_marker(ONE_OPEN)
    # A test of such a module that serves from a thread says `store_open_for_the_test(False)`.
    if marker is None or marker.args == (False,) or not (
            STORE_FIXTURES & set(request.fixturenames)):
        yield
        return
    with ClickHouseStore().session(f"test {request.node.name}"):
        yield


@pytest.fixture(scope="session")
def shared_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedDemo]:
    """The `demo` command's load (pinned dates), analysed once; read-only for its users."""
    yield _shared_demo.open(tmp_path_factory.mktemp("shared_demo"))
    _shared_demo.close()


# tryfirst: xdist's own hook (loadgroup) reads the groups' marks, so they must be on first.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Modules with slow tests first: each is one worker's for a minute or more, so started
    # last they would leave the other worker idle at the end (sorted() is stable).
    slow_modules = {item.path for item in items if item.get_closest_marker("slow")}
    items[:] = sorted(SharedDemoLifetime.grouped(items),
                      key=lambda item: item.path not in slow_modules)
    # Under `pytest -n 2 --dist loadgroup` (make test) each group runs in one worker, in
    # order: a module keeps its module fixtures, and the shared demo is built once.
    demo_modules = {item.path for item in items if SHARED_DEMO in item.fixturenames}
    for item in items:
        group = SHARED_DEMO if item.path in demo_modules else item.path.name
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(optionalhook=True)  # xdist's hook: absent with -p no:xdist
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    # xdist marks a test's group in its id; without the marks a module's tests ran in both
    # workers, each building the module's fixtures (see pytest's pin in pyproject.toml).
    if node.config.getoption("dist") == "loadgroup" and any("@" not in i for i in ids):
        pytest.exit("xdist's loadgroup left tests without their group", returncode=4)


def pytest_collection_finish(session: pytest.Session) -> None:
    _shared_demo.last_user = next(
        (item.nodeid for item in reversed(session.items) if SHARED_DEMO in item.fixturenames),
        None,
    )


@pytest.hookimpl(trylast=True)  # after the item's own fixtures are torn down
def pytest_runtest_teardown(item: pytest.Item) -> None:
    if item.nodeid == _shared_demo.last_user:
        _shared_demo.close()


def pytest_unconfigure(config: pytest.Config) -> None:
    # The store directory is this process's own (each xdist worker has one): it goes with it.
    shutil.rmtree(STORE_ROOT, ignore_errors=True)
