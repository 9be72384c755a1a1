"""The page's routes: GET / (the page), GET /runs/{session_id} (a run view) and /static (its
stylesheet), each answered with HTML, its failures too (the details only in the server log).

No JavaScript: every HTML answer carries a Content-Security-Policy that allows no script at
all, and styles only from this server's stylesheet.
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from rvbbit_assets.orchestration.day_range import utc_now
from rvbbit_assets.serving import path_ids  # noqa: F401  (registers the any_id path convertor)
from rvbbit_assets.serving.failures import INTERNAL_ERROR, ApiError, failure_for
from rvbbit_assets.serving.page import data
from rvbbit_assets.serving.page.rendering import render_failure, render_page, render_run
from rvbbit_assets.serving.store_reads import read_session
from rvbbit_assets.serving.views import checked_id, session_analytics
from rvbbit_assets.store import ClickHouseStore

log = logging.getLogger("rvbbit_assets.serving.page")

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
FAILURE_TITLES = {
    "bad_request": "Not a run id",
    "not_found": "No such run",
    "store_busy": "The analytics store is busy",
    "store_unavailable": "The analytics store is unavailable",
    "internal_error": "Internal error",
}


def _html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})


def _failure_page(exc: Exception) -> HTMLResponse:
    """The HTML answer to a failed page request; call it from an `except` block."""
    failure = failure_for(exc)
    if failure is None:
        log.exception("analytics page failed")
        failure = INTERNAL_ERROR
    message = failure.message[:1].upper() + failure.message[1:] + "."
    return _html(render_failure(FAILURE_TITLES.get(failure.code, "Error"), message, utc_now()),
                 failure.status, failure.headers)


def page_response(store: ClickHouseStore) -> HTMLResponse:
    """The page, or a short HTML error page."""
    try:
        with read_session(store, "page") as session:
            page_data = data.load_page_data(session)
        return _html(render_page(page_data, utc_now()))
    except Exception as exc:
        return _failure_page(exc)


def run_view_response(store: ClickHouseStore, raw_session_id: str) -> HTMLResponse:
    """One run's view; 400 for an id that cannot be one, 404 for a run not analysed."""
    try:
        session_id = checked_id(raw_session_id, "session id")
        with read_session(store, "run view") as session:
            document = session_analytics(session, session_id)
        if document is None:
            raise ApiError(404, "not_found", f"no analysed run has the session id “{session_id}”")
        return _html(render_run(document, utc_now()))
    except Exception as exc:
        return _failure_page(exc)


def page_routes(store: ClickHouseStore) -> list[BaseRoute]:
    """GET / and GET /runs/{session_id} (HEAD too), read in the threadpool like the JSON
    endpoints; the stylesheet from the package's static folder."""

    async def analytics_page(request: Request) -> HTMLResponse:
        return await run_in_threadpool(page_response, store)

    async def run_view(request: Request) -> HTMLResponse:
        return await run_in_threadpool(run_view_response, store,
                                       request.path_params["session_id"])

    return [
        Route("/", analytics_page, methods=["GET"]),
        Route("/runs/{session_id:any_id}", run_view, methods=["GET"]),
        Mount("/static", app=StaticFiles(packages=[("rvbbit_assets.serving.page", "static")]),
              name="static"),
    ]
