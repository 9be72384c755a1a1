"""How a request reads the store: a short session, given up after the API's short wait."""

from __future__ import annotations

from contextlib import AbstractContextManager

from rvbbit_assets.store import ClickHouseStore, StoreSession


def read_session(store: ClickHouseStore, purpose: str) -> AbstractContextManager[StoreSession]:
    """The store for a short read; StoreBusyError (503) after the API's short wait
    (RVBBIT_API_STORE_WAIT_SECONDS)."""
    return store.session(f"api {purpose}", timeout=store.settings().api_store_wait_seconds)
