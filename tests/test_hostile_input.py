"""Hostile values wherever RVBBIT or a user can put one: ids, inputs, API paths and bodies,
CLI arguments. Never executed as SQL, never a stack trace to an HTTP client.

The store substitutes `${source}` / `${analytics}` into SQL *text* (database names only)
and binds every value as a `{name:Type}` parameter: values holding `$`, `{`, quotes or SQL
must come back verbatim and change nothing else.
"""

import json
from urllib.parse import quote

import pytest
from analyse import analyse, at, day, row
from runs import Run, llm, write_runs
from test_api import get, server, session_path  # noqa: F401 - `server` serves `analysed` below

from rvbbit_assets.cli import commands as cli

pytestmark = pytest.mark.store_open_for_the_test

HOSTILE = [
    "x' OR '1'='1",
    "'; DROP TABLE ${analytics}.cascade_analytics; --",
    "${analytics}",
    "$analytics$$ ${source",
    "{x:String}",
    "{session_id:String}'",
    "\\' \\\\ \\",
    "%(sid)s %s {}",
    "\u202eRTL\u200f 😀 e\u0301 数据",
    "a/b/../c?d=1#e",
]


def _runs() -> list[Run]:
    runs = []
    for i, hostile in enumerate(HOSTILE):
        runs.append(Run(hostile, hostile + " cascade", at(i % 2, 10, i),
                        [llm(0.1 * (i + 1), model=hostile, cell_name=hostile,
                             species_hash=hostile)],
                        input_data='{"q": ' + json.dumps(hostile) + "}", caller_id=hostile,
                        invocation_metadata_json=json.dumps({"origin": hostile})))
    # RVBBIT may log what the API refuses as an id: still analysed, just not looked up.
    runs.append(Run("nul\x00id", "c\x00", at(0, 12), [llm(0.2)], input_data="\x00"))
    return runs


@pytest.fixture(scope="module")
def analysed(module_store):
    """The whole pipeline over runs named with hostile text (test_api's `server` serves it)."""
    with module_store.session("test data") as session:
        write_runs(session, _runs())
    analyse(module_store, day(0), day(1), refresh=True)
    return module_store


def _tables(store) -> list[tuple]:
    with store.session("test read") as session:
        return session.rows(
            "SELECT database, name FROM system.tables WHERE database IN"
            " ({s:String}, {a:String}) ORDER BY ALL",
            {"s": store.source_database, "a": store.analytics_database})


def test_hostile_ids_are_data_through_the_whole_pipeline(analysed):
    for hostile in HOSTILE:
        stored = row(analysed, "cascade_analytics", hostile)  # exactly one row each
        assert stored["cascade_id"] == hostile + " cascade"
        assert stored["primary_model"] == hostile and stored["caller_id"] == hostile
        assert stored["species_hash_primary"] == hostile
        assert row(analysed, "session_facts", hostile)["origin"] == hostile
    assert row(analysed, "cascade_analytics", "nul\x00id")["cascade_id"] == "c\x00"
    names = {name for _, name in _tables(analysed)}
    assert {"cascade_analytics", "unified_logs", "cascade_sessions"} <= names


def test_values_with_template_and_placeholder_text_are_bound_verbatim(analysed):
    with analysed.session("test read") as session:
        for value in [*HOSTILE, "${source}.unified_logs", "{v:String}{v:String}", "$", "{"]:
            assert session.scalar("SELECT {v:String}", {"v": value}) == value
            assert session.scalar(
                "SELECT count() FROM ${analytics}.cascade_analytics WHERE session_id = {v:String}",
                {"v": value}) == (1 if value in HOSTILE else 0)


@pytest.mark.store_open_for_the_test(False)  # the API answers from a thread
def test_api_answers_hostile_ids_with_their_own_documents(server):  # noqa: F811
    for hostile in HOSTILE:
        status, _, document = get(server, session_path(hostile))
        assert status == 200 and document["session_id"] == hostile, hostile
        status, _, summary = get(server, "/api/analytics/cascade/"
                                 + quote(hostile + " cascade", safe=""))
        assert status == 200 and summary["run_count"] == 1, hostile
        status, _, alerts = get(server, "/api/analytics/alerts",
                                {"cascade_id": hostile, "session_id": hostile})
        assert status == 200 and alerts["alerts"] == []


BAD_PATHS = [
    "/api/analytics/session/%00",  # NUL
    "/api/analytics/session/%ff%fe",  # not UTF-8
    "/api/analytics/session/%ed%a0%80",  # an encoded lone surrogate
    "/api/analytics/session/" + quote("x\u202e\x1b[31m", safe=""),  # terminal escape
    "/api/analytics/cascade/" + "%27" * 300,  # too long
    "/api/analytics/alerts?since=%00",
    "/api/analytics/alerts?limit=1e9",
    "/api/analytics/alerts?severity=" + quote("critical' OR 1=1 --"),
]
BAD_BODIES = [
    b"[" * 200_000,  # deeper than any JSON parser goes
    b'{"cascade_id": "c", "input": ' + b"[" * 900 + b"]" * 900 + b"}",
    json.dumps({"cascade_id": "c", "input": "\ud800"}).encode(),  # a lone surrogate
    json.dumps({"cascade_id": "c", "input": "{}", "origin": "\udfff"}).encode(),
    json.dumps({"cascade_id": "\ud800", "input": "{}"}).encode(),
    json.dumps({"cascade_id": "c\x00", "input": "{}"}).encode(),
    json.dumps({"cascade_id": ["c"], "input": "{}"}).encode(),
    b'{"cascade_id": "c", "input": NaN, "origin": Infinity}',
    b"\x00\xff",
]


def _no_leak(body: dict) -> None:
    assert set(body) == {"error", "message"}
    assert "Traceback" not in body["message"] and "File \"" not in body["message"]


@pytest.mark.store_open_for_the_test(False)  # the API answers from a thread
def test_hostile_paths_and_bodies_get_json_4xx_never_500(server):  # noqa: F811
    for path in BAD_PATHS:
        status, _, body = get(server, path)
        assert status in (400, 404), (path, status, body)
        _no_leak(body)
    for data in BAD_BODIES:
        status, _, body = get(server, "/api/analytics/predict", None, "POST", data)
        # 404 (no cost model yet) only for a well-formed request.
        assert status in (400, 404), (data[:60], status, body)
        _no_leak(body)
        if b"\\ud800" in data or b"\\udfff" in data or data.startswith(b"[["):
            assert status == 400, (data[:60], body)


def test_cli_takes_hostile_arguments_as_data(analysed, monkeypatch, capsys):
    monkeypatch.setenv("RVBBIT_SOURCE_DATABASE", analysed.source_database)
    monkeypatch.setenv("RVBBIT_ANALYTICS_DATABASE", analysed.analytics_database)
    for hostile in HOSTILE:
        assert cli.main(["session", hostile]) == 0
        assert json.loads(capsys.readouterr().out)["session_id"] == hostile
    # "\udcff" is how Python hands over an argument byte that is not UTF-8.
    for argv in (["session", "nul\x00id"], ["session", "\udcff"],
                 ["predict", "c", "--input", "\udcff"], ["predict", "\ud800", "--input", "{}"]):
        assert cli.main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("rvbbit-analytics: ") and "Traceback" not in err, argv
    with pytest.raises(SystemExit) as bad_date:  # argparse's own message, exit 2
        cli.main(["materialize", "--start", "2025-01-01'; DROP TABLE x"])
    assert bad_date.value.code == 2 and "invalid fromisoformat value" in capsys.readouterr().err
