"""The calendar of a demo load: runs per day, their chunks, the horizon, and the runs picked
globally (still running, abandoned, cost spikes) before any row is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

from rvbbit_assets.demo.catalog import ABANDONED_RATE, RUNNING_RATE, SPIKE_KINDS, SPIKE_RATE
from rvbbit_assets.demo.worlds import World

CHUNK_SESSIONS = 50_000  # top-level runs generated and inserted together
MICROS = 1_000_000
DAY_US = 86_400 * MICROS
NOW_MARGIN_US = 2 * 60 * MICROS  # the newest row is this much before "now"
START_MARGIN_US = 5 * 60 * MICROS  # runs start at least this much before the horizon
TTL_DAYS = 360  # unified_logs keeps a year: older demo rows would be dropped by its TTL
WEEKEND_LOAD = 0.45
# Relative load per UTC hour: quiet nights, busy working hours.
HOURLY_LOAD = np.array(
    [0.35, 0.3, 0.28, 0.28, 0.3, 0.4, 0.6, 0.85, 1.1, 1.3, 1.45, 1.5,
     1.45, 1.5, 1.55, 1.5, 1.4, 1.2, 1.0, 0.85, 0.7, 0.6, 0.5, 0.42]
)
_HOUR_EDGES_US = np.arange(25, dtype=np.int64) * 3600 * MICROS
_LOAD_CDF = np.concatenate([[0.0], np.cumsum(HOURLY_LOAD) / HOURLY_LOAD.sum()])


@dataclass(frozen=True)
class DayPiece:
    """`count` runs of day `day`, the first of them with global index `first`."""

    day: int
    count: int
    first: int


@dataclass(frozen=True)
class Plan:
    seed: int
    days: int
    sessions_per_day: int
    first_day: date
    end_date: date
    horizon_us: int  # no row is later than this (epoch microseconds, UTC)
    day_start_us: np.ndarray
    day_load_share: np.ndarray  # share of a day's load that lies before the horizon
    day_counts: np.ndarray
    world: World
    regression_day: int  # day index from which the planted regression applies
    chunks: tuple[tuple[DayPiece, ...], ...]
    running: int  # the most recent top-level runs, left running at the horizon
    abandoned: np.ndarray  # global indices of old runs that never finished
    spikes: np.ndarray  # global indices of the runs with a planted cost spike
    spike_kinds: np.ndarray  # index into catalog.SPIKE_KINDS, per spike

    @property
    def total(self) -> int:
        return int(self.day_counts.sum())

    def day_of(self, day: int) -> date:
        return self.first_day + timedelta(days=day)

    def start_day(self, starts_at: float) -> int:
        """The first day of a cascade that starts after `starts_at` of the history."""
        return int(starts_at * self.days) if self.world.late_cascade else 0


def generator(seed: int, stream: int) -> np.random.Generator:
    """An independent PCG64 stream per purpose, all derived from the one seed."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(stream,))))


def make_plan(
    seed: int, days: int, sessions_per_day: int, end_date: date, now: datetime, world: World
) -> Plan:
    if days < 1 or sessions_per_day < 1:
        raise ValueError("days and sessions_per_day must be at least 1")
    if end_date > now.date():
        raise ValueError(f"end_date {end_date} is in the future (now is {now:%Y-%m-%d %H:%M} UTC)")
    first_day = end_date - timedelta(days=days - 1)
    if (now.date() - first_day).days > TTL_DAYS:
        raise ValueError(
            f"first day {first_day} is over {TTL_DAYS} days old: unified_logs' one-year TTL "
            "would delete those rows"
        )
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    start0 = int((datetime.combine(first_day, datetime.min.time(), UTC) - epoch).total_seconds())
    day_start_us = (start0 + np.arange(days, dtype=np.int64) * 86_400) * MICROS
    now_us = int((now - epoch) / timedelta(microseconds=1))
    horizon_us = min(int(day_start_us[-1]) + DAY_US, now_us - NOW_MARGIN_US)
    load_share = np.ones(days)
    load_share[-1] = load_share_before(horizon_us - START_MARGIN_US - int(day_start_us[-1]))
    counts = _day_counts(first_day, days, sessions_per_day, load_share)
    rng = generator(seed, 1)
    total = int(counts.sum())
    running = min(max(1, round(RUNNING_RATE * total)), total // 2)
    before_last_day = int(counts[:-1].sum())
    abandoned = _pick(rng, np.arange(before_last_day), max(1, round(ABANDONED_RATE * total)))
    spike_pool = np.setdiff1d(np.arange(total - running), abandoned)
    spikes = _pick(rng, spike_pool, max(1, round(SPIKE_RATE * total)))
    # Kinds in turn, in a shuffled order of the runs: every kind is planted about as often.
    spike_kinds = rng.permutation(np.arange(len(spikes)) % len(SPIKE_KINDS))
    return Plan(
        seed=seed,
        days=days,
        sessions_per_day=sessions_per_day,
        first_day=first_day,
        end_date=end_date,
        horizon_us=horizon_us,
        day_start_us=day_start_us,
        day_load_share=load_share,
        day_counts=counts,
        world=world,
        regression_day=days // 2,
        chunks=_chunks(counts),
        running=running,
        abandoned=abandoned,
        spikes=spikes,
        spike_kinds=spike_kinds,
    )


def load_share_before(offset_us: int) -> float:
    """Share of a day's load that falls in its first `offset_us` microseconds."""
    return float(np.interp(offset_us, _HOUR_EDGES_US, _LOAD_CDF))


def times_of_day(rng: np.random.Generator, n: int, load_share: float) -> np.ndarray:
    """Sorted offsets (µs) into a day, following the hourly load, within its open part."""
    quantiles = np.sort(rng.random(n)) * load_share
    return np.interp(quantiles, _LOAD_CDF, _HOUR_EDGES_US).astype(np.int64)


def _day_counts(
    first_day: date, days: int, sessions_per_day: int, load_share: np.ndarray
) -> np.ndarray:
    weekdays = (first_day.weekday() + np.arange(days)) % 7
    load = np.where(weekdays >= 5, WEEKEND_LOAD, 1.0)
    # Weekends are quieter; the mean stays sessions_per_day (the end day only has its past).
    return np.rint(sessions_per_day * load / load.mean() * load_share).astype(np.int64)


def _pick(rng: np.random.Generator, candidates: np.ndarray, count: int) -> np.ndarray:
    count = min(count, len(candidates))
    return np.sort(rng.choice(candidates, size=count, replace=False))


def _chunks(counts: np.ndarray) -> tuple[tuple[DayPiece, ...], ...]:
    chunks: list[tuple[DayPiece, ...]] = []
    current: list[DayPiece] = []
    room = CHUNK_SESSIONS
    first = 0
    for day, count in enumerate(counts.tolist()):
        while count:
            take = min(count, room)
            current.append(DayPiece(day, take, first))
            first, count, room = first + take, count - take, room - take
            if room == 0:
                chunks.append(tuple(current))
                current, room = [], CHUNK_SESSIONS
    if current:
        chunks.append(tuple(current))
    return tuple(chunks)
