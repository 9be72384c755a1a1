"""A run's cost before it runs: the latest model version applied to what is known now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from rvbbit_assets.analysis.cost_model import FEATURES, CostModelVersion
from rvbbit_assets.analysis.input_complexity import compute_input_complexity
from rvbbit_assets.orchestration.day_range import utc_now
from rvbbit_assets.store import StoreSession
from rvbbit_assets.store.sql_files import render_sql_template


def latest_version(session: StoreSession) -> CostModelVersion | None:
    """The newest stored model version (cost_models) of today's features, or None before the
    first (a version stored before the features changed is retrained by the pipeline's next
    run of its week)."""
    frame = session.df(
        "SELECT * FROM ${analytics}.cost_models FINAL WHERE features = {features:Array(String)}"
        " ORDER BY model_version DESC LIMIT 1",
        {"features": FEATURES},
    )
    return CostModelVersion.from_row(frame.iloc[0].to_dict()) if len(frame) else None


@dataclass(frozen=True)
class CostEstimate:
    cascade_id: str
    predicted_cost: float
    interval_low: float
    interval_high: float
    model_version: date
    estimator: str

    def as_dict(self) -> dict:
        return {
            "cascade_id": self.cascade_id,
            "predicted_cost": self.predicted_cost,
            "interval": {"low": self.interval_low, "high": self.interval_high, "level": 0.9},
            "model_version": self.model_version.isoformat(),
            "estimator": self.estimator,
        }

    def sentence(self) -> str:
        return (
            f"{self.cascade_id}: predicted cost ${self.predicted_cost:.6f} "
            f"(90% interval ${self.interval_low:.6f} - ${self.interval_high:.6f}; "
            f"model {self.model_version}, {self.estimator})"
        )


def estimate_cost(
    session: StoreSession,
    cascade_id: str,
    input_data: str,
    origin: str = "unknown",
    starts_at: datetime | None = None,
) -> CostEstimate | None:
    """None when no model version exists yet (too few analysed runs)."""
    model = latest_version(session)
    if model is None:
        return None
    starts_at = starts_at or utc_now()
    complexity = compute_input_complexity(input_data)
    input_hash = session.scalar("SELECT cityHash64({text:String})", {"text": input_data})
    (levels,) = session.rows(
        render_sql_template(__file__, "prerun_features"),
        {"cascade_id": cascade_id, "input_hash": input_hash},
    )
    raw = pd.DataFrame([{
        "cascade_id": cascade_id,
        "input_category": complexity.category,
        "origin": origin,
        "input_complexity_score": complexity.score,
        "char_count": complexity.char_count,
        "estimated_tokens": complexity.estimated_tokens,
        "is_valid_json": complexity.is_valid_json,
        "hour_of_day": starts_at.hour,
        "day_of_week": starts_at.weekday(),
        "depth": 0,
        "cascade_prior_runs": levels[0],
        "cascade_recent_median_cost": levels[1] if levels[0] else None,
        "input_prior_runs": levels[2],
        "input_recent_median_cost": levels[3] if levels[2] else None,
    }])
    cost, low, high = model.predict(raw)
    return CostEstimate(
        cascade_id, float(cost[0]), float(low[0]), float(high[0]),
        model.model_version.date(), model.estimator,
    )
