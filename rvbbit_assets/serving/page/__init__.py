"""The analytics page for people (GET /) and its run views (GET /runs/{session_id}).

What the design's console shows, rendered on the server from Jinja2 templates: our flags
first (tiles, flagged runs with their cause), the latest runs with our badges beside the
design's, the forecasts, regressions, Pareto recommendations and winner patterns; and for
one run its verdict, expected versus actual cost, baselines, prediction, regression status
and cells.

  data.py        what the page shows, read in one short store session (SQL beside it)
  formatting.py  its words and numbers
  chart.py       the forecast chart's geometry (templates/macros/chart.html draws it)
  rendering.py   the Jinja2 environment and the render functions
  endpoints.py   the routes, their HTML failures and headers
"""

from rvbbit_assets.serving.page.data import (
    FLAGGED_RUNS,
    PARETO_ROWS,
    PATTERN_SPECIES,
    PATTERNS_PER_SPECIES,
    RECENT_REGRESSIONS,
    RECENT_RUNS,
    PageData,
    load_page_data,
)
from rvbbit_assets.serving.page.endpoints import page_response, page_routes, run_view_response
from rvbbit_assets.serving.page.formatting import money
from rvbbit_assets.serving.page.rendering import render_page, render_run

__all__ = [
    "FLAGGED_RUNS", "PARETO_ROWS", "PATTERNS_PER_SPECIES", "PATTERN_SPECIES",
    "RECENT_REGRESSIONS", "RECENT_RUNS", "PageData", "load_page_data", "money",
    "page_response", "page_routes", "render_page", "render_run", "run_view_response",
]
