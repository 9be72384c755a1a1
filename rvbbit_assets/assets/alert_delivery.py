"""Webhook delivery of alerts: JSON POSTs with bounded retries and exponential backoff.

Standard library only (urllib). The webhook URL is a secret (Slack puts its token in the
path): it never reaches logs, metadata or stored errors in full, only `redact_webhook(url)`.

Configuration (environment):
- `RVBBIT_ALERT_WEBHOOK_URL`: where alerts go; unset means alerts are recorded, not sent.
  A URL on hooks.slack.com gets a Slack body `{"text": ...}`; any other URL gets the
  alert's fields as JSON (with the same `text`, which Slack-compatible services show).
- `RVBBIT_ALERT_SEND_WINDOW_HOURS` (24): only runs that finished this recently are sent;
  older ones (a backfill of history) are recorded `not_sent_too_old` and never sent.
- `RVBBIT_ALERT_MAX_ATTEMPTS` (4), `RVBBIT_ALERT_RETRY_BASE_SECONDS` (1.0; the waits are
  base, 2*base, 4*base ... capped at 30 s), `RVBBIT_ALERT_TIMEOUT_SECONDS` (10, per request).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from rvbbit_assets.config import Settings

SLACK_HOST = "hooks.slack.com"
MAX_BACKOFF_SECONDS = 30.0
# Statuses that a later attempt may change; the others are final.
RETRYABLE_HTTP_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class DeliverySettings:
    webhook_url: str | None = field(repr=False)  # a secret: never in a repr or a log
    send_window: timedelta = timedelta(hours=24)
    max_attempts: int = 4
    retry_base_seconds: float = 1.0
    timeout_seconds: float = 10.0

    @classmethod
    def of(cls, settings: Settings) -> DeliverySettings:
        return cls(
            webhook_url=settings.alert_webhook_url,
            send_window=timedelta(hours=settings.alert_send_window_hours),
            max_attempts=settings.alert_max_attempts,
            retry_base_seconds=settings.alert_retry_base_seconds,
            timeout_seconds=settings.alert_timeout_seconds,
        )

    @property
    def destination(self) -> str:
        return redact_webhook(self.webhook_url) if self.webhook_url else ""


def redact_webhook(url: str) -> str:
    """Scheme, host and port only: the path and query of a webhook carry its token."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable webhook URL>"
    suffix = "/***" if (parts.path not in ("", "/") or parts.query) else ""
    return f"{parts.scheme}://{host}{port}{suffix}"


def scrub(text: str, url: str) -> str:
    """`text` without the URL or its secret parts (for errors that may quote the request)."""
    parts = urlsplit(url)
    for secret in (url, parts.path if len(parts.path) > 1 else "", parts.query,
                   parts.password or ""):
        if secret:
            text = text.replace(secret, "***")
    return text[:500]


@dataclass(frozen=True)
class Alert:
    session_id: str
    alert_type: str
    cascade_id: str
    created_at: datetime
    severity: str
    message: str
    metric: float

    def text(self) -> str:
        return (
            f"[{self.severity}] {self.cascade_id}: {self.message} "
            f"(session {self.session_id}, {self.alert_type})"
        )


def payload_for(url: str, alert: Alert) -> dict[str, Any]:
    """The JSON body: Slack's `{"text": ...}` for a Slack webhook, the alert otherwise."""
    if (urlsplit(url).hostname or "").lower() == SLACK_HOST:
        return {"text": alert.text()}
    return {
        # The design's alert dict, plus context and a ready-made line of text.
        "type": alert.alert_type,
        "severity": alert.severity,
        "message": alert.message,
        "session_id": alert.session_id,
        "cascade_id": alert.cascade_id,
        "created_at": alert.created_at.isoformat() + "Z",
        "metric": alert.metric,
        "text": alert.text(),
    }


@dataclass(frozen=True)
class DeliveryResult:
    sent: bool
    attempts: int
    last_error: str = ""
    # The endpoint could not be reached at all (connection refused, DNS, timeout).
    unreachable: bool = False


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects is misconfigured; never re-send the body elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def post_json(url: str, body: Mapping[str, Any], timeout: float) -> int:
    """POST `body` as JSON; return the HTTP status (raises HTTPError for >= 300)."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "rvbbit-analytics"},
        method="POST",
    )
    with _OPENER.open(request, timeout=timeout) as response:
        response.read(65536)
        return int(response.status)


def deliver(
    url: str,
    alert: Alert,
    settings: DeliverySettings,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryResult:
    """Send one alert, retrying transient failures with exponential backoff."""
    if urlsplit(url).scheme not in ("http", "https"):
        return DeliveryResult(False, 0, "webhook URL must be http(s)")
    body = payload_for(url, alert)
    error = ""
    unreachable = False
    for attempt in range(1, settings.max_attempts + 1):
        retry_after = 0.0
        try:
            post_json(url, body, settings.timeout_seconds)
            return DeliveryResult(True, attempt)
        except urllib.error.HTTPError as exc:
            unreachable = False
            error = f"HTTP {exc.code}"
            if exc.code not in RETRYABLE_HTTP_STATUSES:
                return DeliveryResult(False, attempt, scrub(f"{error} (not retried)", url))
            retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            unreachable = True
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            error = f"unreachable: {reason}"
        except Exception as exc:  # a malformed response, a bad URL: never fail the pipeline
            unreachable = False
            error = f"{type(exc).__name__}: {exc}"
        if attempt < settings.max_attempts:
            backoff = settings.retry_base_seconds * 2 ** (attempt - 1)
            sleep(min(max(backoff, retry_after), MAX_BACKOFF_SECONDS))
    return DeliveryResult(False, settings.max_attempts, scrub(error, url), unreachable)


def _retry_after(value: str | None) -> float:
    try:
        return float(value) if value else 0.0
    except ValueError:
        return 0.0
