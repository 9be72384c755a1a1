"""Fixed dates for generated histories: the same rows and figures whatever day the suite runs.

Every hand-made history (analyse.day / analyse.at) and every demo load lies in November
2026, before PINNED_NOW, which is passed to generate_demo as its clock. The analysis of such
a history reads the real clock only where the answer cannot depend on it for past data
(abandoned runs, the forecast origin, alerts too old to send), so its results are fixed.

Why this keeps working for years, and not until the rows turn a year old:
- generate_demo refuses a load whose first day is over 360 days before its `now`: it gets
  PINNED_NOW, never the real clock.
- unified_logs keeps RVBBIT's `TTL timestamp + 1 year` (the source schema stays exactly as
  RVBBIT writes it). ClickHouse applies a TTL in every merge of a part with expired rows,
  not only in TTL merges, so stopping TTL merges alone is not enough; `keep_pinned_rows`
  stops merging the test source's unified_logs altogether (a persistent table setting: every
  process that opens the store, a Dagster run or a CLI subprocess too, honours it; SYSTEM
  STOP MERGES would last only until chDB reopens the store). A test database holds a few
  parts, so unmerged reads cost nothing noticeable. An explicit OPTIMIZE still merges and
  applies the TTL: a test that optimizes unified_logs must write rows newer than a year
  (dates relative to a clock it passes in, as the sensor tests do).
Dates in the future (so that the TTL could not bite for years) would need a clock passed to
every stage that compares data with "now", and they are not what RVBBIT writes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from rvbbit_assets.store import StoreSession
from rvbbit_assets.store.cluster_ddl import cluster_ddl
from rvbbit_assets.store.migrations import apply_migrations

PINNED_NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DEMO_END = date(2026, 11, 29)  # a demo load ends the day before PINNED_NOW, complete
BASE_DAY = date(2026, 11, 2)  # day 0 of hand-made histories (a Monday); they use days 0..27

_NO_MERGES = (
    "ALTER TABLE ${source}.unified_logs MODIFY SETTING max_number_of_merges_with_ttl_in_pool"
    " = 0, max_bytes_to_merge_at_max_space_in_pool = 1, max_bytes_to_merge_at_min_space_in_pool"
    " = 1"
)


def keep_pinned_rows(session: StoreSession) -> None:
    """Stop background merges of this test source's unified_logs (see the module docstring)."""
    session.command(cluster_ddl(_NO_MERGES, session.cluster))


def migrate_test_databases(session: StoreSession) -> None:
    """The session's source and analytics databases, migrated, ready for pinned histories."""
    apply_migrations(session, with_source=True)
    keep_pinned_rows(session)


def demo_first_day(days: int, end: date = DEMO_END) -> date:
    return end - timedelta(days=days - 1)
