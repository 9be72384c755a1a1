"""`make bench`: the pipeline's speed on demo data, against the design's per-session approach.

For each size: generate demo data (timed), backfill every day but the last as one run,
analyse the last day alone ("a new day"), and time the design's per-session analysis on a
sample of that day, extrapolated. chDB opens one store per process, so each size runs in a
worker process of its own. Figures are printed and appended to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from workers import run_worker

SIZES = {"100k": (35, 2_900), "1M": (35, 30_000)}  # days, runs per day (last day = new day)
SAMPLE = 300


def worker(size: str) -> dict:
    from dagster import DagsterInstance

    from rvbbit_assets.demo import generate_demo
    from rvbbit_assets.materialize import materialize_days
    from rvbbit_assets.schema import apply_migrations
    from rvbbit_assets.store import ClickHouseStore

    sys.path.insert(0, str(Path(__file__).parent))
    from per_session_baseline import seconds_per_session

    days, per_day = SIZES[size]
    store = ClickHouseStore()
    started = time.perf_counter()
    with store.session("bench demo") as session:
        apply_migrations(session, with_source=True)
        # Ending yesterday makes the last day a full day (today's load is still arriving).
        yesterday = datetime.now(UTC).date() - timedelta(days=1)
        demo = generate_demo(session, days=days, sessions_per_day=per_day, seed=1,
                             end_date=yesterday)
    generate_s = time.perf_counter() - started

    instance = DagsterInstance.ephemeral()
    new_day = demo.last_day
    started = time.perf_counter()
    backfill = materialize_days(demo.first_day, new_day - timedelta(days=1), store, instance)
    backfill_s = time.perf_counter() - started
    started = time.perf_counter()
    one_day = materialize_days(new_day, new_day, store, instance)
    new_day_s = time.perf_counter() - started
    assert backfill.success and one_day.success

    with store.session("bench per-session") as session:
        sample = [r[0] for r in session.rows(
            "SELECT session_id FROM ${analytics}.cascade_analytics"
            " WHERE toDate(created_at) = {d:Date} ORDER BY cityHash64(session_id) LIMIT {n:UInt32}",
            {"d": new_day, "n": SAMPLE})]
        per_session_s = seconds_per_session(session, sample)
    analysed = backfill.analysed_runs + one_day.analysed_runs
    first_tick_s, steady_tick_s = sensor_tick_seconds(store)
    return {
        "size": size,
        "runs_generated": demo.runs,
        "log_rows": demo.log_rows,
        "generate_seconds": round(generate_s, 1),
        "backfill_runs": backfill.analysed_runs,
        "backfill_seconds": round(backfill_s, 1),
        "backfill_runs_per_second": round(backfill.analysed_runs / backfill_s),
        "new_day_runs": one_day.analysed_runs,
        "new_day_seconds": round(new_day_s, 1),
        "per_session_ms": round(per_session_s * 1000, 2),
        "per_session_extrapolated_seconds": round(per_session_s * analysed),
        "speedup_vs_per_session": round(per_session_s * analysed / (backfill_s + new_day_s)),
        "sensor_first_tick_seconds": round(first_tick_s, 3),
        "sensor_tick_seconds": round(steady_tick_s, 3),
    }


def sensor_tick_seconds(store) -> tuple[float, float]:
    """The sensor's queries: the first tick (reconciliation) and a steady-state tick."""
    from rvbbit_assets.day_partitions import utc_now
    from rvbbit_assets.sensors.new_cascade_sessions import find_days_to_analyse

    with store.session("bench sensor") as session:
        started = time.perf_counter()
        first = find_days_to_analyse(session, None, utc_now())
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        find_days_to_analyse(session, first.cursor, utc_now())
        return first_s, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100k,1M")
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return
    results = []
    for size in args.sizes.split(","):
        result = run_worker(__file__, size)
        results.append(result)
        for key, value in result.items():
            print(f"{size:>5} {key:<34} {value}")
    folder = Path(__file__).parent / "results"
    folder.mkdir(exist_ok=True)
    (folder / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(
        json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
