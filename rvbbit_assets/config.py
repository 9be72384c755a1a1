"""Every setting the product reads from the environment, validated in one place.

`VARIABLES` is the catalogue (README and docs/deploy.md list the same rows): each entry
names its variable, its default and its range, and `Settings.from_env()` reads them all
at once, with a `ConfigError` naming the variable for a value out of range. Code reads a
`Settings`: asset code from its store session (`session.settings`), the rest from the
store resource (`store.settings()`). DAGSTER_HOME, TERM and the launcher's own
environment (cli/local_stack.py) are not settings of the product and stay where they are.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any

# Database names are the only identifiers that reach SQL text; values are always bound.
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MIN_TOKEN_LENGTH = 16
_TOKEN = re.compile(r"[!-~]+")  # visible ASCII: what an Authorization header carries whole


class ConfigError(ValueError):
    """A setting from the environment is unusable."""


def default_store_url() -> str:
    return "chdb://" + str((Path.cwd() / ".rvbbit" / "chdb").resolve())


def checked_identifier(name: str, what: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ConfigError(f"{what} must be a plain ClickHouse identifier, got {name!r}")
    return name


@dataclass(frozen=True)
class Variable:
    """One environment variable: how its text becomes a value, and the value when unset."""

    name: str
    field: str  # the Settings attribute it fills
    kind: str  # "number", "whole number", "identifier", "date", "text", "token"
    default: Any
    minimum: float | None = None
    maximum: float | None = None

    def parse(self, text: str) -> Any:
        return _PARSERS[self.kind](self, text)

    def read(self, environ: Mapping[str, str] | None = None) -> Any:
        text = (os.environ if environ is None else environ).get(self.name)
        if not text:
            return self.default() if callable(self.default) else self.default
        return self.parse(text)

    def accepted(self) -> str:
        if self.kind == "identifier":
            return "a plain ClickHouse identifier"
        if self.kind == "date":
            return "a date YYYY-MM-DD"
        if self.minimum is None or self.maximum is None:
            return "text"
        return f"a {self.kind} from {_shown(self.minimum)} to {_shown(self.maximum)}"

    def error(self, text: str) -> ConfigError:
        return ConfigError(f"{self.name} must be {self.accepted()}, got {text!r}")


def _shown(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def _number(variable: Variable, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise variable.error(text) from None
    assert variable.minimum is not None and variable.maximum is not None
    if not variable.minimum <= value <= variable.maximum:  # NaN fails this too
        raise variable.error(text)
    return value


def _whole_number(variable: Variable, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise variable.error(text) from None
    _number(variable, str(value))
    return value


def _identifier(variable: Variable, text: str) -> str:
    if not _IDENTIFIER.match(text):
        raise variable.error(text)
    return text


def _token(variable: Variable, text: str) -> str:
    if len(text) < MIN_TOKEN_LENGTH or not _TOKEN.fullmatch(text):
        # A secret: the message never shows the value.
        raise ConfigError(
            f"{variable.name} must be at least {MIN_TOKEN_LENGTH} visible ASCII characters"
            " without spaces, e.g. from `openssl rand -hex 32`"
        )
    return text


def _date(variable: Variable, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise variable.error(text) from None


_PARSERS: dict[str, Callable[[Variable, str], Any]] = {
    "number": _number,
    "whole number": _whole_number,
    "identifier": _identifier,
    "date": _date,
    "text": lambda _variable, text: text,
    "token": _token,
}


def _variable(name: str, kind: str, default: Any, minimum: float | None = None,
               maximum: float | None = None, field: str | None = None) -> Variable:
    return Variable(name, field or name.removeprefix("RVBBIT_").lower(), kind, default,
                    minimum, maximum)


VARIABLES: tuple[Variable, ...] = (
    # The store (README "Settings", docs/deploy.md).
    _variable("RVBBIT_CLICKHOUSE_URL", "text", default_store_url, field="store_url"),
    _variable("RVBBIT_SOURCE_DATABASE", "identifier", "rvbbit"),
    _variable("RVBBIT_ANALYTICS_DATABASE", "identifier", "rvbbit_analytics"),
    _variable("RVBBIT_CLICKHOUSE_CLUSTER", "identifier", None, field="cluster"),
    _variable("RVBBIT_PARTITIONS_START", "date", date(2025, 1, 1)),
    _variable("RVBBIT_STORE_LOCK_TIMEOUT", "number", 300.0, 0, 86400,
              field="lock_timeout_seconds"),
    _variable("RVBBIT_STORE_BUSY_RETRIES", "whole number", 10, 0, 100),
    _variable("RVBBIT_STORE_BUSY_RETRY_SECONDS", "number", 10.0, 0, 3600),
    # Detection.
    _variable("RVBBIT_ABANDONED_AFTER_HOURS", "number", 6.0, 0, 8760),
    _variable("RVBBIT_ANOMALY_THRESHOLD", "number", 3.5, 0.5, 100),
    _variable("RVBBIT_DETECTION_LOOKBACK_DAYS", "whole number", 30, 1, 366),
    _variable("RVBBIT_DETECTION_MIN_PRIOR_RUNS", "whole number", 10, 2, 100),
    _variable("RVBBIT_REGRESSION_ALPHA", "number", 0.01, 1e-9, 0.5),
    _variable("RVBBIT_ERROR_OUTLIER_MIN_PRIOR_RUNS", "whole number", 20, 1, 1_000_000),
    # Alerts.
    _variable("RVBBIT_ALERT_WEBHOOK_URL", "text", None),
    _variable("RVBBIT_ALERT_MIN_IMPACT_USD", "number", 0.0, 0, 1e9),
    _variable("RVBBIT_ALERT_SEND_WINDOW_HOURS", "number", 24.0, 0, 1e9),
    _variable("RVBBIT_ALERT_MAX_ATTEMPTS", "whole number", 4, 1, 10),
    _variable("RVBBIT_ALERT_RETRY_BASE_SECONDS", "number", 1.0, 0, 3600),
    _variable("RVBBIT_ALERT_TIMEOUT_SECONDS", "number", 10.0, 0.01, 3600),
    # The sensor.
    _variable("RVBBIT_SENSOR_INTERVAL_SECONDS", "whole number", 15, 1, 3600),
    _variable("RVBBIT_SENSOR_SETTLE_SECONDS", "number", 20.0, 0, 3600),
    _variable("RVBBIT_SENSOR_RECENT_DAYS", "whole number", 2, 1, 365),
    _variable("RVBBIT_SENSOR_STORE_WAIT_SECONDS", "number", 5.0, 0, 300),
    _variable("RVBBIT_SENSOR_RETRY_SECONDS", "number", 30.0, 0, 3600),
    _variable("RVBBIT_SENSOR_RECONCILE_SECONDS", "number", 300.0, 0, 86400),
    # The API and the page (what the token guards: rvbbit_assets/serving/access.py).
    _variable("RVBBIT_API_STORE_WAIT_SECONDS", "number", 5.0, 0, 300),
    _variable("RVBBIT_API_TOKEN", "token", None),
)
BY_NAME = {variable.name: variable for variable in VARIABLES}


SECRETS = ("store_url", "alert_webhook_url", "api_token")  # never in a repr or a log


@dataclass(frozen=True)
class Settings:
    """The value of every variable in VARIABLES (its `field`: mostly the name without
    RVBBIT_, in lower case)."""

    store_url: str
    source_database: str
    analytics_database: str
    # None: single server or embedded. A name: DDL runs ON CLUSTER with Replicated engines
    # (rvbbit_assets/store/cluster_ddl.py, docs/deploy.md).
    cluster: str | None
    partitions_start: date
    lock_timeout_seconds: float
    store_busy_retries: int
    store_busy_retry_seconds: float
    abandoned_after_hours: float
    anomaly_threshold: float
    detection_lookback_days: int
    detection_min_prior_runs: int
    regression_alpha: float
    error_outlier_min_prior_runs: int
    alert_webhook_url: str | None
    alert_min_impact_usd: float
    alert_send_window_hours: float
    alert_max_attempts: int
    alert_retry_base_seconds: float
    alert_timeout_seconds: float
    sensor_interval_seconds: int
    sensor_settle_seconds: float
    sensor_recent_days: int
    sensor_store_wait_seconds: float
    sensor_retry_seconds: float
    sensor_reconcile_seconds: float
    api_store_wait_seconds: float
    api_token: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        return cls(**{variable.field: variable.read(environ) for variable in VARIABLES})

    def __repr__(self) -> str:
        shown = {f.name: getattr(self, f.name) for f in fields(self)
                 if f.name not in SECRETS}
        return f"Settings({shown})"


assert {f.name for f in fields(Settings)} == {v.field for v in VARIABLES}


def setting(name: str) -> Any:
    """One variable's checked value, for code that runs before any store or resource
    exists (a definition's interval, the partitions' start, a sensor cursor's backoff)."""
    return BY_NAME[name].read()
