"""How well the design's flags and ours find the demo's planted effects (ground truth).

* Cost spikes: recall over the planted spike runs (and per cause); the driver is right when
  it names the cause planted; false flags over ordinary runs (neither a spike nor a run of
  the regressed species from its start day).
* Regression: recall over runs of the regressed species from the planted day on; false
  flags over runs of every other species.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from rvbbit_assets.store import StoreSession
from rvbbit_assets.store.sql_files import load_sql


def _marked(sql_name: str) -> str:
    marked = load_sql(__file__, "marked_runs")
    return f"WITH marked_runs AS ({marked})\n{load_sql(__file__, sql_name)}"


@dataclass(frozen=True)
class DetectionReport:
    spikes: int
    design_spike_recall: float
    robust_spike_recall: float
    robust_driver_accuracy: float
    ordinary_runs: int
    design_cost_false_flags: float
    robust_cost_false_flags: float
    design_duration_false_flags: float
    robust_duration_false_flags: float
    robust_huge_false_flags: float
    regressed_runs: int
    design_regression_recall: float
    robust_regression_recall: float
    other_species_runs: int
    design_regression_false_flags: float
    robust_regression_false_flags: float
    robust_recall_by_cause: dict[str, float]


def detection_report(session: StoreSession, truth: dict[str, Any]) -> DetectionReport:
    """Scores of the analysed demo in this store against its ground-truth document."""
    regression = truth["regression"]
    spikes = truth["cost_spikes"]["sessions"]
    params = {
        "spikes": [spike["session_id"] for spike in spikes],
        "causes": [spike["cause"] for spike in spikes],
        "species": regression["species_hash"],
        "regression_day": date.fromisoformat(regression["start_day"]),
    }
    (row,) = session.rows(_marked("detection_report"), params)
    by_cause = dict(session.rows(_marked("spike_recall_by_cause"), params))
    return DetectionReport(*row, robust_recall_by_cause=by_cause)
