"""How a request reads the store: a short session, given up after the API's short wait."""

from __future__ import annotations

import os
from contextlib import AbstractContextManager

from rvbbit_assets.store import ClickHouseStore, StoreSession

# How long a request waits for the embedded store before answering 503.
DEFAULT_STORE_WAIT_SECONDS = 5.0


def store_wait_seconds() -> float:
    return float(os.environ.get("RVBBIT_API_STORE_WAIT_SECONDS") or DEFAULT_STORE_WAIT_SECONDS)


def read_session(store: ClickHouseStore, purpose: str) -> AbstractContextManager[StoreSession]:
    """The store for a short read; StoreBusyError (503) after the API's short wait."""
    return store.session(f"api {purpose}", timeout=store_wait_seconds())
