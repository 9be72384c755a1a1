"""The API's JSON documents, built from the analytics tables (shared by the CLI and the routes).

Every function takes an open StoreSession and only reads; every value is a bound parameter.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, ClassVar

import numpy as np

from rvbbit_assets.analysis.alert_rules import (
    ALERT_TYPES,
    SEVERITIES,
    alert_rule_params,
    alert_rules_sql,
)
from rvbbit_assets.analysis.forecasting import projection_sentence
from rvbbit_assets.serving.reads.cells import cell_breakdown
from rvbbit_assets.serving.reads.forecasts import forecast_rows, weekly_projection
from rvbbit_assets.serving.reads.pareto import frontier_rows
from rvbbit_assets.serving.reads.patterns import species_patterns
from rvbbit_assets.store import StoreSession

MAX_ID_LENGTH = 256
RECENT_REGRESSIONS = 20
# The cascade document's insights: the first of each, significant ones first.
PATTERNS_PER_SPECIES = 10
PATTERN_SPECIES = 50
FRONTIER_ROWS = 200
MAX_ALERTS_LIMIT = 1000
DEFAULT_ALERTS_LIMIT = 100


class BadRequest(ValueError):
    """Malformed input from a client: answered with 400 and this message."""


def checked_id(value: str, what: str) -> str:
    """A session or cascade id as given, or BadRequest when it cannot be one."""
    if not value:
        raise BadRequest(f"{what} is empty")
    if len(value) > MAX_ID_LENGTH:
        raise BadRequest(f"{what} is longer than {MAX_ID_LENGTH} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise BadRequest(f"{what} contains control characters")
    return value


def checked_text(value: str, what: str) -> str:
    """Free text as given, or BadRequest when it holds lone surrogates (what JSON's
    "\\ud800" escapes and undecodable command-line bytes give), which no store value holds."""
    if not value.isascii() and any("\ud800" <= ch <= "\udfff" for ch in value):
        raise BadRequest(f"{what} contains a lone surrogate (invalid Unicode)")
    return value


def to_json(document: Any, indent: int | None = None) -> str:
    """The one serialisation of API documents (the CLI prints the same)."""
    return json.dumps(
        document,
        ensure_ascii=False,
        allow_nan=False,
        indent=indent,
        separators=None if indent else (",", ":"),
    )


def _f64(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _f32(value: Any) -> float | None:
    """A Float32 column as the shortest decimal that round-trips (0.7, not 0.699999988)."""
    if value is None:
        return None
    number = float(value)
    return float(str(np.float32(number))) if math.isfinite(number) else None


def _time(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat() + "Z"
    return value.isoformat()


def records(session: StoreSession, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of a query as dicts by column name."""
    result = session.client.query(session.render(sql), parameters=params)
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


# --- GET /api/analytics/session/{session_id} -------------------------------------------------

_SESSION_SQL = """
SELECT *
FROM ${analytics}.cascade_analytics
WHERE session_id = {session_id:String}
ORDER BY analyzed_at DESC, created_at DESC
LIMIT 1
"""


def session_alerts(session: StoreSession, session_id: str) -> list[dict[str, Any]]:
    """The design's _check_for_alerts(analytics_row): the same rules as the alerts asset."""
    rows = records(
        session,
        f"SELECT alert_type, severity, message, session_id FROM "
        f"({alert_rules_sql(_SESSION_SQL)}) ORDER BY rule_order",
        {"session_id": session_id} | alert_rule_params(session.settings),
    )
    return [
        {"type": r["alert_type"], "severity": r["severity"], "message": r["message"],
         "session_id": r["session_id"]}
        for r in rows
    ]


def session_analytics(session: StoreSession, session_id: str) -> dict[str, Any] | None:
    """The design's `/api/analytics/session/{session_id}` document, or None when unknown.

    Exactly the design's keys, plus `prediction` ({predicted_cost, prediction_error}, or
    null until the cost model has predicted the run), `robust_detection` (the robust
    scores and significance flags we recommend, beside the design's), `cost_complete`
    (false while a late cost has not arrived: `total_cost` is then too low) and
    `error_outlier` (the design's flag and the earlier runs it required).
    `anomaly_scores.is_outlier` is true when either score shown is an outlier (|z| > 2);
    `efficiency.cost_per_token` is the cost per output token, as in the design's worker.
    """
    rows = records(session, _SESSION_SQL, {"session_id": session_id})
    if not rows:
        return None
    row = rows[0]
    predicted = _f64(row["predicted_cost"])
    return {
        "session_id": row["session_id"],
        "cascade_id": row["cascade_id"],
        "input_category": row["input_category"],
        "total_cost": _f64(row["total_cost"]),
        "cost_complete": bool(row["cost_complete"]),
        "baselines": {
            "global_avg": _f64(row["global_avg_cost"]),
            "cluster_avg": _f64(row["cluster_avg_cost"]),
            "species_avg": _f64(row["species_avg_cost"]),
        },
        "anomaly_scores": {
            "cost_z_score": _f32(row["cost_z_score"]),
            "duration_z_score": _f32(row["duration_z_score"]),
            "is_outlier": bool(row["is_cost_outlier"] or row["is_duration_outlier"]),
        },
        "error_outlier": {
            "is_error_outlier": bool(row["is_error_outlier"]),
            "rule": "errors while under 5% of the cascade's earlier runs had any",
            "min_prior_runs": int(row["error_outlier_min_prior_runs"]),
        },
        "efficiency": {
            "cost_per_message": _f32(row["cost_per_message"]),
            "cost_per_token": _f32(row["cost_per_output_token"]),
        },
        "regression": {
            "cost_change_pct": _f32(row["vs_recent_avg_cost"]),
            "is_regression": bool(row["is_regression"]),
            "severity": row["regression_severity"],
        },
        "robust_detection": {
            "cost_robust_z": _f32(row["cost_robust_z"]),
            "duration_robust_z": _f32(row["duration_robust_z"]),
            "is_cost_anomaly": bool(row["is_cost_anomaly"]),
            "is_duration_anomaly": bool(row["is_duration_anomaly"]),
            "regression_p_value": _f32(row["regression_p_value"]),
            "is_regression_significant": bool(row["is_regression_significant"]),
            "expected_cost": _f64(row["expected_cost"]),
            "cost_anomaly_driver": row["cost_anomaly_driver"],
            "cost_anomaly_driver_ratio": _f32(row["cost_anomaly_driver_ratio"]),
            "cost_anomaly_impact_usd": _f64(row["cost_anomaly_impact_usd"]),
            "cost_anomaly_baseline": row["cost_anomaly_baseline"],
            "explanation": row["cost_anomaly_explanation"],
        },
        "alerts": session_alerts(session, session_id),
        "cells": cell_breakdown(session, session_id),
        "prediction": (
            None
            if predicted is None
            else {"predicted_cost": predicted, "prediction_error": _f32(row["prediction_error"])}
        ),
    }


# --- GET /api/analytics/cascade/{cascade_id} -------------------------------------------------

_CASCADE_SQL = """
SELECT count() AS run_count, min(created_at) AS first_run_at, max(created_at) AS last_run_at,
       sum(total_cost) AS total_cost
FROM ${analytics}.cascade_analytics
WHERE cascade_id = {cascade_id:String}
"""

# Per input category, the baselines of its latest run (over every run before that one).
_CASCADE_BASELINES_SQL = """
SELECT
    input_category,
    count() AS run_count,
    argMax(session_id, (created_at, session_id)) AS latest_session_id,
    max(created_at) AS latest_run_at,
    argMax(global_avg_cost, (created_at, session_id)) AS global_avg_cost,
    argMax(cluster_avg_cost, (created_at, session_id)) AS cluster_avg_cost,
    argMax(cluster_stddev_cost, (created_at, session_id)) AS cluster_stddev_cost,
    argMax(cluster_avg_duration, (created_at, session_id)) AS cluster_avg_duration,
    argMax(cluster_stddev_duration, (created_at, session_id)) AS cluster_stddev_duration,
    argMax(cluster_avg_tokens, (created_at, session_id)) AS cluster_avg_tokens
FROM ${analytics}.cascade_analytics
WHERE cascade_id = {cascade_id:String}
GROUP BY input_category
ORDER BY input_category
"""

_CASCADE_REGRESSIONS_SQL = """
SELECT session_id, created_at, regression_severity, vs_recent_avg_cost, vs_recent_avg_duration,
       total_cost
FROM ${analytics}.cascade_analytics
WHERE cascade_id = {cascade_id:String} AND is_regression
ORDER BY created_at DESC, session_id DESC
LIMIT {limit:UInt32}
"""


def forecast_for(session: StoreSession, cascade_id: str) -> dict[str, Any]:
    """The cascade's 7-day cost forecast (rows of the forecasts asset) and weekly projection."""
    days = [
        {
            "day": _time(r["day"]),
            "predicted_cost": _f64(r["predicted_cost"]),
            "lower_bound": _f64(r["lower_bound"]),
            "upper_bound": _f64(r["upper_bound"]),
            "trend": r["trend"],
            "confidence": _f64(r["confidence"]),
            "trend_significant": r["trend_significant"],
            "r_squared": _f64(r["r_squared"]),
        }
        for r in forecast_rows(session, cascade_id)
    ]
    projection = weekly_projection(session, cascade_id)
    return {
        "days": days,
        "weekly_projection": None if projection is None else {
            "projected_cost": projection[0],
            "plus_minus": projection[1],
            "sentence": projection_sentence(*projection),
        },
    }


def insights_for(session: StoreSession, cascade_id: str) -> dict[str, Any]:
    """The cascade's winner pattern suggestions by species and its Pareto frontier rows,
    significant ones first, each with its sample sizes; counts say how many there are in
    all when more exist than shown."""
    species, species_count = species_patterns(
        session, cascade_id, per_species=PATTERNS_PER_SPECIES, species_limit=PATTERN_SPECIES)
    frontier, frontier_count = frontier_rows(
        session, cascade_id, advised_only=False, limit=FRONTIER_ROWS)
    return {
        "pattern_suggestions": {"species": species, "species_count": species_count},
        "pareto_frontier": {"rows": frontier, "row_count": frontier_count},
    }


def cascade_summary(session: StoreSession, cascade_id: str) -> dict[str, Any] | None:
    """Baselines by input category, recent regressions, the forecast and the insights
    (pattern suggestions, Pareto frontier); None when unknown."""
    params = {"cascade_id": cascade_id}
    (totals,) = records(session, _CASCADE_SQL, params)
    if not totals["run_count"]:
        return None
    baselines = [
        {
            "input_category": r["input_category"],
            "run_count": int(r["run_count"]),
            "latest_session_id": r["latest_session_id"],
            "latest_run_at": _time(r["latest_run_at"]),
            "global_avg_cost": _f64(r["global_avg_cost"]),
            "cluster_avg_cost": _f64(r["cluster_avg_cost"]),
            "cluster_stddev_cost": _f64(r["cluster_stddev_cost"]),
            "cluster_avg_duration_ms": _f64(r["cluster_avg_duration"]),
            "cluster_stddev_duration_ms": _f64(r["cluster_stddev_duration"]),
            "cluster_avg_tokens": _f64(r["cluster_avg_tokens"]),
        }
        for r in records(session, _CASCADE_BASELINES_SQL, params)
    ]
    regressions = [
        {
            "session_id": r["session_id"],
            "created_at": _time(r["created_at"]),
            "severity": r["regression_severity"],
            "cost_change_pct": _f32(r["vs_recent_avg_cost"]),
            "duration_change_pct": _f32(r["vs_recent_avg_duration"]),
            "total_cost": _f64(r["total_cost"]),
        }
        for r in records(
            session, _CASCADE_REGRESSIONS_SQL, {**params, "limit": RECENT_REGRESSIONS}
        )
    ]
    return {
        "cascade_id": cascade_id,
        "run_count": int(totals["run_count"]),
        "first_run_at": _time(totals["first_run_at"]),
        "last_run_at": _time(totals["last_run_at"]),
        "total_cost": _f64(totals["total_cost"]),
        "baselines": baselines,
        "recent_regressions": regressions,
        "forecast": forecast_for(session, cascade_id),
        **insights_for(session, cascade_id),
    }


# --- GET /api/analytics/alerts ---------------------------------------------------------------


@dataclass(frozen=True)
class AlertFilter:
    severities: Sequence[str] = ()
    types: Sequence[str] = ()
    cascade_id: str | None = None
    session_id: str | None = None
    since: datetime | None = None
    limit: int = DEFAULT_ALERTS_LIMIT

    PARAMETERS: ClassVar[set[str]] = {
        "severity", "type", "cascade_id", "session_id", "since", "limit"}

    @classmethod
    def parse(cls, params: dict[str, str]) -> AlertFilter:
        """From query parameters; BadRequest names the first bad one."""
        unknown = set(params) - cls.PARAMETERS
        if unknown:
            raise BadRequest(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
        return cls(
            severities=_choices(params.get("severity"), SEVERITIES, "severity"),
            types=_choices(params.get("type"), ALERT_TYPES, "type"),
            cascade_id=(checked_id(params["cascade_id"], "cascade_id")
                        if "cascade_id" in params else None),
            session_id=(checked_id(params["session_id"], "session_id")
                        if "session_id" in params else None),
            since=_since(params["since"]) if "since" in params else None,
            limit=_limit(params.get("limit")),
        )


def _choices(text: str | None, allowed: Sequence[str], name: str) -> tuple[str, ...]:
    if text is None:
        return ()
    values = tuple(v.strip() for v in text.split(","))
    bad = [v for v in values if v not in allowed]
    if bad:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)} (comma-separated)")
    return values


def _since(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            "since must be an ISO date or date-time, e.g. 2025-01-31T12:00:00Z"
        ) from None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    if not datetime(1970, 1, 1) <= value <= datetime(2105, 12, 31):
        raise BadRequest("since is out of range")
    return value


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_ALERTS_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_ALERTS_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_ALERTS_LIMIT}")
    return int(text)


_ALERTS_SQL = """
WITH chosen AS
(
    SELECT *
    FROM ${analytics}.alerts
    WHERE (empty({severities:Array(String)}) OR has({severities:Array(String)}, severity))
      AND (empty({types:Array(String)}) OR has({types:Array(String)}, alert_type))
      AND ({cascade_id:Nullable(String)} IS NULL OR cascade_id = {cascade_id:Nullable(String)})
      AND ({session_id:Nullable(String)} IS NULL OR session_id = {session_id:Nullable(String)})
      AND created_at >= {since:DateTime}
    ORDER BY created_at DESC, session_id, alert_type
    LIMIT {limit:UInt32}
)
SELECT
    c.session_id AS session_id, c.cascade_id AS cascade_id, c.alert_type AS alert_type,
    c.severity AS severity, c.message AS message, c.detail AS detail, c.metric AS metric,
    c.created_at AS created_at, c.detected_at AS detected_at,
    d.status AS status, d.attempts AS attempts, d.last_error AS last_error,
    d.updated_at AS updated_at
FROM chosen AS c
LEFT JOIN
(
    SELECT session_id, alert_type, status, attempts, last_error, updated_at
    FROM ${analytics}.alert_deliveries FINAL
    WHERE (session_id, alert_type) IN (SELECT session_id, alert_type FROM chosen)
) AS d ON d.session_id = c.session_id AND d.alert_type = c.alert_type
ORDER BY c.created_at DESC, c.session_id, c.alert_type
"""


def recent_alerts(session: StoreSession, chosen: AlertFilter) -> dict[str, Any]:
    """The newest stored alerts (by run start) matching the filter, with delivery state."""
    rows = records(
        session,
        _ALERTS_SQL,
        {
            "severities": list(chosen.severities),
            "types": list(chosen.types),
            "cascade_id": chosen.cascade_id,
            "session_id": chosen.session_id,
            "since": chosen.since or datetime(1970, 1, 1),
            "limit": chosen.limit,
        },
    )
    return {
        "alerts": [
            {
                "type": r["alert_type"],
                "severity": r["severity"],
                "message": r["message"],
                "detail": r["detail"],
                "session_id": r["session_id"],
                "cascade_id": r["cascade_id"],
                "metric": _f64(r["metric"]),
                "created_at": _time(r["created_at"]),
                "detected_at": _time(r["detected_at"]),
                "delivery": (
                    {
                        "status": r["status"],
                        "attempts": int(r["attempts"]),
                        "last_error": r["last_error"] or None,
                        "updated_at": _time(r["updated_at"]),
                    }
                    if r["status"]
                    else None
                ),
            }
            for r in rows
        ],
        "count": len(rows),
        "limit": chosen.limit,
    }
