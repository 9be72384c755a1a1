"""Settings read from the environment (see contract.md), validated once."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

DEFAULT_SOURCE_DATABASE = "rvbbit"
DEFAULT_ANALYTICS_DATABASE = "rvbbit_analytics"
DEFAULT_PARTITIONS_START = "2025-01-01"
DEFAULT_LOCK_TIMEOUT_SECONDS = 300.0

# Database names are the only identifiers that reach SQL text; values are always bound.
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class ConfigError(ValueError):
    """A setting from the environment is unusable."""


def default_store_url() -> str:
    return "chdb://" + str((Path.cwd() / ".rvbbit" / "chdb").resolve())


def checked_identifier(name: str, what: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ConfigError(f"{what} must be a plain ClickHouse identifier, got {name!r}")
    return name


def env_float(name: str, default: float, minimum: float = 0.0, maximum: float = 1e9) -> float:
    """A numeric setting from the environment, checked against its range."""
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {text!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name} must be between {minimum:g} and {maximum:g}, got {text!r}")
    return value


def cluster_from_env() -> str | None:
    name = os.environ.get("RVBBIT_CLICKHOUSE_CLUSTER")
    return checked_identifier(name, "RVBBIT_CLICKHOUSE_CLUSTER") if name else None


@dataclass(frozen=True)
class Settings:
    store_url: str
    source_database: str
    analytics_database: str
    partitions_start: date
    lock_timeout_seconds: float
    # None: single server or embedded. A name: DDL runs ON CLUSTER with Replicated engines
    # (rvbbit_assets/cluster.py, docs/deploy.md).
    cluster: str | None

    @classmethod
    def from_env(cls) -> Settings:
        start_text = os.environ.get("RVBBIT_PARTITIONS_START") or DEFAULT_PARTITIONS_START
        try:
            start = date.fromisoformat(start_text)
        except ValueError as exc:
            raise ConfigError(
                f"RVBBIT_PARTITIONS_START must be YYYY-MM-DD, got {start_text!r}"
            ) from exc
        return cls(
            store_url=os.environ.get("RVBBIT_CLICKHOUSE_URL") or default_store_url(),
            source_database=checked_identifier(
                os.environ.get("RVBBIT_SOURCE_DATABASE") or DEFAULT_SOURCE_DATABASE,
                "RVBBIT_SOURCE_DATABASE",
            ),
            analytics_database=checked_identifier(
                os.environ.get("RVBBIT_ANALYTICS_DATABASE") or DEFAULT_ANALYTICS_DATABASE,
                "RVBBIT_ANALYTICS_DATABASE",
            ),
            partitions_start=start,
            lock_timeout_seconds=float(
                os.environ.get("RVBBIT_STORE_LOCK_TIMEOUT") or DEFAULT_LOCK_TIMEOUT_SECONDS
            ),
            cluster=cluster_from_env(),
        )
