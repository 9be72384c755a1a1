"""The embedded store's process lock.

chDB lets one process open a store path at a time, while Dagster runs sensors, run workers
and the webserver in separate processes. So every use of an embedded store holds an
exclusive `flock` on `<store path>.lock` for just the work (the file names the holder),
waits up to a bounded timeout, and then fails with StoreBusyError naming the store and the
holder. Scripts and tests that open the store take the same lock (ClickHouseStore.session).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from rvbbit_assets.store.connection import (
    CLIENT_SETTINGS,
    OPEN_ELSEWHERE,
    StoreBusyError,
    StoreError,
)


class EmbeddedLock:
    """Cross-process exclusive lock on an embedded store, re-entrant within a process."""

    _guard = threading.RLock()
    _depth = 0
    _fd: int | None = None
    _client: Client | None = None
    _opened_path: str | None = None

    @classmethod
    @contextmanager
    def hold(cls, path: str, url: str, timeout: float, purpose: str) -> Iterator[Client]:
        deadline = time.monotonic() + timeout
        if not cls._guard.acquire(timeout=max(timeout, 0.0)):
            raise StoreBusyError(
                f"embedded store {path} is busy in this process (waited {timeout:.0f}s)"
            )
        try:
            if cls._depth == 0:
                cls._open(path, url, deadline, timeout, purpose)
            cls._depth += 1
            try:
                assert cls._client is not None
                yield cls._client
            finally:
                cls._depth -= 1
                if cls._depth == 0:
                    cls._close()
        finally:
            cls._guard.release()

    @classmethod
    def _open(cls, path: str, url: str, deadline: float, timeout: float, purpose: str) -> None:
        if cls._opened_path not in (None, path):
            raise StoreError(
                f"this process already used the embedded store {cls._opened_path}; "
                f"chDB allows one store path per process, so {path} cannot be opened here"
            )
        os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
        fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        waited_for = ""
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited_for = os.pread(fd, 512, 0).decode(errors="replace").strip()
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise StoreBusyError(
                        f"embedded store {path} is busy: held by "
                        f"{waited_for or 'another process'}; process {os.getpid()} "
                        f"({purpose}) waited {timeout:.0f}s and gave up"
                    ) from None
                time.sleep(0.05)
        holder = f"pid {os.getpid()} ({purpose}) since {time.strftime('%H:%M:%S')}"
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
        try:
            cls._client = clickhouse_connect.get_client(dsn=url, settings=CLIENT_SETTINGS)
        except Exception as exc:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            if OPEN_ELSEWHERE in str(exc):
                # A client that does not take the lock has the store open: busy, not broken.
                raise StoreBusyError(
                    f"embedded store {path} is busy: open in a process that does not take "
                    f"{path}.lock; process {os.getpid()} ({purpose}) could not open it"
                ) from exc
            raise StoreError(f"cannot open embedded store {path}: {exc}") from exc
        cls._fd = fd
        cls._opened_path = path

    @classmethod
    def _close(cls) -> None:
        try:
            if cls._client is not None:
                cls._client.close()
        finally:
            cls._client = None
            if cls._fd is not None:
                os.ftruncate(cls._fd, 0)
                fcntl.flock(cls._fd, fcntl.LOCK_UN)
                os.close(cls._fd)
                cls._fd = None
