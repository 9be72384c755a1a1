"""The pinned histories outlive RVBBIT's one-year TTL (pinned_dates.py says how)."""

import time
from datetime import timedelta

import pytest
from runs import Run, llm, write_runs

from rvbbit_assets.orchestration.day_range import utc_now

pytestmark = pytest.mark.store_open_for_the_test

OLD_RUNS = 8  # one insert, hence one part, each: more than enough for merges to start


def _log_rows(store) -> int:
    with store.session("test read") as session:
        return session.scalar("SELECT count() FROM ${source}.unified_logs")


def test_rows_older_than_the_ttl_stay_in_the_test_source(store):
    # Two years old: expired under `TTL timestamp + 1 year`, as the pinned dates will be.
    expired = utc_now().replace(microsecond=0) - timedelta(days=730)
    for number in range(OLD_RUNS):
        with store.session("test data") as session:
            write_runs(session, [Run(f"old-{number}", "c", expired, [llm(0.1)])])
    time.sleep(1.5)  # ClickHouse starts TTL and ordinary merges within milliseconds
    assert _log_rows(store) == OLD_RUNS * 2  # each: its response row and its completion row
    with store.session("test read") as session:
        ttl = session.scalar(
            "SELECT engine_full FROM system.tables WHERE database = {db:String}"
            " AND name = 'unified_logs'", {"db": store.source_database})
    assert "TTL toDateTime(timestamp) + toIntervalYear(1)" in ttl  # RVBBIT's, unchanged
