"""The embedded store's process lock.

chDB lets one process open a store path at a time, while Dagster runs sensors, run workers
and the webserver in separate processes. So every use of an embedded store holds an
exclusive `flock` on `<store path>.lock` (the file names the holder), waits up to a bounded
timeout, and then fails with StoreBusyError naming the store and the holder. Scripts and
tests that open the store take the same lock (ClickHouseStore.session).

Opening the engine costs more as the store grows (0.7 s at a million runs: chDB loads every
table), and a Dagster run's steps each take a session of their own. So when its last session
ends, a process keeps the engine open for up to IDLE_SECONDS, unless another process is
waiting: a waiter holds `<store path>.waiting` shared while it waits, and a watcher thread
closes the idle engine as soon as it sees one. Steps back to back then share one open, and
another process still gets the store between them when it asks. A process that takes the
lock by hand (not through this class) should hold the waiting file too (`waiting_for`), or
it waits for the idle time to run out.
"""

from __future__ import annotations

import atexit
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

# How long a process keeps the engine open after its last session, when nobody waits: longer
# than the gap between a run's steps (Dagster writes the step's events in between).
IDLE_SECONDS = 2.0
_WATCH_SECONDS = 0.05  # how often the watcher looks for a waiting process


@contextmanager
def waiting_for(path: str) -> Iterator[None]:
    """Say, while the block runs, that this process waits for the store at `path`: a
    process keeping it open while idle closes it then."""
    fd = os.open(path + ".waiting", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the shared lock


def _someone_waits(fd: int) -> bool:
    """Whether another process holds the waiting file (`fd` is this process's own)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


class EmbeddedLock:
    """Cross-process exclusive lock on an embedded store, re-entrant within a process."""

    _guard = threading.RLock()
    _depth = 0
    _fd: int | None = None
    _waiting_fd: int | None = None
    _client: Client | None = None
    _opened_path: str | None = None
    _idle_since = 0.0
    _watcher: threading.Thread | None = None

    @classmethod
    @contextmanager
    def hold(cls, path: str, url: str, timeout: float, purpose: str) -> Iterator[Client]:
        deadline = time.monotonic() + timeout
        if not cls._guard.acquire(timeout=max(timeout, 0.0)):
            raise StoreBusyError(
                f"embedded store {path} is busy in this process (waited {timeout:.0f}s)"
            )
        try:
            if cls._client is None:
                cls._open(path, url, deadline, timeout, purpose)
            elif cls._opened_path != path:
                cls._close()  # idle on another path: let _open say what chDB allows
                cls._open(path, url, deadline, timeout, purpose)
            cls._depth += 1
            try:
                assert cls._client is not None
                yield cls._client
            finally:
                cls._depth -= 1
                if cls._depth == 0:
                    cls._idle()
        finally:
            cls._guard.release()

    @classmethod
    def _idle(cls) -> None:
        """The last session ended: close now if another process waits, else keep the engine
        open for the watcher to close."""
        assert cls._waiting_fd is not None
        if IDLE_SECONDS <= 0 or _someone_waits(cls._waiting_fd):
            cls._close()
            return
        cls._idle_since = time.monotonic()
        if cls._watcher is None:
            cls._watcher = threading.Thread(target=cls._watch, name="store idle watcher",
                                            daemon=True)
            cls._watcher.start()

    @classmethod
    def _watch(cls) -> None:
        """Close the idle engine when a process waits for it or the idle time is over."""
        while True:
            time.sleep(_WATCH_SECONDS)
            if not cls._guard.acquire(blocking=False):
                continue  # a session is starting or running here
            try:
                if cls._client is not None and cls._depth == 0 and (
                        time.monotonic() - cls._idle_since >= IDLE_SECONDS
                        or _someone_waits(cls._waiting_fd)):
                    cls._close()
                if cls._client is None:
                    cls._watcher = None  # under the guard: the next idle starts another
                    return
            finally:
                cls._guard.release()

    @classmethod
    def close_idle(cls) -> None:
        """Close the engine if this process keeps it open while idle (at exit, say)."""
        with cls._guard:
            if cls._depth == 0 and cls._client is not None:
                cls._close()

    @classmethod
    def _open(cls, path: str, url: str, deadline: float, timeout: float, purpose: str) -> None:
        if cls._opened_path not in (None, path):
            raise StoreError(
                f"this process already used the embedded store {cls._opened_path}; "
                f"chDB allows one store path per process, so {path} cannot be opened here"
            )
        os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
        fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            with waiting_for(path):
                cls._wait_for_lock(fd, path, deadline, timeout, purpose)
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
        if cls._waiting_fd is None:
            cls._waiting_fd = os.open(path + ".waiting", os.O_RDWR | os.O_CREAT, 0o644)

    @staticmethod
    def _wait_for_lock(fd: int, path: str, deadline: float, timeout: float,
                       purpose: str) -> None:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
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


atexit.register(EmbeddedLock.close_idle)
