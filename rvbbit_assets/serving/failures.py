"""What a failed request means to its client, for the JSON API and the page alike."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from rvbbit_assets.serving.views import BadRequest
from rvbbit_assets.store import StoreBusyError, StoreError

log = logging.getLogger("rvbbit_assets.serving")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Failure:
    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


# Anything unexpected: the details only in the server log.
INTERNAL_ERROR = Failure(500, "internal_error", "internal server error")


def failure_for(exc: Exception) -> Failure | None:
    """The answer to an expected failure (a bad request, an unknown id, a busy or unavailable
    store), or None for an unexpected one."""
    if isinstance(exc, BadRequest):
        return Failure(400, "bad_request", str(exc))
    if isinstance(exc, ApiError):
        return Failure(exc.status, exc.code, exc.message)
    if isinstance(exc, StoreBusyError):
        log.warning("store busy: %s", exc)
        return Failure(503, "store_busy",
                       "the analytics store is busy with a pipeline run; retry in a few seconds",
                       {"Retry-After": "5"})
    if isinstance(exc, StoreError):
        log.error("store unavailable: %s", exc)
        return Failure(503, "store_unavailable", "the analytics store is unavailable")
    return None
