"""How well the design's flags and ours find the demo's planted effects (ground truth).

* Cost spikes: recall over the planted spike runs; false flags over ordinary runs (neither
  a spike nor a run of the regressed species after its start day).
* Regression: recall over runs of the regressed species from the planted day on; false
  flags over runs of every other species.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from rvbbit_assets.store import StoreSession

_REPORT_SQL = """
SELECT
    countIf(is_spike) AS spikes,
    countIf(is_spike AND is_cost_outlier) / spikes AS design_spike_recall,
    countIf(is_spike AND is_cost_anomaly) / spikes AS robust_spike_recall,
    countIf(is_ordinary) AS ordinary_runs,
    countIf(is_ordinary AND is_cost_outlier) / ordinary_runs AS design_cost_false_flags,
    countIf(is_ordinary AND is_cost_anomaly) / ordinary_runs AS robust_cost_false_flags,
    countIf(is_regressed) AS regressed_runs,
    countIf(is_regressed AND is_regression) / regressed_runs AS design_regression_recall,
    countIf(is_regressed AND is_regression_significant) / regressed_runs
        AS robust_regression_recall,
    countIf(is_other_species) AS other_species_runs,
    countIf(is_other_species AND is_regression) / other_species_runs
        AS design_regression_false_flags,
    countIf(is_other_species AND is_regression_significant) / other_species_runs
        AS robust_regression_false_flags
FROM
(
    SELECT
        *,
        session_id IN {spikes:Array(String)} AS is_spike,
        ifNull(species_hash_primary = {species:String}, false) AS of_regressed_species,
        of_regressed_species AND toDate(created_at) >= {regression_day:Date} AS is_regressed,
        NOT is_spike AND NOT is_regressed AS is_ordinary,
        species_hash_primary IS NOT NULL AND NOT of_regressed_species AS is_other_species
    FROM ${analytics}.cascade_analytics
)
"""


@dataclass(frozen=True)
class DetectionReport:
    spikes: int
    design_spike_recall: float
    robust_spike_recall: float
    ordinary_runs: int
    design_cost_false_flags: float
    robust_cost_false_flags: float
    regressed_runs: int
    design_regression_recall: float
    robust_regression_recall: float
    other_species_runs: int
    design_regression_false_flags: float
    robust_regression_false_flags: float


def detection_report(session: StoreSession, truth: dict[str, Any]) -> DetectionReport:
    """Scores of the analysed demo in this store against its ground-truth document."""
    regression = truth["regression"]
    (row,) = session.rows(
        _REPORT_SQL,
        {
            "spikes": [spike["session_id"] for spike in truth["cost_spikes"]["sessions"]],
            "species": regression["species_hash"],
            "regression_day": date.fromisoformat(regression["start_day"]),
        },
    )
    return DetectionReport(*row)
