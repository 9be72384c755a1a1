"""The page's words and numbers: money, signs, durations, badges and what a column means.

Plain functions of values; the templates call them (as filters and globals) and decide the
markup. Every class name a function returns comes from a fixed list, whatever the data holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rvbbit_assets.analysis.forecasting import TOTAL
from rvbbit_assets.analysis.input_complexity import CATEGORY_ORDER
from rvbbit_assets.analysis.pareto import MIN_TAKES_PER_MODEL

# The design's thresholds: |z| > 2 is an outlier (is_cost_outlier), 1 < |z| <= 2 worth a look.
OUTLIER_Z = 2.0
WATCH_Z = 1.0
REGRESSION_SEVERITIES = ("minor", "major", "critical")
TRENDS = {"increasing": "↗ increasing", "decreasing": "↘ decreasing", "flat": "→ flat"}
MINUS = "\u2212"  # the typographic minus of "−8%"

# Our cost_anomaly_baseline: which earlier runs a run's expected cost comes from.
BASELINE_MEANINGS = {
    "input": "earlier runs with the same input",
    "cluster": "earlier runs of this cascade with the same input type and an input of "
               "similar size (within a factor of two)",
    "cascade": "earlier runs of this cascade with an input of similar size, as too few runs "
               "of this input or input type came before it (for a new cascade: its earlier "
               "runs of any size)",
    "": "none: too little earlier history (or no cost) to say what this run should cost, "
        "so it is not scored",
}
# Our cost_anomaly_driver: the factor that explains most of the excess over expected cost,
# and what its ratio compares.
DRIVER_MEANINGS = {
    "input_tokens": ("input tokens", "input tokens per call against the baseline's"),
    "output_tokens": ("output tokens", "output tokens per call against the baseline's"),
    "extra_calls": ("extra LLM calls", "LLM calls against the cells' usual number"),
    "model_price": ("model price", "cost against the same calls at the cells' routine models"),
}


def finite(value: Any) -> float | None:
    """A number, or None for NULL, NaN and infinities."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def signed(value: Any, digits: int = 0) -> str:
    """'+15', '−8' (typographic minus), '0' when it rounds to zero."""
    number = finite(value) or 0.0
    text = f"{abs(number):.{digits}f}"
    if float(text) == 0:
        return text
    return ("+" if number > 0 else MINUS) + text


def money(amount: Any) -> str:
    """A run's or a day's cost: cents from a dollar up, more digits below (runs cost
    fractions of a cent)."""
    amount = finite(amount) or 0.0
    if amount == 0:
        return "$0"
    if abs(amount) >= 1:
        return f"${amount:,.2f}"
    if abs(amount) >= 0.001:
        return f"${amount:.4f}"
    return f"${amount:.6f}"


def signed_money(amount: Any) -> str:
    """A difference of costs: '+$0.2100', '−$0.0040'."""
    number = finite(amount) or 0.0
    text = money(abs(number))
    return text if text == "$0" else ("+" if number > 0 else MINUS) + text


def times(ratio: Any) -> str:
    """A ratio as the explanation writes it: '9.4×', '11×'."""
    number = finite(ratio)
    if number is None:
        return "—"
    return f"{number:.1f}×" if number < 10 else f"{number:.0f}×"


def axis_money(amount: float) -> str:
    """A chart axis label: two significant digits are enough."""
    if amount == 0:
        return "$0"
    if amount >= 100:
        return f"${amount:,.0f}"
    return f"${amount:.2g}" if amount < 1 else f"${amount:.2f}"


def duration(milliseconds: Any) -> str:
    milliseconds = finite(milliseconds) or 0.0
    seconds = milliseconds / 1000
    if seconds < 1:
        return f"{milliseconds:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def utc_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def series_name(cascade_id: str) -> str:
    return "All cascades" if cascade_id == TOTAL else cascade_id


def is_total(cascade_id: str) -> bool:
    return cascade_id == TOTAL


@dataclass(frozen=True)
class Badge:
    kind: str  # a class suffix from a fixed list
    label: str
    title: str


def design_anomaly(z_score: Any) -> Badge:
    """The design's badge: 🔴 HIGH (z > 2), 🟢 LOW (z < −2), 🟡 WATCH (1 < |z| <= 2), 🟢 OK,
    with its tooltip "Cost is 2.4σ from normal" (negative below normal)."""
    z = finite(z_score)
    if z is None:
        return Badge("unknown", "—", "No cost z-score")
    if z > OUTLIER_Z:
        kind, label = "high", "🔴 HIGH"
    elif z < -OUTLIER_Z:
        kind, label = "low", "🟢 LOW"
    elif abs(z) > WATCH_Z:
        kind, label = "watch", "🟡 WATCH"
    else:
        kind, label = "normal", "🟢 OK"
    magnitude = f"{abs(z):.1f}"
    shown = magnitude if z >= 0 or float(magnitude) == 0 else MINUS + magnitude
    return Badge(kind, label, f"Cost is {shown}σ from normal")


def change_direction(change_pct: Any) -> str:
    """up, down or flat, as the design's "vs Recent" shows it (rounded to a whole percent)."""
    text = signed(change_pct)
    return "flat" if text == "0" else "up" if text.startswith("+") else "down"


def input_kind(category: str) -> str:
    return category if category in CATEGORY_ORDER else "other"


def severity_kind(severity: str) -> str:
    return severity if severity in REGRESSION_SEVERITIES else "unknown"


def trend_kind(trend: str) -> str:
    return trend if trend in TRENDS else "unknown"


def trend_label(trend: str) -> str:
    return TRENDS.get(trend, trend)


def regression_title(run: Any) -> str:
    """The design's tooltip: "Regression detected: +35% cost vs recent" (and duration)."""
    return (f"Regression detected: {signed(run['vs_recent_avg_cost'])}% cost vs recent "
            f"({signed(run['vs_recent_avg_duration'])}% duration, "
            f"{run['regression_severity']})")


def our_flags(run: Any) -> list[Badge]:
    """Our badges for a run (a page row or the session document's robust_detection):
    cost anomaly, duration anomaly, significant regression; [] when none applies."""
    flags = []
    if run["is_cost_anomaly"]:
        flags.append(Badge("cost", "⚠ cost anomaly",
                           f"Ours: robust cost score {finite(run['cost_robust_z']) or 0:.1f}, "
                           "cost against what runs like this one cost"))
    if run["is_duration_anomaly"]:
        flags.append(Badge("duration", "⏱ duration anomaly",
                           "Ours: robust duration score "
                           f"{finite(run['duration_robust_z']) or 0:.1f}"))
    if run["is_regression_significant"]:
        flags.append(Badge("regression", "▲ significant regression",
                           f"Ours: change-point test, p = {p_value(run['regression_p_value'])}"))
    return flags


def p_value(value: Any) -> str:
    number = finite(value)
    return "—" if number is None else f"{number:.2g}"


def pareto_sample(significant: bool) -> str:
    """What a Pareto recommendation's evidence badge says it rests on."""
    if significant:
        return f"{MIN_TAKES_PER_MODEL} or more decided takes for this model and the advised one"
    return f"fewer than {MIN_TAKES_PER_MODEL} decided takes for this model or the advised one"


def baseline_meaning(baseline: str) -> str:
    return BASELINE_MEANINGS.get(baseline, baseline)


def driver_name(driver: str) -> str:
    return DRIVER_MEANINGS[driver][0] if driver in DRIVER_MEANINGS else driver


def driver_ratio_meaning(driver: str) -> str:
    return DRIVER_MEANINGS[driver][1] if driver in DRIVER_MEANINGS else ""
