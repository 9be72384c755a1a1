"""`make bench`: recall and false flags of the design's detection and ours, side by side.

For each seed: generate the `demo` command's data (30 days x 300 runs) with its planted
cost spikes and regression, analyse it, and score both sets of flags against the ground
truth (rvbbit_assets/demo/detection_report.py). chDB opens one store per process, so each
seed runs in a worker process of its own.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

from workers import run_worker

SEEDS = "1,2,3,7"
DAYS, RUNS_PER_DAY = 30, 300


def worker(seed: int) -> dict:
    from dagster import DagsterInstance

    from rvbbit_assets.demo import generate_demo
    from rvbbit_assets.demo.detection_report import detection_report
    from rvbbit_assets.materialize import materialize_days
    from rvbbit_assets.schema import apply_migrations
    from rvbbit_assets.store import ClickHouseStore

    store = ClickHouseStore()
    truth_path = Path(os.environ["RVBBIT_CLICKHOUSE_URL"].removeprefix("chdb://")).parent
    truth_path /= "truth.json"
    with store.session("detection bench demo") as session:
        apply_migrations(session, with_source=True)
        demo = generate_demo(session, days=DAYS, sessions_per_day=RUNS_PER_DAY, seed=seed,
                             end_date=datetime.now(UTC).date() - timedelta(days=1),
                             ground_truth_path=truth_path)
    outcome = materialize_days(demo.first_day, demo.last_day, store, DagsterInstance.ephemeral())
    assert outcome.success, outcome.summary()
    with store.session("detection bench report") as session:
        return asdict(detection_report(session, json.loads(truth_path.read_text())))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default=SEEDS)
    parser.add_argument("--worker", type=int)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.worker)))
        return
    reports = {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        reports[seed] = run_worker(__file__, str(seed))
    from rvbbit_assets.demo.detection_report import DetectionReport

    names = [f.name for f in fields(DetectionReport)]
    print(f"{'seed':<32}" + "".join(f"{seed:>9}" for seed in reports) + f"{'mean':>9}")
    for name in names:
        values = [reports[seed][name] for seed in reports]
        cells = "".join(f"{v:>9.3f}" if isinstance(v, float) else f"{v:>9}" for v in values)
        print(f"{name:<32}{cells}{sum(values) / len(values):>9.3f}")
    folder = Path(__file__).parent / "results"
    folder.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (folder / f"detection-{stamp}.json").write_text(json.dumps(reports, indent=2))


if __name__ == "__main__":
    main()
