"""`make bench`: recall and false flags of the design's detection and ours, side by side,
on several differently shaped worlds and seeds.

For each world (rvbbit_assets/demo/worlds.py: `classic` is the first demo's tidy shape,
`production` the default, `heavy` heavier tails and more fallbacks) and seed: generate the
`demo` command's data (30 days x 300 runs, ending on a fixed day so figures do not move with
the calendar) with its planted spikes of four causes and its regression, analyse it with the
real pipeline, and score both sets of flags against the ground truth
(rvbbit_assets/demo/detection_report.py). chDB opens one store per process, so each case runs
in a worker process of its own. The same thresholds serve every world.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path

from workers import run_worker

WORLDS = "classic,production,heavy"
SEEDS = "1,2,3"
DAYS, RUNS_PER_DAY = 30, 300
END_DATE = date(2026, 11, 29)
# (label, report field, target) of each row printed; None: no target.
ROWS = (
    ("cost spikes planted", "spikes", None),
    ("spike recall, design", "design_spike_recall", None),
    ("spike recall, ours", "robust_spike_recall", ">= 0.95"),
    ("driver named right, ours", "robust_driver_accuracy", ">= 0.80"),
    ("ordinary runs flagged, design", "design_cost_false_flags", None),
    ("ordinary runs flagged, ours", "robust_cost_false_flags", "<= 0.01"),
    ("huge inputs' ordinary flagged, ours", "robust_huge_false_flags", None),
    ("slow ordinary runs flagged, design", "design_duration_false_flags", None),
    ("slow ordinary runs flagged, ours", "robust_duration_false_flags", "<= 0.01"),
    ("regressed runs", "regressed_runs", None),
    ("regression recall, design", "design_regression_recall", None),
    ("regression recall, ours", "robust_regression_recall", ">= 0.80"),
    ("other species flagged, design", "design_regression_false_flags", None),
    ("other species flagged, ours", "robust_regression_false_flags", "<= 0.02"),
)


def worker(case: str) -> dict:
    from dagster import DagsterInstance

    from rvbbit_assets.cli.materialize import materialize_days
    from rvbbit_assets.demo import generate_demo
    from rvbbit_assets.demo.detection_report import detection_report
    from rvbbit_assets.store import ClickHouseStore
    from rvbbit_assets.store.migrations import apply_migrations

    world, seed = case.split(":")
    store = ClickHouseStore()
    truth_path = Path(os.environ["RVBBIT_CLICKHOUSE_URL"].removeprefix("chdb://")).parent
    truth_path /= "truth.json"
    with store.session("detection bench demo") as session:
        apply_migrations(session, with_source=True)
        demo = generate_demo(session, days=DAYS, sessions_per_day=RUNS_PER_DAY, seed=int(seed),
                             end_date=END_DATE, ground_truth_path=truth_path, world=world)
    outcome = materialize_days(demo.first_day, demo.last_day, store, DagsterInstance.ephemeral(),
                               refresh_downstream=False)
    assert outcome.success, outcome.summary()
    with store.session("detection bench report") as session:
        return asdict(detection_report(session, json.loads(truth_path.read_text())))


def _cell(value: object) -> str:
    return f"{value:>9.3f}" if isinstance(value, float) else f"{value!s:>9}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worlds", default=WORLDS)
    parser.add_argument("--seeds", default=SEEDS)
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.worker)))
        return
    cases = [f"{w}:{s}" for w in args.worlds.split(",") for s in args.seeds.split(",")]
    reports = {}
    for case in cases:
        print(f"analysing {case} ...", flush=True)
        reports[case] = run_worker(__file__, case)
    print(f"\n{'':<38}" + "".join(f"{case:>15}" for case in cases) + f"{'target':>10}")
    for label, field, target in ROWS:
        print(f"{label:<38}" + "".join(f"{_cell(reports[c][field]):>15}" for c in cases)
              + f"{target or '':>10}")
    for cause in reports[cases[0]]["robust_recall_by_cause"]:
        print(f"{'  recall, ours: ' + cause:<38}" + "".join(
            f"{_cell(reports[c]['robust_recall_by_cause'].get(cause, float('nan'))):>15}"
            for c in cases))
    folder = Path(__file__).parent / "results"
    folder.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (folder / f"detection-{stamp}.json").write_text(json.dumps(reports, indent=2))


if __name__ == "__main__":
    main()
