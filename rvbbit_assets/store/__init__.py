"""The ClickHouse store: the resource, the embedded store's process lock, migrations and
cluster DDL, table writes, and the schema checks. Its public names are here.

Every process that opens an embedded (`chdb://`) store, tests and helper scripts included,
holds the `flock` on `<store path>.lock` for just the work (embedded_lock.py); busy means
wait and retry (StoreBusyError after the timeout), never fail and forget.
"""

from rvbbit_assets.store.connection import (
    CLIENT_SETTINGS,
    StoreBusyError,
    StoreError,
    embedded_path,
    redact_url,
)
from rvbbit_assets.store.resource import ClickHouseStore, StoreSession, render_sql

__all__ = [
    "CLIENT_SETTINGS",
    "ClickHouseStore",
    "StoreBusyError",
    "StoreError",
    "StoreSession",
    "embedded_path",
    "redact_url",
    "render_sql",
]
