"""Who may read: the bearer token `RVBBIT_API_TOKEN`, and no open serving beyond loopback.

The API and the page show costs, session and cascade ids and runs' inputs. Without a token
they serve loopback only (the machine's own users, as before); any other address needs one.
With a token set, every request must carry `Authorization: Bearer <token>`, on loopback too,
except GET /healthz: it reads nothing and answers `{"status": "ok"}`, and liveness probes
and load balancers seldom send headers.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from rvbbit_assets.config import ConfigError, setting
from rvbbit_assets.serving.responses import error_response

API_TOKEN_VARIABLE = "RVBBIT_API_TOKEN"
OPEN_PATHS = frozenset({"/healthz"})


def api_token_from_env() -> str | None:
    """The token from the environment (None when unset or empty); never in any message."""
    return setting(API_TOKEN_VARIABLE)


def is_loopback(host: str) -> bool:
    """Whether every address `host` names is a loopback one (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        resolved = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return False
    return all(ipaddress.ip_address(address[4][0]).is_loopback for address in resolved)


def check_exposure(host: str, token: str | None) -> None:
    """ConfigError when serving `host` would show the analytics to others without a token."""
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve on {host or 'every address'!r} without {API_TOKEN_VARIABLE}:"
            " the API and the page show costs, ids and runs' inputs to whoever reaches them."
            f" Set {API_TOKEN_VARIABLE} (e.g. `export {API_TOKEN_VARIABLE}=$(openssl rand -hex"
            " 32)`; clients then send `Authorization: Bearer <token>`), or serve on loopback"
            " (--host 127.0.0.1, the default)"
        )


class BearerToken:
    """ASGI middleware: a 401 for any request (OPEN_PATHS aside) without the token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode("ascii")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(Headers(scope=scope).get("authorization"))
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await refusal(scope, receive, send)

    def _refusal(self, authorization: str | None) -> Response | None:
        if authorization is None:
            return error_response(401, "unauthorized",
                                  "this server needs `Authorization: Bearer <token>`",
                                  {"WWW-Authenticate": "Bearer"})
        scheme, _, presented = authorization.partition(" ")
        # compare_digest takes as long for any wrong token of a length: nothing to time.
        if scheme.lower() == "bearer" and hmac.compare_digest(
                presented.strip().encode("latin-1"), self._token):
            return None
        return error_response(401, "unauthorized", "wrong bearer token",
                              {"WWW-Authenticate": 'Bearer error="invalid_token"'})
