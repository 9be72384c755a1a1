"""How a client reaches ClickHouse: its settings, the store URL's forms (and its secret kept
out of messages), and the errors every store use can raise."""

from __future__ import annotations

from urllib.parse import urlsplit

# A run over more than 100 days inserts that many daily partitions at once, which
# ClickHouse refuses by default (max_partitions_per_insert_block = 100; 0 = no limit).
# No JIT compilation: an embedded store's compiled code lives only as long as its session,
# so every stage paid 0.3-1 s of LLVM per big query again (half of a small day's run), for
# a few percent of CPU on a 200k-run backfill and nothing measurable on a new day.
CLIENT_SETTINGS = {
    "session_timezone": "UTC",
    "max_partitions_per_insert_block": 0,
    "compile_expressions": 0,
    "compile_aggregate_expressions": 0,
    "compile_sort_description": 0,
}
# chDB's message when another process has the store path open.
OPEN_ELSEWHERE = "Error initializing EmbeddedServer"


class StoreError(RuntimeError):
    """A store problem, with any secret of the URL removed from the message."""


class StoreBusyError(StoreError):
    """The embedded store stayed locked by another process past the timeout."""


def redact_url(url: str) -> str:
    """The URL with its password replaced, safe for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def url_secret(url: str) -> str | None:
    return urlsplit(url).password or None


def embedded_path(url: str) -> str | None:
    """The store directory of a `chdb://` URL, or None for a server URL."""
    if not url.startswith("chdb://"):
        return None
    path = url[len("chdb://") :]
    if not path.startswith("/"):
        raise StoreError(
            f"embedded store URL must be chdb:///absolute/path, got {url!r} "
            "(clickhouse-connect reads chdb://X/Y as store X and database Y)"
        )
    return path
