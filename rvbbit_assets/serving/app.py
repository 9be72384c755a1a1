"""The read-only HTTP API over the analytics tables (Starlette, served by uvicorn).

Adding an endpoint is one function (`def name(call: Call) -> Any`, returning the JSON
document; it runs in the threadpool, so plain blocking store reads are fine) and one line
in `routes()`. Errors are JSON `{"error": code, "message": text}`:
400 for malformed ids or query parameters, 401 without the token when one is set
(access.py), 404 for unknown ids and paths, 503 while the embedded store is held by a
pipeline run past the API's short wait, and 500 (with the details only in the server log)
for anything unexpected.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from rvbbit_assets.serving import path_ids  # noqa: F401  (registers the any_id path convertor)
from rvbbit_assets.serving.access import BearerToken, api_token_from_env, check_exposure
from rvbbit_assets.serving.failures import INTERNAL_ERROR, ApiError, failure_for
from rvbbit_assets.serving.page import page_routes
from rvbbit_assets.serving.reads.cost_estimate import estimate_cost
from rvbbit_assets.serving.responses import error_response, json_response
from rvbbit_assets.serving.store_reads import read_session
from rvbbit_assets.serving.views import (
    AlertFilter,
    BadRequest,
    cascade_summary,
    checked_id,
    checked_text,
    recent_alerts,
    session_analytics,
)
from rvbbit_assets.store import ClickHouseStore, StoreSession

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MAX_BODY_BYTES = 1_000_000


@dataclass(frozen=True)
class Call:
    """What an endpoint gets: the request, its body (already read) and the store."""

    request: Request
    body: bytes
    store: ClickHouseStore

    def path_id(self, name: str) -> str:
        """A path parameter that is a session or cascade id (BadRequest when malformed)."""
        return checked_id(self.request.path_params[name], name)

    def query(self, allowed: set[str]) -> dict[str, str]:
        """The query parameters, each at most once and all in `allowed`."""
        items = self.request.query_params.multi_items()
        names = [name for name, _ in items]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise BadRequest(f"query parameter(s) given more than once: {', '.join(repeated)}")
        unknown = sorted(set(names) - allowed)
        if unknown:
            raise BadRequest(f"unknown query parameter(s): {', '.join(unknown)}")
        return dict(items)

    def json(self) -> Any:
        """The body as JSON (BadRequest when it is not)."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("the request body must be JSON") from None
        except RecursionError:  # a body of nothing but '[[[[...': not a 500
            raise BadRequest("the request body is nested too deeply") from None

    def session(self, purpose: str) -> AbstractContextManager[StoreSession]:
        """The store for a short read; StoreBusyError (503) after the API's short wait."""
        return read_session(self.store, purpose)


Endpoint = Callable[[Call], Any]


def _answer(fn: Endpoint, call: Call) -> Response:
    try:
        return json_response(fn(call))
    except Exception as exc:
        failure = failure_for(exc)
        if failure is None:
            raise  # Starlette logs it; _internal_error answers
        return error_response(failure.status, failure.code, failure.message, failure.headers)


def _endpoint(store: ClickHouseStore, fn: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint: reads the body (bounded), then runs `fn` in the threadpool."""

    async def endpoint(request: Request) -> Response:
        body = b""
        if request.method not in ("GET", "HEAD"):
            chunks: list[bytes] = []
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    return error_response(413, "body_too_large",
                                          f"the request body is over {MAX_BODY_BYTES} bytes")
                chunks.append(chunk)
            body = b"".join(chunks)
        return await run_in_threadpool(_answer, fn, Call(request, body, store))

    endpoint.__name__ = fn.__name__
    return endpoint


# --- endpoints: each takes a Call and returns the JSON document -------------------------------


def healthz(call: Call) -> Any:
    return {"status": "ok"}


def _found(document: dict | None, missing: str) -> dict:
    if document is None:
        raise ApiError(404, "not_found", missing)
    return document


def session_endpoint(call: Call) -> Any:
    session_id = call.path_id("session_id")
    with call.session("session") as session:
        document = session_analytics(session, session_id)
    return _found(document, f"no analytics for session {session_id!r}")


def cascade_endpoint(call: Call) -> Any:
    cascade_id = call.path_id("cascade_id")
    with call.session("cascade") as session:
        document = cascade_summary(session, cascade_id)
    return _found(document, f"no analysed runs of cascade {cascade_id!r}")


def alerts_endpoint(call: Call) -> Any:
    chosen = AlertFilter.parse(call.query(AlertFilter.PARAMETERS))
    with call.session("alerts") as session:
        return recent_alerts(session, chosen)


def predict_endpoint(call: Call) -> Any:
    """A run's cost before it runs: {"cascade_id": ..., "input": JSON text or value}."""
    body = call.json()
    if not isinstance(body, dict) or not isinstance(body.get("cascade_id"), str):
        raise BadRequest('the body must be {"cascade_id": "...", "input": ...}')
    if "input" not in body:
        raise BadRequest('the body needs "input": the run\'s input (JSON text or value)')
    cascade_id = checked_id(body["cascade_id"], "cascade id")
    raw_input = body["input"]
    try:
        input_data = raw_input if isinstance(raw_input, str) else json.dumps(raw_input)
    except RecursionError:
        raise BadRequest('"input" is nested too deeply') from None
    origin = body.get("origin", "unknown")
    if not isinstance(origin, str):
        raise BadRequest('"origin" must be a string')
    checked_text(input_data, '"input"')
    checked_text(origin, '"origin"')
    with call.session("predict") as session:
        estimate = estimate_cost(session, cascade_id, input_data, origin=origin)
    if estimate is None:
        raise ApiError(404, "no_model", "no cost model yet: too few analysed runs")
    return estimate.as_dict()


def routes(store: ClickHouseStore) -> list[BaseRoute]:
    def get(path: str, fn: Endpoint) -> Route:
        return Route(path, _endpoint(store, fn), methods=["GET"])

    def post(path: str, fn: Endpoint) -> Route:
        return Route(path, _endpoint(store, fn), methods=["POST"])

    return [
        *page_routes(store),
        get("/healthz", healthz),
        get("/api/analytics/session/{session_id:any_id}", session_endpoint),
        get("/api/analytics/cascade/{cascade_id:any_id}", cascade_endpoint),
        get("/api/analytics/alerts", alerts_endpoint),
        post("/api/analytics/predict", predict_endpoint),
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    codes = {404: "not_found", 405: "method_not_allowed"}
    return error_response(status, codes.get(status, "http_error"),
                          exc.detail if isinstance(exc, HTTPException) else "error")


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Starlette logs the exception with its traceback; the client learns nothing of it.
    return error_response(INTERNAL_ERROR.status, INTERNAL_ERROR.code, INTERNAL_ERROR.message)


def create_app(store: ClickHouseStore | None = None, api_token: str | None = None
               ) -> Starlette:
    """The API and the page; with `api_token`, every request needs it (access.py)."""
    return Starlette(
        routes=routes(store or ClickHouseStore()),
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
        middleware=[Middleware(BearerToken, token=api_token)] if api_token else [],
    )


def app_to_serve(host: str) -> Starlette:
    """What `serve` runs on `host`. ConfigError, before opening anything, for a token that is
    unusable or missing on a non-loopback `host`; SourceSchemaError on drifted source tables."""
    from rvbbit_assets.store.source_schema import check_source_schema

    api_token = api_token_from_env()
    check_exposure(host, api_token)
    store = ClickHouseStore()
    with store.session("rvbbit-analytics serve: source check") as session:
        check_source_schema(session)
    return create_app(store, api_token)


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve until stopped (errors of `app_to_serve` before binding anything)."""
    import uvicorn

    uvicorn.run(app_to_serve(host), host=host, port=port, log_level="info",
                server_header=False)
