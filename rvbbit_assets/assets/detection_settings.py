"""Settings of the recommended detection (baselines, anomaly_scores, regression_flags).

The tunables come from the environment (contract.md, README); the constants below are
fixed choices, bound into the stages' SQL as parameters and explained where they are used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from rvbbit_assets.config import Settings

# priced_runs.sql
PRICING_CONSTANTS: dict[str, Any] = {
    "output_weight": 4.0,  # an output token costs about 4 input tokens at list prices
    "routine_share": 0.02,  # a model that answered in this share of a cell's runs is routine
    "main_model_share": 0.5,  # of the runs of a cell's most used model: a main model
    "routine_calls_quantile": 0.98,  # more calls in a cell than this quantile are not routine
}
# robust_baselines.sql
BASELINE_CONSTANTS: dict[str, Any] = {
    "baseline_runs": 300,  # the latest runs of a key's earlier days compared with
    "min_cascade_runs": 3,  # the cascade as a last resort needs this many prior runs
    "tail_min_runs": 40,  # from this many runs, the 95th percentile widens the scale
    "cost_epsilon": 1e-9,  # USD added before taking the log of a cost
}
# anomaly_scores.sql: the robust sigma of log cost (and duration) is at least this, so a
# run must cost e^(3.5 x 0.2) = 2x what is expected to be flagged at the default threshold.
# A factor is judged against its own noise when it alone raises the cost this many times;
# its own scale (input tokens' share of the noise) is at least min_factor_sigma.
SCORE_CONSTANTS: dict[str, Any] = {
    "min_log_sigma": 0.2,
    "min_factor_ratio": 1.5,
    "min_factor_sigma": 0.05,
}


@dataclass(frozen=True)
class DetectionSettings:
    lookback_days: int = 30  # prior runs older than this are not compared with
    min_prior_runs: int = 10  # of the same input, or of the cluster, to compare with them
    threshold: float = 3.5  # robust z above which a run is an anomaly
    alpha: float = 0.01  # significance level of the regression test

    @classmethod
    def of(cls, settings: Settings) -> DetectionSettings:
        return cls(
            lookback_days=settings.detection_lookback_days,
            min_prior_runs=settings.detection_min_prior_runs,
            threshold=settings.anomaly_threshold,
            alpha=settings.regression_alpha,
        )

    def params(self) -> dict[str, Any]:
        return asdict(self)
# significant_regressions.sql
REGRESSION_CONSTANTS: dict[str, Any] = {
    "species_runs": 150,  # latest earlier runs of the species in the test
    "min_earlier_runs": 10,  # a recent window is tested against at least this many runs
    "min_shifted_runs": 5,  # a change seen in fewer runs is not yet a regression
    "cost_epsilon": 1e-9,
}
