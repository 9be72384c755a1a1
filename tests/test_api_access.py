"""Who may read the API and the page: RVBBIT_API_TOKEN, over a real uvicorn server on
loopback, and the refusal to serve other addresses without it."""

import json
import sys
import urllib.error
import urllib.request

import pytest
from anyio_preload import anyio_modules
from serving import serving

from rvbbit_assets.cli import commands as cli
from rvbbit_assets.config import ConfigError
from rvbbit_assets.serving import create_app
from rvbbit_assets.serving.access import check_exposure, is_loopback
from rvbbit_assets.serving.app import app_to_serve

TOKEN = "4f1c0e2a9b7d46f3a8e5c1d2b3a49e0f"
WRONG = TOKEN[:-1] + "e"  # as long as the token, one character off

# Every kind of route, and what it answers once the token is right (an empty store).
ROUTES = [
    ("GET", "/", 200),
    ("GET", "/runs/nope", 404),
    ("GET", "/static/page.css", 200),
    ("GET", "/api/analytics/session/nope", 404),
    ("GET", "/api/analytics/cascade/nope", 404),
    ("GET", "/api/analytics/alerts", 200),
    ("POST", "/api/analytics/predict", 404),  # no cost model yet
    ("HEAD", "/api/analytics/alerts", 200),
    ("GET", "/no/such/path", 404),  # unknown paths need the token too: nothing to probe
]
MISSING = {"error": "unauthorized",
           "message": "this server needs `Authorization: Bearer <token>`"}
REFUSED = {"error": "unauthorized", "message": "wrong bearer token"}


def request(base, method, path, authorization=None):
    """(status, WWW-Authenticate, JSON body or None)."""
    data = json.dumps({"cascade_id": "c", "input": {}}).encode() if method == "POST" else None
    headers = {"Authorization": authorization} if authorization else {}
    call = urllib.request.Request(base + path, method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(call, timeout=10) as response:
            status, answer, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        status, answer, body = exc.code, exc.headers, exc.read()
    is_json = body and answer["content-type"] == "application/json"  # HEAD: no body
    document = json.loads(body) if is_json else None
    return status, answer["www-authenticate"], document


@pytest.fixture(scope="module")
def guarded(module_store):
    with serving(create_app(module_store, api_token=TOKEN)) as base:
        yield base


@pytest.mark.parametrize(("method", "path", "allowed"), ROUTES)
def test_a_token_guards_every_route(guarded, method, path, allowed):
    assert request(guarded, method, path)[:2] == (401, "Bearer")
    assert request(guarded, method, path, f"Bearer {WRONG}")[:2] == (
        401, 'Bearer error="invalid_token"')
    assert request(guarded, method, path, f"Basic {TOKEN}")[0] == 401
    assert request(guarded, method, path, TOKEN)[0] == 401  # the token without a scheme
    assert request(guarded, method, path, f"Bearer {TOKEN}")[0] == allowed
    assert request(guarded, method, path, f"bearer {TOKEN}")[0] == allowed  # any case


def test_refusals_say_what_is_missing(guarded):
    assert request(guarded, "GET", "/api/analytics/alerts") == (401, "Bearer", MISSING)
    assert request(guarded, "GET", "/", f"Bearer {WRONG}") == (
        401, 'Bearer error="invalid_token"', REFUSED)
    assert request(guarded, "GET", "/", "Bearer") == (
        401, 'Bearer error="invalid_token"', REFUSED)


def test_healthz_needs_no_token(guarded):
    assert request(guarded, "GET", "/healthz") == (200, None, {"status": "ok"})


def test_without_a_token_loopback_serves_as_before(module_store):
    with serving(create_app(module_store)) as base:
        for method, path, allowed in ROUTES:
            assert request(base, method, path)[0] == allowed, path


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.0.2.10", "analytics.invalid"])
def test_serve_refuses_other_addresses_without_a_token(host, monkeypatch, capsys):
    monkeypatch.delenv("RVBBIT_API_TOKEN", raising=False)
    # Databases that do not exist: serving that got past the refusal stops at the source
    # check, before binding anything.
    monkeypatch.setenv("RVBBIT_SOURCE_DATABASE", "no_source_for_serve")
    assert cli.main(["serve", "--host", host, "--port", "0"]) == 2
    shown = host or "every address"
    assert capsys.readouterr().err == (
        f"rvbbit-analytics: refusing to serve on {shown!r} without RVBBIT_API_TOKEN: the API"
        " and the page show costs, ids and runs' inputs to whoever reaches them. Set"
        " RVBBIT_API_TOKEN (e.g. `export RVBBIT_API_TOKEN=$(openssl rand -hex 32)`; clients"
        " then send `Authorization: Bearer <token>`), or serve on loopback (--host"
        " 127.0.0.1, the default)\n")


def test_loopback_or_a_token_may_serve():
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        assert is_loopback(host), host
        check_exposure(host, None)
    check_exposure("0.0.0.0", TOKEN)
    with pytest.raises(ConfigError):
        check_exposure("0.0.0.0", None)


@pytest.mark.parametrize("token", ["too-short", TOKEN + " x", TOKEN + "é"])
def test_an_unusable_token_is_refused_without_showing_it(token, monkeypatch, capsys):
    monkeypatch.setenv("RVBBIT_API_TOKEN", token)
    monkeypatch.setenv("RVBBIT_SOURCE_DATABASE", "no_source_for_serve")
    assert cli.main(["serve"]) == 2
    assert capsys.readouterr().err == (
        "rvbbit-analytics: RVBBIT_API_TOKEN must be at least 16 visible ASCII characters"
        " without spaces, e.g. from `openssl rand -hex 32`\n")


def test_serve_takes_the_token_from_the_environment(module_store, monkeypatch):
    monkeypatch.setenv("RVBBIT_API_TOKEN", TOKEN)
    monkeypatch.setenv("RVBBIT_SOURCE_DATABASE", module_store.source_database)
    monkeypatch.setenv("RVBBIT_ANALYTICS_DATABASE", module_store.analytics_database)
    with serving(app_to_serve("0.0.0.0")) as base:  # what `serve --host 0.0.0.0` runs
        assert request(base, "GET", "/api/analytics/alerts") == (401, "Bearer", MISSING)
        assert request(base, "GET", "/api/analytics/alerts", f"Bearer {TOKEN}")[0] == 200


def test_every_anyio_module_is_imported_before_a_server_thread_needs_it():
    # A module first imported in a server thread is parsed there (anyio_preload.py).
    assert [name for name in anyio_modules() if name not in sys.modules] == []
