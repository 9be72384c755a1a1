"""GET /: the read-only analytics page, server-rendered HTML with small inline SVG charts.

What the design's console shows, for a person rather than a program: the latest runs with
the design's badges (anomaly 🔴/🟡/🟢 with the z-score as tooltip, "vs recent" change,
input type, regression icon), the latest regressions, a chart per cascade of the last 30
days' daily cost with the 7-day forecast and its interval, the Pareto recommendations and the
winner pattern suggestions ("💡 Try 'step by step' (in 85% of winners)"), significant first.

No JavaScript and no build step: the page is one HTML document with inline CSS, sent with
a Content-Security-Policy that allows no script at all. Every value from the store goes
through `esc` (ids are free text: quotes and `<script>` must stay text), and every class
name derived from data comes from a fixed list. The store is held only while the data is
read (`load_page_data`); rendering happens after it is released.
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from rvbbit_assets.assets.forecasts import (
    HISTORY_DAYS,
    TOTAL,
    daily_costs,
    daily_series,
    projection_sentence,
)
from rvbbit_assets.assets.input_complexity import CATEGORY_ORDER
from rvbbit_assets.assets.pareto_frontier import MIN_TAKES_PER_MODEL, frontier_rows
from rvbbit_assets.assets.prompt_patterns import species_patterns
from rvbbit_assets.day_partitions import utc_now
from rvbbit_assets.store import ClickHouseStore, StoreBusyError, StoreError, StoreSession

log = logging.getLogger("rvbbit_assets.api.page")

RECENT_RUNS = 50
RECENT_REGRESSIONS = 20
PARETO_ROWS = 20
PATTERN_SPECIES = 12
PATTERNS_PER_SPECIES = 3
# The design's thresholds: |z| > 2 is an outlier (is_cost_outlier), 1 < |z| <= 2 worth a look.
OUTLIER_Z = 2.0
WATCH_Z = 1.0
REGRESSION_SEVERITIES = ("minor", "major", "critical")
TRENDS = {"increasing": "↗ increasing", "decreasing": "↘ decreasing", "flat": "→ flat"}
MINUS = "\u2212"  # the typographic minus of "−8%"
PAGE_TABLES = ("cascade_analytics", "forecasts", "forecast_weekly", "pareto_frontier",
               "prompt_patterns")
# No script may run on this page, whatever a stored id contains; styles are inline.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


# --- the data, read in one short store session ----------------------------------------------


@dataclass(frozen=True)
class Summary:
    run_count: int
    first_run_at: datetime | None
    last_run_at: datetime | None
    total_cost: float
    cost_outliers: int
    regressions: int


@dataclass(frozen=True)
class ForecastChart:
    """One series: its daily costs up to the forecast origin and the forecast after it."""

    cascade_id: str  # TOTAL for all cascades together
    history: list[tuple[date, float]]
    forecast: list[tuple[date, float, float, float]]  # day, predicted, lower, upper
    trend: str  # the design's: the sign of its line's slope
    confidence: float  # the design's: R² of that line
    trend_significant: str  # ours: flat unless the slope is significant
    projected_cost: float
    plus_minus: float
    coverage: float


@dataclass(frozen=True)
class PageData:
    tables_missing: tuple[str, ...]
    summary: Summary | None = None
    recent_runs: tuple[dict[str, Any], ...] = ()
    regressions: tuple[dict[str, Any], ...] = ()
    charts: tuple[ForecastChart, ...] = ()
    pareto: tuple[dict[str, Any], ...] = ()
    pareto_total: int = 0
    patterns: tuple[dict[str, Any], ...] = ()  # by species (prompt_patterns.species_patterns)
    pattern_species_total: int = 0


_SUMMARY_SQL = """
SELECT count() AS run_count, min(created_at) AS first_run_at, max(created_at) AS last_run_at,
       sum(total_cost) AS total_cost, countIf(is_cost_outlier) AS cost_outliers,
       countIf(is_regression) AS regressions
FROM ${analytics}.cascade_analytics
"""

_RUN_COLUMNS = """
    session_id, cascade_id, created_at, input_category, total_cost, total_duration_ms,
    primary_model, cost_z_score, vs_recent_avg_cost, vs_recent_avg_duration, is_regression,
    regression_severity, cost_complete
"""

_RECENT_RUNS_SQL = f"""
SELECT {_RUN_COLUMNS}
FROM ${{analytics}}.cascade_analytics
ORDER BY created_at DESC, session_id DESC
LIMIT {{limit:UInt32}}
"""

_REGRESSIONS_SQL = f"""
SELECT {_RUN_COLUMNS}
FROM ${{analytics}}.cascade_analytics
WHERE is_regression
ORDER BY created_at DESC, session_id DESC
LIMIT {{limit:UInt32}}
"""

_FORECASTS_SQL = """
SELECT f.cascade_id AS cascade_id, f.day AS day, f.predicted_cost AS predicted_cost,
       f.lower_bound AS lower_bound, f.upper_bound AS upper_bound, f.trend AS trend,
       f.confidence AS confidence, f.trend_significant AS trend_significant,
       f.history_end AS history_end, w.projected_cost AS projected_cost,
       w.plus_minus AS plus_minus, w.coverage AS coverage
FROM ${analytics}.forecasts AS f
INNER JOIN ${analytics}.forecast_weekly AS w ON w.cascade_id = f.cascade_id
ORDER BY cascade_id, day
"""


def _records(session: StoreSession, sql: str, params: dict[str, Any] | None = None
             ) -> list[dict[str, Any]]:
    result = session.client.query(session.render(sql), parameters=params or {})
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def load_page_data(session: StoreSession) -> PageData:
    """Everything the page shows, read from the analytics tables (read only)."""
    present = {
        row[0]
        for row in session.rows(
            "SELECT name FROM system.tables WHERE database = {db:String}",
            {"db": session.analytics_database},
        )
    }
    missing = tuple(table for table in PAGE_TABLES if table not in present)
    if missing:
        return PageData(tables_missing=missing)
    (totals,) = _records(session, _SUMMARY_SQL)
    summary = Summary(
        run_count=int(totals["run_count"]),
        first_run_at=totals["first_run_at"] if totals["run_count"] else None,
        last_run_at=totals["last_run_at"] if totals["run_count"] else None,
        total_cost=_finite(totals["total_cost"]) or 0.0,
        cost_outliers=int(totals["cost_outliers"]),
        regressions=int(totals["regressions"]),
    )
    if not summary.run_count:
        return PageData(tables_missing=(), summary=summary)
    pareto, pareto_total = frontier_rows(session, None, advised_only=True, limit=PARETO_ROWS)
    patterns, pattern_species = species_patterns(
        session, None, per_species=PATTERNS_PER_SPECIES, species_limit=PATTERN_SPECIES)
    return PageData(
        tables_missing=(),
        summary=summary,
        recent_runs=tuple(_records(session, _RECENT_RUNS_SQL, {"limit": RECENT_RUNS})),
        regressions=tuple(_records(session, _REGRESSIONS_SQL, {"limit": RECENT_REGRESSIONS})),
        charts=tuple(_forecast_charts(session)),
        pareto=tuple(pareto),
        pareto_total=pareto_total,
        patterns=tuple(patterns),
        pattern_species_total=pattern_species,
    )


def _forecast_charts(session: StoreSession) -> list[ForecastChart]:
    """Each forecast series with the daily costs of the HISTORY_DAYS up to its origin (the
    days the forecast was fitted on, days without runs as zero): the total first, then by
    projected weekly cost, largest first."""
    rows = _records(session, _FORECASTS_SQL)
    if not rows:
        return []
    history_end: date = max(row["history_end"] for row in rows)
    window_start = history_end - timedelta(days=HISTORY_DAYS - 1)
    history = daily_series(daily_costs(session, window_start, history_end), history_end)
    by_series: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_series.setdefault(row["cascade_id"], []).append(row)
    charts = []
    for cascade_id, days in by_series.items():
        series = history.get(cascade_id)
        first = days[0]
        charts.append(
            ForecastChart(
                cascade_id=cascade_id,
                history=[] if series is None else [
                    (day, float(cost)) for day, cost in series.items() if day >= window_start
                ],
                forecast=[
                    (row["day"], float(row["predicted_cost"]), float(row["lower_bound"]),
                     float(row["upper_bound"]))
                    for row in days
                ],
                trend=first["trend"],
                confidence=float(first["confidence"]),
                trend_significant=first["trend_significant"],
                projected_cost=float(first["projected_cost"]),
                plus_minus=float(first["plus_minus"]),
                coverage=float(first["coverage"]),
            )
        )
    charts.sort(key=lambda chart: (chart.cascade_id != TOTAL, -chart.projected_cost,
                                   chart.cascade_id))
    return charts


# --- formatting --------------------------------------------------------------------------------


def esc(value: object) -> str:
    """Text or attribute value, inert whatever it holds (quotes included)."""
    return html.escape(str(value), quote=True)


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def signed(value: float, digits: int = 0) -> str:
    """'+15', '−8' (typographic minus), '0' when it rounds to zero."""
    text = f"{abs(value):.{digits}f}"
    if float(text) == 0:
        return text
    return ("+" if value > 0 else MINUS) + text


def money(amount: float) -> str:
    """A run's or a day's cost: cents from a dollar up, more digits below (runs cost
    fractions of a cent)."""
    if amount == 0:
        return "$0"
    if abs(amount) >= 1:
        return f"${amount:,.2f}"
    if abs(amount) >= 0.001:
        return f"${amount:.4f}"
    return f"${amount:.6f}"


def axis_money(amount: float) -> str:
    """A chart axis label: two significant digits are enough."""
    if amount == 0:
        return "$0"
    if amount >= 100:
        return f"${amount:,.0f}"
    return f"${amount:.2g}" if amount < 1 else f"${amount:.2f}"


def duration(milliseconds: float) -> str:
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


def api_link(kind: str, identifier: str, label: str) -> str:
    """A link to the run's or cascade's JSON document; the id is one path segment."""
    href = f"/api/analytics/{kind}/{quote(identifier, safe='')}"
    return f'<a href="{esc(href)}">{esc(label)}</a>'


# --- the design's badges -----------------------------------------------------------------------


def anomaly_badge(z_score: Any) -> str:
    """🔴 HIGH (z > 2), 🟢 LOW (z < −2), 🟡 WATCH (1 < |z| <= 2), 🟢 OK; the z as tooltip."""
    z = _finite(z_score)
    if z is None:
        return '<span class="badge badge-anomaly-unknown" title="No cost z-score">—</span>'
    if z > OUTLIER_Z:
        kind, label = "high", "🔴 HIGH"
    elif z < -OUTLIER_Z:
        kind, label = "low", "🟢 LOW"
    elif abs(z) > WATCH_Z:
        kind, label = "watch", "🟡 WATCH"
    else:
        kind, label = "normal", "🟢 OK"
    # The design's tooltip: "Cost is 2.4σ from normal" (negative below normal).
    magnitude = f"{abs(z):.1f}"
    shown = magnitude if z >= 0 or float(magnitude) == 0 else MINUS + magnitude
    return (f'<span class="badge badge-anomaly-{kind}" title="Cost is {shown}σ from normal">'
            f"{label}</span>")


def vs_recent(change_pct: Any) -> str:
    """The design's "vs Recent": +15% / −8%."""
    change = _finite(change_pct) or 0.0
    text = signed(change) + "%"
    direction = "flat" if text == "0%" else "up" if change > 0 else "down"
    return (f'<span class="vs-recent vs-recent-{direction}" title="Average cost of the '
            f'species\' last 10 earlier runs vs the 10 before them">{esc(text)}</span>')


def input_badge(category: str) -> str:
    kind = category if category in CATEGORY_ORDER else "other"
    return f'<span class="badge badge-input-{kind}">{esc(category or "?")}</span>'


def severity_class(severity: str) -> str:
    return severity if severity in REGRESSION_SEVERITIES else "unknown"


def regression_icon(run: dict[str, Any]) -> str:
    """📈 with the design's tooltip, "Regression detected: +35% cost vs recent"."""
    if not run["is_regression"]:
        return ""
    cost = signed(_finite(run["vs_recent_avg_cost"]) or 0.0)
    time_change = signed(_finite(run["vs_recent_avg_duration"]) or 0.0)
    severity = run["regression_severity"]
    title = (f"Regression detected: {cost}% cost vs recent "
             f"({time_change}% duration, {severity})")
    return (f'<span class="regression-icon regression-{severity_class(severity)}" '
            f'title="{esc(title)}">📈</span>')


def severity_badge(severity: str) -> str:
    return f'<span class="badge badge-severity-{severity_class(severity)}">{esc(severity)}</span>'


# --- sections ----------------------------------------------------------------------------------


def _summary_tiles(summary: Summary, total_chart: ForecastChart | None) -> str:
    span = (
        f"{summary.first_run_at:%Y-%m-%d} → {summary.last_run_at:%Y-%m-%d}"
        if summary.first_run_at and summary.last_run_at else "—"
    )
    tiles = [
        ("Runs analysed", f"{summary.run_count:,}", span),
        ("Total cost", money(summary.total_cost), "over every analysed run"),
        ("Cost outliers", f"{summary.cost_outliers:,}", "|z| > 2 within their input type"),
        ("Regressions", f"{summary.regressions:,}", "recent runs costlier or slower"),
    ]
    if total_chart is not None:
        tiles.append((
            "Next 7 days",
            f"{money(total_chart.projected_cost)} ± {money(total_chart.plus_minus)}",
            f"projected, {total_chart.coverage:.0%} interval",
        ))
    return '<div class="tiles">' + "".join(
        f'<div class="tile"><div class="tile-label">{esc(label)}</div>'
        f'<div class="tile-value">{esc(value)}</div><div class="tile-note">{esc(note)}</div>'
        "</div>"
        for label, value, note in tiles
    ) + "</div>"


def cost_pending(run: dict[str, Any]) -> str:
    """⏳ after the cost of a run whose late cost has not all arrived: it is not that cheap."""
    if run["cost_complete"]:
        return ""
    return ('<span class="cost-pending" title="Cost not complete: some responses have no '
            'cost yet (it arrives late); the run is recomputed when it lands">⏳</span>')


def _run_row(run: dict[str, Any]) -> str:
    cost = _finite(run["total_cost"]) or 0.0
    started: datetime = run["created_at"]
    return (
        f'<tr class="run-row">'
        f'<td class="time" title="{esc(utc_time(started))}">{started:%m-%d %H:%M}</td>'
        f'<td class="id">{api_link("session", run["session_id"], run["session_id"])}</td>'
        f'<td class="id">{api_link("cascade", run["cascade_id"], run["cascade_id"])}</td>'
        f"<td>{input_badge(run['input_category'])}</td>"
        f'<td class="num">{esc(money(cost))}{cost_pending(run)}</td>'
        f"<td>{anomaly_badge(run['cost_z_score'])}</td>"
        f'<td class="num">{vs_recent(run["vs_recent_avg_cost"])} {regression_icon(run)}</td>'
        f'<td class="num">{esc(duration(_finite(run["total_duration_ms"]) or 0.0))}</td>'
        f'<td class="model">{esc(run["primary_model"] or "—")}</td>'
        "</tr>"
    )


def _recent_runs_section(runs: Sequence[dict[str, Any]]) -> str:
    header = "".join(
        f"<th{' class=num' if numeric else ''}>{esc(name)}</th>"
        for name, numeric in (
            ("Started (UTC)", False), ("Session", False), ("Cascade", False),
            ("Input type", False), ("Cost", True), ("Anomaly", False), ("vs Recent", True),
            ("Duration", True), ("Model", False),
        )
    )
    rows = "".join(_run_row(run) for run in runs)
    return (
        '<section id="recent-runs" class="card">'
        f"<h2>Recent runs <small>latest {len(runs)}</small></h2>"
        '<div class="scroll tall"><table class="runs">'
        f"<thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table></div>"
        '<p class="legend">Anomaly: cost z-score within the run\'s input type (hover for '
        "σ) — 🔴 HIGH &gt; 2σ, 🟡 WATCH 1–2σ, 🟢 LOW &lt; −2σ, 🟢 OK. "
        "vs Recent: the species' last 10 runs vs the 10 before them; 📈 marks a "
        "regression.</p></section>"
    )


def _regressions_section(regressions: Sequence[dict[str, Any]], total: int) -> str:
    if not regressions:
        body = '<p class="empty">No regressions detected.</p>'
    else:
        rows = "".join(
            '<tr class="regression-row">'
            f'<td class="time" title="{esc(utc_time(r["created_at"]))}">'
            f'{r["created_at"]:%m-%d %H:%M}</td>'
            f'<td class="id">{api_link("cascade", r["cascade_id"], r["cascade_id"])}'
            f'<div class="sub">{api_link("session", r["session_id"], r["session_id"])}</div></td>'
            f'<td class="severity">{regression_icon(r)} '
            f"{severity_badge(r['regression_severity'])}</td>"
            f'<td class="num">{esc(signed(_finite(r["vs_recent_avg_cost"]) or 0.0))}%</td>'
            f'<td class="num">{esc(signed(_finite(r["vs_recent_avg_duration"]) or 0.0))}%</td>'
            "</tr>"
            for r in regressions
        )
        body = (
            '<div class="scroll"><table class="regressions"><thead><tr><th>Started</th>'
            "<th>Cascade · session</th><th>Severity</th><th class=num>Cost</th>"
            f"<th class=num>Duration</th></tr></thead><tbody>{rows}</tbody></table></div>"
            '<p class="legend">Cost and duration: the species\' last 10 runs vs the 10 before '
            "them (a regression: cost +20% or duration +30%).</p>"
        )
    return (
        '<section id="regressions" class="card">'
        f"<h2>Regressions <small>latest {len(regressions)} of {total:,}</small></h2>"
        f"{body}</section>"
    )


def evidence_badge(significant: bool, sample: str) -> str:
    """Whether an insight rests on enough data (`sample` says on how much)."""
    kind, label = ("significant", "significant") if significant else ("weak", "not significant")
    return f'<span class="badge badge-{kind}" title="{esc(sample)}">{label}</span>'


def _pareto_sample(significant: bool) -> str:
    if significant:
        return f"{MIN_TAKES_PER_MODEL} or more decided takes for this model and the advised one"
    return f"fewer than {MIN_TAKES_PER_MODEL} decided takes for this model or the advised one"


def _pareto_section(rows: Sequence[dict[str, Any]], total: int) -> str:
    if not rows:
        body = ('<p class="empty">No recommendation yet: no cheaper model of similar quality '
                "on any frontier.</p>")
    else:
        items = "".join(
            '<tr class="pareto-row">'
            f'<td class="id">{esc(r["cascade_id"])} · {esc(r["cell_name"])}'
            f'<div class="sub" title="species {esc(r["species_hash"])}">'
            f'species {esc(r["species_hash"][:10])}</div></td>'
            f'<td class="model">{esc(r["model"])}<div class="sub">{int(r["take_count"]):,} takes'
            f" · {esc(money(float(r['avg_cost'])))}/take</div></td>"
            f'<td><span class="pareto-recommendation">{esc(r["recommendation"])}</span>'
            + (f' <span class="badge badge-saving">saves {float(r["cost_saving"]):.0%}</span>'
               if _finite(r["cost_saving"]) is not None else "")
            + " " + evidence_badge(r["significant"], _pareto_sample(r["significant"]))
            + "</td></tr>"
            for r in rows
        )
        body = (
            '<div class="scroll"><table class="pareto"><thead><tr><th>Cascade · cell</th>'
            f"<th>Model</th><th>Recommendation</th></tr></thead><tbody>{items}</tbody>"
            "</table></div>"
            '<p class="legend">Significant advice first; the rest rests on few takes.</p>'
        )
    return (
        '<section id="pareto" class="card">'
        f"<h2>Pareto recommendations <small>{len(rows)} of {total:,}</small></h2>"
        f"{body}</section>"
    )


def _pattern_item(pattern: dict[str, Any], species: dict[str, Any]) -> str:
    sample = (f"{species['winner_prompts']:,} winner and {species['loser_prompts']:,} loser "
              f"base prompts, z = {pattern['z_score']:.1f}")
    return (
        '<li class="pattern-row">'
        f'<span class="pattern-suggestion">{esc(pattern["suggestion"])}</span> '
        f'<span class="sub">vs {pattern["loser_freq"]:.0%} of losers · lift '
        f'{esc(signed(pattern["lift"] * 100))} pts</span> '
        f"{evidence_badge(pattern['significant'], sample)}</li>"
    )


def _patterns_section(species: Sequence[dict[str, Any]], total: int) -> str:
    if not species:
        body = ('<p class="empty">No winner patterns yet: they need base prompts of winning '
                "and losing takes in prompt_lineage.</p>")
    else:
        cards = "".join(
            '<div class="pattern-species">'
            f'<div class="pattern-head">{api_link("cascade", s["cascade_id"], s["cascade_id"])}'
            f' · {esc(s["cell_name"])} <span class="sub" title="species {esc(s["species_hash"])}'
            f'">species {esc(s["species_hash"][:10])} · {s["winner_prompts"]:,}/'
            f'{s["loser_prompts"]:,} prompts (won/lost) · {s["pattern_count"]:,} patterns'
            "</span></div>"
            f'<ul class="patterns">{"".join(_pattern_item(p, s) for p in s["patterns"])}</ul>'
            "</div>"
            for s in species
        )
        body = (
            f'<div class="pattern-grid">{cards}</div>'
            '<p class="legend">Trigrams of the base prompts in more winners than losers (lift '
            "&gt; 15 points), per species; significant ones first (20 prompts of each outcome "
            "and z ≥ 3), then the rest.</p>"
        )
    return (
        '<section id="patterns" class="card">'
        f"<h2>Winner patterns <small>{len(species)} of {total:,} species</small></h2>"
        f"{body}</section>"
    )


# --- the forecast chart ------------------------------------------------------------------------

CHART_WIDTH, CHART_HEIGHT = 320, 150
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 46, 312, 10, 124


def _points(points: Iterable[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def forecast_svg(chart: ForecastChart, first_day: date) -> str:
    """The last HISTORY_DAYS days (solid), the forecast (dashed) and its interval (band),
    on a time axis from `first_day` (shared by the page's charts, so they line up) to the
    last forecast day."""
    last_day = chart.forecast[-1][0] if chart.forecast else chart.history[-1][0]
    span_days = max((last_day - first_day).days, 1)
    peak = max([cost for _, cost in chart.history]
               + [max(p, hi) for _, p, _, hi in chart.forecast] + [0.0])
    top = peak * 1.08 if peak > 0 else 1.0

    def x(day: date) -> float:
        return PLOT_LEFT + (day - first_day).days / span_days * (PLOT_RIGHT - PLOT_LEFT)

    def y(cost: float) -> float:
        return PLOT_BOTTOM - cost / top * (PLOT_BOTTOM - PLOT_TOP)

    parts = [
        f'<svg class="forecast-chart" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" '
        f'role="img" aria-label="{esc(series_name(chart.cascade_id))}: daily cost and '
        f'forecast" xmlns="http://www.w3.org/2000/svg">'
    ]
    for fraction in (0.0, 0.5, 1.0):
        level = y(top * fraction)
        parts.append(f'<line class="grid" x1="{PLOT_LEFT}" x2="{PLOT_RIGHT}" '
                     f'y1="{level:.1f}" y2="{level:.1f}"/>')
        parts.append(f'<text class="axis" x="{PLOT_LEFT - 4}" y="{level + 3:.1f}" '
                     f'text-anchor="end">{esc(axis_money(top * fraction))}</text>')
    # The forecast continues from the last actual day, so line and band join the history.
    anchor = [chart.history[-1]] if chart.history else []
    if chart.forecast:
        upper = [(x(d), y(hi)) for d, _, _, hi in chart.forecast]
        lower = [(x(d), y(lo)) for d, _, lo, _ in reversed(chart.forecast)]
        start = [(x(d), y(cost)) for d, cost in anchor]
        parts.append(f'<polygon class="forecast-band" points="{_points(start + upper + lower)}">'
                     f"<title>{chart.coverage:.0%} prediction interval</title></polygon>")
        divider = x(chart.forecast[0][0] - timedelta(days=1))
        parts.append(f'<line class="divider" x1="{divider:.1f}" x2="{divider:.1f}" '
                     f'y1="{PLOT_TOP}" y2="{PLOT_BOTTOM}"/>')
    if chart.history:
        path = "M" + " L".join(f"{x(d):.1f},{y(c):.1f}" for d, c in chart.history)
        parts.append(f'<path class="history-line" d="{path}"/>')
    if chart.forecast:
        line = [(x(d), y(c)) for d, c in anchor] + [(x(d), y(p)) for d, p, _, _ in chart.forecast]
        path = "M" + " L".join(f"{px:.1f},{py:.1f}" for px, py in line)
        parts.append(f'<path class="forecast-line" d="{path}"/>')
    for day, cost in chart.history:
        parts.append(f'<circle class="history-point" cx="{x(day):.1f}" cy="{y(cost):.1f}" r="1.6">'
                     f"<title>{day:%a %Y-%m-%d}: {esc(money(cost))}</title></circle>")
    for day, predicted, lower_bound, upper_bound in chart.forecast:
        parts.append(
            f'<circle class="forecast-point" cx="{x(day):.1f}" cy="{y(predicted):.1f}" r="2">'
            f"<title>{day:%a %Y-%m-%d}: forecast {esc(money(predicted))} "
            f"({chart.coverage:.0%} interval {esc(money(lower_bound))} – "
            f"{esc(money(upper_bound))})</title></circle>"
        )
    origin = chart.forecast[0][0] - timedelta(days=1) if chart.forecast else last_day
    for day, anchor_side in ((first_day, "start"), (origin, "middle"), (last_day, "end")):
        parts.append(f'<text class="axis" x="{x(day):.1f}" y="{CHART_HEIGHT - 12}" '
                     f'text-anchor="{anchor_side}">{day:%b %d}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _forecast_card(chart: ForecastChart, axis_start: date) -> str:
    trend = f"{TRENDS.get(chart.trend, chart.trend)} · R² {chart.confidence:.2f}"
    trend_class = chart.trend if chart.trend in TRENDS else "unknown"
    trend_title = (f"The design's trend: the sign of the straight line's slope, R² "
                   f"{chart.confidence:.2f}. Significant trend (p < 0.05): "
                   f"{chart.trend_significant}.")
    title = (api_link("cascade", chart.cascade_id, chart.cascade_id)
             if chart.cascade_id != TOTAL else "All cascades")
    return (
        f'<div class="forecast-card{" total" if chart.cascade_id == TOTAL else ""}">'
        f'<div class="forecast-head"><span class="forecast-name">{title}</span>'
        f'<span class="trend trend-{trend_class}" title="{esc(trend_title)}">{esc(trend)}'
        "</span></div>"
        f"{forecast_svg(chart, axis_start)}"
        f'<div class="projection-sentence">'
        f"{esc(projection_sentence(chart.projected_cost, chart.plus_minus))}</div></div>"
    )


def _forecasts_section(charts: Sequence[ForecastChart]) -> str:
    if not charts:
        body = ('<p class="empty">No forecast yet: it needs a complete day of analysed runs '
                "(materialize the <code>forecasts</code> asset).</p>")
    else:
        coverage = charts[0].coverage
        # The earliest day any chart has: a load younger than HISTORY_DAYS fills the width.
        axis_start = min(
            (chart.history[0][0] if chart.history else chart.forecast[0][0]) for chart in charts
        )
        body = (
            '<div class="forecast-grid">'
            + "".join(_forecast_card(c, axis_start) for c in charts)
            + '</div><p class="legend"><span class="key key-history"></span> daily cost, '
            f"last {HISTORY_DAYS} days <span class=\"key key-forecast\"></span> 7-day "
            f'forecast <span class="key key-band"></span> {coverage:.0%} interval</p>'
        )
    return f'<section id="forecasts" class="card"><h2>Cost forecasts</h2>{body}</section>'


# --- the page ----------------------------------------------------------------------------------

STYLE = """
:root { --ink: #1e293b; --muted: #64748b; --line: #e2e8f0; --bg: #f1f5f9; --card: #fff;
  --accent: #2563eb; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif,
  "Noto Color Emoji", "Apple Color Emoji", "Segoe UI Emoji"; }
header { background: #0f172a; color: #f8fafc; padding: 14px 24px; display: flex;
  align-items: baseline; gap: 16px; }
header h1 { margin: 0; font-size: 18px; font-weight: 650; letter-spacing: .2px; }
header .meta { color: #94a3b8; font-size: 12px; }
main { max-width: 1400px; margin: 0 auto; padding: 16px 24px 32px; }
a { color: inherit; text-decoration: none; border-bottom: 1px dotted #94a3b8; }
a:hover { color: var(--accent); border-bottom-color: var(--accent); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 12px 16px 10px; margin-bottom: 16px; box-shadow: 0 1px 2px rgb(15 23 42 / 4%); }
h2 { margin: 0 0 8px; font-size: 15px; font-weight: 650; }
h2 small { color: var(--muted); font-weight: 400; font-size: 12px; margin-left: 6px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr));
  gap: 12px; margin-bottom: 16px; }
.tile { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 10px 14px; }
.tile-label { color: var(--muted); font-size: 11px; text-transform: uppercase;
  letter-spacing: .5px; }
.tile-value { font-size: 20px; font-weight: 650; margin: 2px 0; white-space: nowrap; }
.tile-note { color: var(--muted); font-size: 12px; }
.scroll { overflow: auto; max-height: 420px; border: 1px solid var(--line);
  border-radius: 6px; }
.scroll.tall { max-height: 560px; }
table { border-collapse: collapse; width: 100%; }
th { position: sticky; top: 0; background: #f8fafc; text-align: left; font-weight: 600;
  color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: .4px;
  padding: 6px 10px; border-bottom: 1px solid var(--line); z-index: 1; white-space: nowrap; }
td { padding: 4px 10px; border-bottom: 1px solid #f1f5f9; vertical-align: middle; }
tbody tr:nth-child(even) { background: #fbfdff; }
tbody tr:hover { background: #eff6ff; }
.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.time { white-space: nowrap; color: var(--muted); font-variant-numeric: tabular-nums; }
/* Ids and model names break only when one alone is wider than its column. */
.id { max-width: 280px; overflow-wrap: break-word; }
.model { color: #334155; white-space: nowrap; }
.regressions .id, .pareto .id { white-space: nowrap; }
.sub { color: var(--muted); font-size: 11px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 11px;
  font-weight: 600; white-space: nowrap; border: 1px solid transparent; }
.badge-anomaly-high { background: #fee2e2; color: #991b1b; border-color: #fecaca; }
.badge-anomaly-watch { background: #fef3c7; color: #92400e; border-color: #fde68a; }
.badge-anomaly-low { background: #d1fae5; color: #065f46; border-color: #a7f3d0; }
.badge-anomaly-normal { background: #f0fdf4; color: #166534; }
.badge-anomaly-unknown { background: #f1f5f9; color: var(--muted); }
.badge-input-tiny { background: #f1f5f9; color: #475569; }
.badge-input-small { background: #e0f2fe; color: #075985; }
.badge-input-medium { background: #e0e7ff; color: #3730a3; }
.badge-input-large { background: #ede9fe; color: #5b21b6; }
.badge-input-huge { background: #fae8ff; color: #86198f; }
.badge-input-other { background: #f1f5f9; color: var(--muted); }
.badge-severity-minor { background: #fef9c3; color: #854d0e; }
.badge-severity-major { background: #ffedd5; color: #9a3412; }
.badge-severity-critical { background: #fee2e2; color: #991b1b; }
.badge-severity-unknown { background: #f1f5f9; color: var(--muted); }
.badge-saving { background: #dcfce7; color: #166534; }
.badge-significant { background: #dbeafe; color: #1e40af; }
.badge-weak { background: #f1f5f9; color: var(--muted); }
.cost-pending { cursor: help; margin-left: 3px; }
.pattern-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr));
  gap: 10px; }
.pattern-species { border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px; }
.pattern-head { font-weight: 600; overflow-wrap: anywhere; }
.patterns { list-style: none; margin: 6px 0 0; padding: 0; }
.pattern-row { padding: 2px 0; }
.pattern-suggestion { font-weight: 600; }
.vs-recent { font-variant-numeric: tabular-nums; }
.vs-recent-up { color: #b91c1c; }
.vs-recent-down { color: #15803d; }
.vs-recent-flat { color: var(--muted); }
.regression-icon { cursor: help; margin-left: 2px; }
.severity { white-space: nowrap; }
.legend { color: var(--muted); font-size: 12px; margin: 8px 0 2px; }
.empty { color: var(--muted); margin: 6px 0 10px; }
.columns { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 16px; }
.columns > .card { margin-bottom: 16px; }
@media (max-width: 1100px) { .columns { grid-template-columns: minmax(0, 1fr); } }
.forecast-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr));
  gap: 12px; }
.forecast-card { border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px; }
.forecast-card.total { border-color: #bfdbfe; background: #f8fbff; }
.forecast-head { display: flex; justify-content: space-between; align-items: baseline;
  gap: 8px; }
.forecast-name { font-weight: 600; overflow-wrap: anywhere; }
.trend { font-size: 11px; color: var(--muted); white-space: nowrap; }
.trend-increasing { color: #b91c1c; }
.trend-decreasing { color: #15803d; }
.forecast-chart { width: 100%; height: auto; display: block; margin: 4px 0; }
.forecast-chart .grid { stroke: #eef2f7; stroke-width: 1; }
.forecast-chart .axis { fill: #94a3b8; font-size: 9px; }
.forecast-chart .divider { stroke: #cbd5e1; stroke-dasharray: 2 3; }
.forecast-chart .history-line { fill: none; stroke: #334155; stroke-width: 1.5;
  stroke-linejoin: round; }
.forecast-chart .forecast-line { fill: none; stroke: var(--accent); stroke-width: 1.8;
  stroke-dasharray: 4 3; }
.forecast-chart .forecast-band { fill: #93c5fd; fill-opacity: .45; stroke: none; }
.forecast-chart .history-point { fill: #334155; }
.forecast-chart .forecast-point { fill: var(--accent); }
.projection-sentence { font-weight: 600; font-size: 12px; }
.key { display: inline-block; width: 18px; height: 0; vertical-align: middle;
  margin: 0 4px 0 12px; }
.key-history { border-top: 2px solid #334155; }
.key-forecast { border-top: 2px dashed var(--accent); }
.key-band { height: 10px; background: #93c5fd; opacity: .6; }
.notice { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 28px 32px; max-width: 720px; margin: 40px auto; }
.notice h2 { font-size: 18px; }
code { background: #f1f5f9; padding: 1px 5px; border-radius: 4px; }
footer { color: var(--muted); font-size: 12px; text-align: center; padding: 0 0 24px; }
"""


def _document(body: str, now: datetime, subtitle: str = "") -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>RVBBIT analytics</title><style>{STYLE}</style></head><body>"
        f'<header><h1>RVBBIT analytics</h1><span class="meta">{esc(subtitle)}</span></header>'
        f"<main>{body}</main>"
        f'<footer>Rendered {esc(utc_time(now))} · read-only · JSON: '
        '<code>/api/analytics/session/{id}</code>, <code>/api/analytics/cascade/{id}</code>, '
        "<code>/api/analytics/alerts</code></footer></body></html>"
    )


def _notice(title: str, text: str) -> str:
    return f'<section class="notice" id="notice"><h2>{esc(title)}</h2><p>{text}</p></section>'


def render_page(data: PageData, now: datetime) -> str:
    """The whole page; a friendly notice instead of sections when there is nothing yet."""
    if data.tables_missing:
        return _document(_notice(
            "The analytics tables are not set up yet",
            "Missing: " + ", ".join(f"<code>{esc(t)}</code>" for t in data.tables_missing)
            + ". Run <code>rvbbit-analytics init</code>, then "
            "<code>rvbbit-analytics materialize</code>.",
        ), now)
    summary = data.summary
    if summary is None or not summary.run_count:
        return _document(_notice(
            "No analysed runs yet",
            "This page shows RVBBIT runs once the pipeline has analysed them. Run "
            "<code>rvbbit-analytics materialize</code> (or materialize the assets in the "
            "Dagster UI); new runs are picked up by the sensor.",
        ), now)
    total_chart = next((c for c in data.charts if c.cascade_id == TOTAL), None)
    latest = f"latest run {utc_time(summary.last_run_at)}" if summary.last_run_at else ""
    body = (
        _summary_tiles(summary, total_chart)
        + _recent_runs_section(data.recent_runs)
        + _forecasts_section(data.charts)
        + '<div class="columns">'
        + _regressions_section(data.regressions, summary.regressions)
        + _pareto_section(data.pareto, data.pareto_total)
        + "</div>"
        + _patterns_section(data.patterns, data.pattern_species_total)
    )
    return _document(body, now, latest)


# --- the endpoint ------------------------------------------------------------------------------


def _error_page(status: int, title: str, text: str, headers: dict[str, str] | None = None
                ) -> HTMLResponse:
    return HTMLResponse(_document(_notice(title, esc(text)), utc_now()), status_code=status,
                        headers={**PAGE_HEADERS, **(headers or {})})


def _store_wait_seconds() -> float:
    # app.py imports this module to route "/", so its helpers are imported when first used.
    from rvbbit_assets.api.app import store_wait_seconds

    return store_wait_seconds()


def page_response(store: ClickHouseStore) -> HTMLResponse:
    """The page, or a short HTML error page (the details only in the server log)."""
    try:
        with store.session("api page", timeout=_store_wait_seconds()) as session:
            data = load_page_data(session)
        return HTMLResponse(render_page(data, utc_now()), headers=PAGE_HEADERS)
    except StoreBusyError as exc:
        log.warning("store busy: %s", exc)
        return _error_page(503, "The analytics store is busy",
                           "A pipeline run holds the store; reload in a few seconds.",
                           {"Retry-After": "5"})
    except StoreError as exc:
        log.error("store unavailable: %s", exc)
        return _error_page(503, "The analytics store is unavailable",
                           "The page cannot read the analytics store right now.")
    except Exception:
        log.exception("analytics page failed")
        return _error_page(500, "Internal error", "The page could not be rendered.")


def analytics_page_endpoint(store: ClickHouseStore) -> Callable[[Request], Awaitable[Response]]:
    """GET / (and HEAD): the page, read in the threadpool like the JSON endpoints."""

    async def analytics_page(request: Request) -> Response:
        return await run_in_threadpool(page_response, store)

    return analytics_page
