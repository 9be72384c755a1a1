"""What every step that uses the store shares: one concurrency pool, and busy is not failure.

The pool: each such step claims a slot of the Dagster concurrency pool `rvbbit_store`,
whose limit the sensor and the CLI set to 1 on whatever instance they run on
(orchestration/run_exclusion.py). So steps of two runs never use the store at once, on a
ClickHouse server too, where there is no store lock to serialise them.

Busy: a step that finds the embedded store held past its wait (RVBBIT_STORE_LOCK_TIMEOUT),
or open in a process that does not take the lock, asks Dagster to run it again later, with
an exponential backoff, up to RVBBIT_STORE_BUSY_RETRIES times (10: waits of 10 s doubling
to 5 min, about half an hour between the first try and the last, beside the lock waits).
Every stage rewrites whole days atomically, so running a step again is safe. Any other
error fails the step at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dagster import AssetsDefinition, RetryRequested, asset

from rvbbit_assets.config import setting
from rvbbit_assets.orchestration.run_exclusion import STORE_POOL
from rvbbit_assets.store import StoreBusyError

MAX_BUSY_RETRY_SECONDS = 300.0


@dataclass(frozen=True)
class BusyRetries:
    retries: int = 10
    first_delay_seconds: float = 10.0

    @classmethod
    def from_env(cls) -> BusyRetries:
        return cls(
            retries=setting("RVBBIT_STORE_BUSY_RETRIES"),
            first_delay_seconds=setting("RVBBIT_STORE_BUSY_RETRY_SECONDS"),
        )

    def delay(self, retry_number: int) -> float:
        return min(self.first_delay_seconds * 2**retry_number, MAX_BUSY_RETRY_SECONDS)


def retry_when_store_busy(step: Callable[..., Any]) -> Callable[..., Any]:
    """The step body, asking Dagster for a later retry when the store is busy."""

    @functools.wraps(step)
    def run(context: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return step(context, *args, **kwargs)
        except StoreBusyError as exc:
            policy = BusyRetries.from_env()
            attempt = context.retry_number
            if attempt < policy.retries:
                wait = policy.delay(attempt)
                context.log.warning(
                    f"store busy, retry {attempt + 1} of {policy.retries} in {wait:.0f}s: {exc}"
                )
            else:
                wait = 0.0
            raise RetryRequested(max_retries=policy.retries, seconds_to_wait=wait) from exc

    return run


def store_asset(**kwargs: Any) -> Callable[[Callable[..., Any]], AssetsDefinition]:
    """`@asset` for an asset that reads or writes the store: its pool and busy retries."""

    def decorate(fn: Callable[..., Any]) -> AssetsDefinition:
        return asset(pool=STORE_POOL, **kwargs)(retry_when_store_busy(fn))

    return decorate
