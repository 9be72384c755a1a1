"""The geometry of a forecast chart: where each line, band, point and label goes.

The drawing itself is the `forecast_chart` macro (templates/macros/chart.html); this module
only maps days and dollars to the SVG's coordinates, as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from rvbbit_assets.serving.page.data import ForecastChart
from rvbbit_assets.serving.page.formatting import axis_money, money, series_name

WIDTH, HEIGHT = 320, 150
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 46, 312, 10, 124


@dataclass(frozen=True)
class Mark:
    """A point or a label: its position (SVG text) and what it says."""

    x: str
    y: str
    text: str
    anchor: str = "middle"


@dataclass(frozen=True)
class GridLine:
    """A horizontal line at `y`, its dollars labelled left of the plot."""

    y: str
    label_y: str
    text: str


@dataclass(frozen=True)
class ChartGeometry:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    label: str
    grid: list[GridLine]
    band: str  # polygon points of the forecast interval ('' without a forecast)
    band_title: str
    divider_x: str  # the forecast origin ('' without a forecast)
    history_path: str
    forecast_path: str
    history_points: list[Mark]
    forecast_points: list[Mark]
    days: list[Mark]  # the time axis: first day, forecast origin, last day


def _xy(x: float, y: float) -> str:
    return f"{x:.1f},{y:.1f}"


def _path(points: Sequence[tuple[float, float]]) -> str:
    return "M" + " L".join(_xy(x, y) for x, y in points) if points else ""


def _points(points: Iterable[tuple[float, float]]) -> str:
    return " ".join(_xy(x, y) for x, y in points)


def chart_geometry(chart: ForecastChart, first_day: date) -> ChartGeometry:
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

    # The forecast continues from the last actual day, so line and band join the history.
    anchor = [(x(d), y(cost)) for d, cost in chart.history[-1:]]
    upper = [(x(d), y(hi)) for d, _, _, hi in chart.forecast]
    lower = [(x(d), y(lo)) for d, _, lo, _ in reversed(chart.forecast)]
    origin = chart.forecast[0][0] - timedelta(days=1) if chart.forecast else last_day
    return ChartGeometry(
        width=WIDTH, height=HEIGHT, plot_left=PLOT_LEFT, plot_right=PLOT_RIGHT,
        plot_top=PLOT_TOP, plot_bottom=PLOT_BOTTOM,
        label=f"{series_name(chart.cascade_id)}: daily cost and forecast",
        grid=[GridLine(f"{y(top * f):.1f}", f"{y(top * f) + 3:.1f}", axis_money(top * f))
              for f in (0.0, 0.5, 1.0)],
        band=_points(anchor + upper + lower) if chart.forecast else "",
        band_title=f"{chart.coverage:.0%} prediction interval",
        divider_x=f"{x(origin):.1f}" if chart.forecast else "",
        history_path=_path([(x(d), y(c)) for d, c in chart.history]),
        forecast_path=_path(anchor + [(x(d), y(p)) for d, p, _, _ in chart.forecast])
        if chart.forecast else "",
        history_points=[Mark(f"{x(d):.1f}", f"{y(c):.1f}", f"{d:%a %Y-%m-%d}: {money(c)}")
                        for d, c in chart.history],
        forecast_points=[
            Mark(f"{x(d):.1f}", f"{y(p):.1f}",
                 f"{d:%a %Y-%m-%d}: forecast {money(p)} ({chart.coverage:.0%} interval "
                 f"{money(lo)} – {money(hi)})")
            for d, p, lo, hi in chart.forecast
        ],
        days=[Mark(f"{x(d):.1f}", str(HEIGHT - 12), f"{d:%b %d}", side)
              for d, side in ((first_day, "start"), (origin, "middle"), (last_day, "end"))],
    )


def axis_start(charts: Sequence[ForecastChart]) -> date:
    """The earliest day any chart has: a load younger than HISTORY_DAYS fills the width."""
    return min((c.history[0][0] if c.history else c.forecast[0][0]) for c in charts)
