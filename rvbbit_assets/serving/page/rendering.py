"""The page's HTML, rendered from the Jinja2 templates beside this module (autoescaped).

Templates and the stylesheet are found through the package (`PackageLoader`, and
`StaticFiles(packages=...)` in endpoints.py), so an installed wheel has them too. Every value
from the store is escaped by Jinja; every class name derived from data comes from a fixed
list (formatting.py).
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import quote

import jinja2

from rvbbit_assets.analysis.forecasting import HISTORY_DAYS, projection_sentence
from rvbbit_assets.serving.page import chart, formatting
from rvbbit_assets.serving.page.data import PageData

STYLESHEET = "/static/page.css"


def run_href(session_id: str) -> str:
    """The run view of a session; the id is one path segment, whatever it holds."""
    return "/runs/" + quote(session_id, safe="")


def api_href(kind: str, identifier: str) -> str:
    """The JSON document of a run ("session") or cascade."""
    return f"/api/analytics/{kind}/{quote(identifier, safe='')}"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("rvbbit_assets.serving.page", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        money=formatting.money,
        signed_money=formatting.signed_money,
        signed=formatting.signed,
        times=formatting.times,
        duration=formatting.duration,
        utc_time=formatting.utc_time,
        p_value=formatting.p_value,
    )
    env.globals.update(
        stylesheet=STYLESHEET,
        history_days=HISTORY_DAYS,
        run_href=run_href,
        api_href=api_href,
        finite=formatting.finite,
        design_anomaly=formatting.design_anomaly,
        change_direction=formatting.change_direction,
        input_kind=formatting.input_kind,
        severity_kind=formatting.severity_kind,
        trend_kind=formatting.trend_kind,
        trend_label=formatting.trend_label,
        regression_title=formatting.regression_title,
        our_flags=formatting.our_flags,
        pareto_sample=formatting.pareto_sample,
        baseline_meaning=formatting.baseline_meaning,
        driver_name=formatting.driver_name,
        driver_ratio_meaning=formatting.driver_ratio_meaning,
        is_total=formatting.is_total,
        series_name=formatting.series_name,
        chart_geometry=chart.chart_geometry,
        chart_axis_start=chart.axis_start,
        projection_sentence=projection_sentence,
    )
    return env


def render(template: str, now: datetime, **context: Any) -> str:
    return environment().get_template(template).render(now=now, **context)


def render_page(data: PageData, now: datetime) -> str:
    """The whole page; a friendly notice instead of sections when there is nothing yet."""
    if data.tables_missing:
        return render("setup_notice.html", now, tables_missing=data.tables_missing)
    if data.summary is None or not data.summary.run_count:
        return render("empty_notice.html", now)
    return render("page.html", now, data=data, summary=data.summary,
                  total_chart=next((c for c in data.charts if formatting.is_total(c.cascade_id)),
                                   None))


def render_run(document: dict[str, Any], now: datetime) -> str:
    """The run view of one session's analytics document (views.session_analytics)."""
    return render("run.html", now, run=document)


def render_failure(title: str, message: str, now: datetime) -> str:
    return render("failure.html", now, title=title, message=message)
