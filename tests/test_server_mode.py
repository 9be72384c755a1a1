"""The whole pipeline against a ClickHouse server (RVBBIT_TEST_CLICKHOUSE_URL), and on chDB.

Set RVBBIT_TEST_CLICKHOUSE_URL=http(s)://user:password@host:port to run it; with
RVBBIT_CLICKHOUSE_CLUSTER set as well it runs in cluster mode on that cluster. It creates a
fresh, uniquely named pair of databases and drops them afterwards. The same seeded demo is
analysed on this process's embedded store too, and both must analyse the same runs.
"""

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
from dagster import DagsterInstance
from pinned_dates import DEMO_END, PINNED_NOW, keep_pinned_rows

from rvbbit_assets.cli.materialize import MaterializeOutcome, materialize_days
from rvbbit_assets.demo import generate_demo
from rvbbit_assets.store import ClickHouseStore
from rvbbit_assets.store.cluster_ddl import cluster_ddl
from rvbbit_assets.store.migrations import apply_migrations

SERVER_URL = os.environ.get("RVBBIT_TEST_CLICKHOUSE_URL")

pytestmark = pytest.mark.skipif(
    not SERVER_URL,
    reason="RVBBIT_TEST_CLICKHOUSE_URL is not set: no ClickHouse server to test against "
    "(none is installable here; the same SQL is tested on ClickHouse 26.9 through chDB)",
)

# Pinned dates (pinned_dates.py, which says how RVBBIT's one-year TTL is kept off them).
END_DAY = DEMO_END


@pytest.fixture
def server_store() -> Iterator[ClickHouseStore]:
    """A ClickHouseStore on the server with fresh databases, dropped afterwards."""
    name = f"rvbbit_test_{uuid.uuid4().hex[:12]}"
    store = ClickHouseStore(
        url=SERVER_URL, source_database=f"{name}_src", analytics_database=f"{name}_an"
    )
    try:
        yield store
    finally:
        with store.session("test teardown") as session:
            for database in ("${source}", "${analytics}"):
                session.command(
                    cluster_ddl(f"DROP DATABASE IF EXISTS {database} SYNC", session.cluster)
                )


def _run_pipeline(store: ClickHouseStore) -> tuple[MaterializeOutcome, set[str]]:
    with store.session("test init and demo") as session:
        apply_migrations(session, with_source=True)
        assert apply_migrations(session, with_source=True) == []  # a rerun applies nothing
        keep_pinned_rows(session)
        generate_demo(session, days=3, sessions_per_day=40, seed=11, end_date=END_DAY,
                      now=PINNED_NOW)
    outcome = materialize_days(store=store, instance=DagsterInstance.ephemeral())
    assert outcome.success, outcome.summary()
    with store.session("test read") as session:
        (rows, distinct), = session.rows(
            "SELECT count(), uniqExact(session_id) FROM ${analytics}.cascade_analytics"
        )
        analysed = {sid for (sid,) in session.rows(
            "SELECT session_id FROM ${analytics}.cascade_analytics"
        )}
    assert rows == distinct == outcome.analysed_runs > 0
    return outcome, analysed


def test_the_pipeline_runs_on_the_server_as_on_chdb(server_store, store):
    on_server, server_sessions = _run_pipeline(server_store)
    assert on_server.days is not None and on_server.days.last == END_DAY
    again = materialize_days(store=server_store, instance=DagsterInstance.ephemeral())
    assert again.success and again.analysed_runs == on_server.analysed_runs  # no duplicates

    embedded, embedded_sessions = _run_pipeline(store)
    assert server_sessions == embedded_sessions
    # The flags agree exactly; the cost sum may differ in its last bits (summation order).
    assert replace(on_server.figures, total_cost=0.0) == replace(embedded.figures, total_cost=0.0)
    assert on_server.figures.total_cost == pytest.approx(embedded.figures.total_cost)
