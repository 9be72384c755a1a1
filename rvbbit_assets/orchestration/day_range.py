"""The UTC days one run covers: the day range of a single-run backfill, and the clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

# Run tags that make one run cover a range of day partitions (a single-run backfill).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


@dataclass(frozen=True)
class DayRange:
    """The UTC days [first, last] that one run analyses."""

    first: date
    last: date

    @classmethod
    def from_datetimes(cls, start: datetime, end: datetime) -> DayRange:
        """From a Dagster partition time window, whose end is exclusive."""
        return cls(start.date(), (end - timedelta(microseconds=1)).date())

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time.min)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def params(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end}

    def chunks(self, weight: dict[date, int], max_weight: int) -> list[DayRange]:
        """Consecutive sub-ranges covering this range, each of whole days weighing at most
        `max_weight` in total (a heavier day is a chunk of its own)."""
        chunks: list[DayRange] = []
        first, total = self.first, 0
        for day in self.days:
            if day > first and total + weight.get(day, 0) > max_weight:
                chunks.append(DayRange(first, day - timedelta(days=1)))
                first, total = day, 0
            total += weight.get(day, 0)
        return [*chunks, DayRange(first, self.last)]

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}..{self.last}"


def utc_now() -> datetime:
    """Now in UTC as a naive datetime, the form ClickHouse DateTime parameters take here."""
    return datetime.now(UTC).replace(tzinfo=None)
