"""The analytics page (GET /): rendered in a real headless Chromium over demo data, with
screenshots of it and of the Dagster asset graph saved to test-artifacts/.

The browser tests need /usr/bin/chromium (Debian's `chromium` package). Outside CI they are
skipped without it; in CI (`CI` set) a missing browser fails them.
"""

from __future__ import annotations

import math
import os
import re
import signal
import struct
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest
from analyse import analyse
from dagster_dev import DagsterProcess, running_dagster
from pinned_dates import DEMO_END, PINNED_NOW
from runs import Run, llm, write_runs
from serving import serving

from rvbbit_assets.api import create_app, page
from rvbbit_assets.assets.forecasts import COVERAGE, TOTAL, projection_sentence
from rvbbit_assets.assets.groups import INSIGHTS_GROUP, MODELS_GROUP, PER_RUN_GROUP, SOURCE_GROUP
from rvbbit_assets.demo.generate import generate_demo
from rvbbit_assets.store import ClickHouseStore

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
)
PAGE_WINDOW = (1400, 2000)
GRAPH_WINDOW = (1600, 1200)  # the asset graph is wide: all of it fits
DEMO_DAYS = 21
RECENT_RUNS = 50
# Ids an attacker could give a run: they must show up as text, never as markup. The
# cascade's runs are made so that its last two are a low and a high cost outlier.
HOSTILE_SESSION = "<img src=x onerror=\"alert('session')\">'&"
HOSTILE_CASCADE = "</td><script>alert(\"cascade\")</script>'"
LOW_OUTLIER_SESSION = "page-test-low"
STEADY_DAYS = 14
MINUS = "\u2212"


# --- helpers -----------------------------------------------------------------------------------


def fetch(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def run_chromium(chromium: str, profile: Path, url: str, *flags: str,
                 timeout: float = 90) -> str:
    """Chromium's stdout for `url` (a DOM dump); the browser runs in its own process group."""
    process = subprocess.Popen(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *flags, url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # The browser and its helpers (zygote, GPU, crashpad): its own process group.
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise AssertionError(f"chromium took over {timeout}s on {url}") from None
    assert process.returncode == 0, f"chromium failed on {url}:\n{err[-3000:]}"
    return out


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR", path
    return struct.unpack(">II", header[16:24])


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text_parts: list[str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    @property
    def text(self) -> str:
        return "".join(self.text_parts).strip()


class Dom(HTMLParser):
    """Every element of a serialised DOM with its attributes and text, in document order."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
            "source", "track", "wbr"}

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.elements.append(element)
        if tag not in self.VOID:
            self._open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self._open) - 1, -1, -1):
            if self._open[depth].tag == tag:
                del self._open[depth:]
                return

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text_parts.append(data)

    def cells(self, row: Element) -> list[Element]:
        """The td elements of a table row: those after it, up to the next row."""
        start = next(i for i, e in enumerate(self.elements) if e is row) + 1
        end = next((i for i in range(start, len(self.elements))
                    if self.elements[i].tag == "tr"), len(self.elements))
        return [e for e in self.elements[start:end] if e.tag == "td"]

    def by_class(self, name: str, tag: str | None = None) -> list[Element]:
        return [e for e in self.elements if name in e.classes and (tag is None or e.tag == tag)]

    def badges(self, prefix: str) -> list[tuple[str, str]]:
        """(class, title) of each element with a class starting with `prefix`, in order."""
        return [
            (kind, element.attrs.get("title", ""))
            for element in self.elements
            for kind in sorted(element.classes) if kind.startswith(prefix)
        ]


def expected_anomaly(z: float) -> tuple[str, str]:
    """The design's badge (class) and tooltip for a cost z-score."""
    kind = ("badge-anomaly-high" if z > 2 else "badge-anomaly-low" if z < -2
            else "badge-anomaly-watch" if abs(z) > 1 else "badge-anomaly-normal")
    magnitude = f"{abs(z):.1f}"
    shown = MINUS + magnitude if z < 0 and float(magnitude) != 0 else magnitude
    return kind, f"Cost is {shown}σ from normal"


def expected_change(pct: float) -> str:
    text = f"{abs(pct):.0f}"
    return ("0" if float(text) == 0 else ("+" if pct > 0 else MINUS) + text) + "%"


def expected_icon(cost_pct: float, duration_pct: float, severity: str) -> tuple[list[str], str]:
    """The classes and tooltip of the design's 📈 for a regression."""
    return (sorted(["regression-icon", f"regression-{severity}"]),
            f"Regression detected: {expected_change(cost_pct)} cost vs recent "
            f"({expected_change(duration_pct)} duration, {severity})")


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> str:
    if CHROMIUM.exists():
        return str(CHROMIUM)
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: CI must install it (apt-get install -y chromium)")
    pytest.skip(f"{CHROMIUM} is not installed (Debian: apt-get install -y chromium); "
                "the page is tested in a real browser only")


@pytest.fixture(scope="module")
def demo(module_store, tmp_path_factory) -> ClickHouseStore:
    """Three weeks of demo runs (pinned dates), plus one run with hostile ids, analysed."""
    last_day = DEMO_END
    first_day = last_day - timedelta(days=DEMO_DAYS - 1)
    def at(day: date, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, datetime.min.time()).replace(hour=hour, minute=minute)

    # A steady cost for two weeks, then a far cheaper and a far costlier run: the newest
    # runs of the load, so the recent runs show a 🟢 LOW and a 🔴 HIGH whatever the demo has.
    steady = [
        Run(f"page-test-{n}", HOSTILE_CASCADE, at(last_day - timedelta(days=n), 10),
            [llm(0.010 + 0.001 * (n % 5))])
        for n in range(STEADY_DAYS)
    ]
    outliers = [
        Run(LOW_OUTLIER_SESSION, HOSTILE_CASCADE, at(last_day, 23, 55), [llm(0.0005)]),
        Run(HOSTILE_SESSION, HOSTILE_CASCADE, at(last_day, 23, 57), [llm(0.06)]),
    ]
    with module_store.session("test demo load") as session:
        generate_demo(session, days=DEMO_DAYS, sessions_per_day=60, seed=9, end_date=last_day,
                      ground_truth_path=tmp_path_factory.mktemp("demo") / "gt.json",
                      now=PINNED_NOW)
        write_runs(session, steady + outliers)
    analyse(module_store, first_day, last_day, refresh=True)
    return module_store


@pytest.fixture(scope="module")
def page_url(demo) -> Iterator[str]:
    with serving(create_app(demo)) as base:
        yield base + "/"


@pytest.fixture(scope="module")
def dagster_webserver(demo, tmp_path_factory) -> Iterator[DagsterProcess]:
    """`dagster-webserver` over the demo's databases, once for the module."""
    with running_dagster(demo, tmp_path_factory.mktemp("webserver"), daemon=False) as dagster:
        dagster.wait_until_serving()
        yield dagster


# --- without a browser -------------------------------------------------------------------------


def test_empty_store_gets_a_friendly_page(store):
    with serving(create_app(store)) as base:
        status, headers, body = fetch(base + "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "No analysed runs yet" in body and "rvbbit-analytics materialize" in body
    assert "default-src 'none'" in headers["content-security-policy"]  # no script at all


def test_missing_tables_get_a_setup_notice_not_an_error(store):
    unmigrated = ClickHouseStore(source_database=store.source_database,
                                 analytics_database=store.analytics_database + "_absent")
    response = page.page_response(unmigrated)
    assert response.status_code == 200
    assert "not set up yet" in response.body.decode() and "rvbbit-analytics init" in (
        response.body.decode())


def test_busy_store_is_a_503_page_without_details(store, monkeypatch):
    monkeypatch.setenv("RVBBIT_API_STORE_WAIT_SECONDS", "0.2")
    with serving(create_app(store)) as base:
        with store.session("test holds the store"):
            status, headers, body = fetch(base + "/")
        assert status == 503 and headers["content-type"].startswith("text/html")
        assert headers["retry-after"] == "5" and "busy" in body
        assert "pid" not in body and "chdb" not in body and "Traceback" not in body
        assert fetch(base + "/")[0] == 200


def test_unexpected_errors_are_a_500_page_without_details(store, monkeypatch):
    def broken(session):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(page, "load_page_data", broken)
    with serving(create_app(store)) as base:
        status, headers, body = fetch(base + "/")
    assert status == 500 and headers["content-type"].startswith("text/html")
    assert "secret" not in body and "Traceback" not in body and "Internal error" in body


# --- in Chromium -------------------------------------------------------------------------------


@pytest.mark.slow
def test_page_shows_badges_forecasts_and_recommendations(chromium, demo, page_url, tmp_path):
    with demo.session("test expectations") as session:
        recent = session.rows(
            "SELECT session_id, cost_z_score, vs_recent_avg_cost, input_category, is_regression"
            " FROM ${analytics}.cascade_analytics ORDER BY created_at DESC, session_id DESC"
            " LIMIT {n:UInt32}", {"n": RECENT_RUNS})
        weekly = session.rows("SELECT projected_cost, plus_minus FROM ${analytics}.forecast_weekly")
        weekly_by_cascade = {c: (p, m) for c, p, m in session.rows(
            "SELECT cascade_id, projected_cost, plus_minus FROM ${analytics}.forecast_weekly")}
        regression_sql = ("SELECT session_id, vs_recent_avg_cost, vs_recent_avg_duration,"
                          " regression_severity FROM ${analytics}.cascade_analytics"
                          " WHERE is_regression ORDER BY created_at DESC, session_id DESC")
        regressions = session.rows(regression_sql)
        recent_regressions = [r for r in regressions if r[0] in {row[0] for row in recent}]
        summary = session.rows(
            "SELECT count(), min(created_at), max(created_at), sum(total_cost),"
            " countIf(is_cost_outlier), countIf(is_regression)"
            " FROM ${analytics}.cascade_analytics")
        recommendations = [row[0] for row in session.rows(
            "SELECT recommendation FROM ${analytics}.pareto_frontier WHERE recommendation != ''")]
    z_by_session = {session_id: float(z) for session_id, z, *_ in recent}
    assert z_by_session[HOSTILE_SESSION] > 2 and z_by_session[LOW_OUTLIER_SESSION] < -2
    assert weekly and recommendations, "the demo load should give forecasts and advice"

    status, headers, _ = fetch(page_url)
    assert status == 200 and headers["content-type"].startswith("text/html")

    dom = Dom(run_chromium(chromium, tmp_path / "profile", page_url, "--dump-dom"))

    # Recent runs: one row each, newest first, with the design's badges and tooltips.
    rows = dom.by_class("run-row", "tr")
    assert len(rows) == RECENT_RUNS
    assert dom.badges("badge-anomaly-") == [expected_anomaly(float(z)) for _, z, *_ in recent]
    assert {"badge-anomaly-high", "badge-anomaly-low", "badge-anomaly-normal"} <= {
        kind for kind, _ in dom.badges("badge-anomaly-")}
    assert [e.text for e in dom.by_class("vs-recent")] == [
        expected_change(float(pct)) for _, _, pct, *_ in recent]
    assert [kind for kind, _ in dom.badges("badge-input-")] == [
        f"badge-input-{category}" for *_, category, _ in recent]

    # Regression icons: on the recent runs that are regressions, then on each listed
    # regression, newest first, each saying its run's cost and duration change and severity.
    listed = dom.by_class("regression-row", "tr")
    assert len(listed) == min(len(regressions), page.RECENT_REGRESSIONS) > 0
    expected_icons = [expected_icon(*r[1:])
                      for r in recent_regressions + regressions[:len(listed)]]
    assert [(sorted(e.classes), e.attrs["title"]) for e in dom.by_class("regression-icon")] == (
        expected_icons)
    for tr, (session_id, cost, duration, severity) in zip(listed, regressions, strict=False):
        cells = dom.cells(tr)
        assert session_id in cells[1].text
        assert (cells[2].text, cells[3].text, cells[4].text) == (
            f"📈 {severity}", expected_change(cost), expected_change(duration))
    assert f"Regressions latest {len(listed)} of {len(regressions):,}" in [
        e.text for e in dom.elements if e.tag == "h2"]

    # Summary tiles: the figures of every analysed run and the week's projection.
    (count, first, last, total, outliers, regression_count), = summary
    total_projection = weekly_by_cascade[TOTAL]
    assert [e.text for e in dom.by_class("tile")] == [
        f"Runs analysed{count:,}{first:%Y-%m-%d} → {last:%Y-%m-%d}",
        f"Total cost{page.money(total)}over every analysed run",
        f"Cost outliers{outliers:,}|z| > 2 within their input type",
        f"Regressions{regression_count:,}recent runs costlier or slower",
        f"Next 7 days{page.money(total_projection[0])} ± {page.money(total_projection[1])}"
        f"projected, {COVERAGE:.0%} interval",
    ]

    # Forecasts: a chart per series (total included), each with history, forecast and band.
    charts = dom.by_class("forecast-chart", "svg")
    assert len(charts) == len(weekly)
    point = r"-?\d+(\.\d+)?,-?\d+(\.\d+)?"
    for path_class in ("history-line", "forecast-line"):
        paths = dom.by_class(path_class, "path")
        assert len(paths) == len(weekly), path_class
        assert all(re.fullmatch(rf"M{point}( L{point})*", p.attrs["d"]) for p in paths)
    assert len(dom.by_class("forecast-band", "polygon")) == len(weekly)
    sentences = [e.text for e in dom.by_class("projection-sentence")]
    assert sorted(sentences) == sorted(projection_sentence(p, m) for p, m in weekly)
    assert all(s.startswith("Projected weekly cost: $") and " ± $" in s for s in sentences)

    # Pareto recommendations, as stored.
    shown = [e.text for e in dom.by_class("pareto-recommendation")]
    assert shown and set(shown) <= set(recommendations)
    assert len(shown) == min(len(recommendations), 20)

    # The hostile ids are text: no element or handler came out of them.
    assert not [e for e in dom.elements if e.tag in ("script", "img", "iframe")]
    assert not [e for e in dom.elements for name in e.attrs if name.startswith("on")]
    assert [row for row in rows if HOSTILE_SESSION in row.text and HOSTILE_CASCADE in row.text]
    links = [e.attrs["href"] for e in dom.elements if e.tag == "a" and "href" in e.attrs]
    assert "/api/analytics/session/" + quote(HOSTILE_SESSION, safe="") in links

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "analytics-page.png"
    screenshot.unlink(missing_ok=True)
    run_chromium(chromium, tmp_path / "profile-shot", page_url,
                 f"--screenshot={screenshot}", "--window-size={},{}".format(*PAGE_WINDOW))
    assert png_size(screenshot) == PAGE_WINDOW
    assert screenshot.stat().st_size > 100_000  # a rendered page, not a blank one


def drawn(name: str, labels: set[str]) -> bool:
    """Whether a node label names the asset: in full, or cut in the middle ("cost_predic…_model")
    as the graph cuts long names."""
    cut = [label.split("…") for label in labels if label.count("…") == 1]
    return name in labels or any(
        head and tail and name.startswith(head) and name.endswith(tail)
        and len(head) + len(tail) < len(name) for head, tail in cut)


@pytest.mark.slow
def test_asset_graph_screenshot(chromium, dagster_webserver, tmp_path):
    graph = dagster_webserver.wait_for_assets()
    assert "cascade_analytics" in graph
    # Every group expanded: the UI reads `expanded` (its ids for groups) from the URL.
    groups = ",".join(f"global@global:{group}" for group in (
        SOURCE_GROUP, PER_RUN_GROUP, MODELS_GROUP, INSIGHTS_GROUP))
    url = f"{dagster_webserver.url}/asset-groups?expanded={quote(groups, safe=',')}"
    # What the graph draws: a node naming each asset, in the same page as the screenshot.
    dom = Dom(run_chromium(chromium, tmp_path / "profile-dom", url,
                           "--virtual-time-budget=15000", "--dump-dom",
                           "--window-size={},{}".format(*GRAPH_WINDOW)))
    labels = {e.text for e in dom.elements}
    assert [name for name in graph if not drawn(name, labels)] == []
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "asset-graph.png"
    screenshot.unlink(missing_ok=True)
    run_chromium(chromium, tmp_path / "profile", url, "--virtual-time-budget=15000",
                 f"--screenshot={screenshot}", "--window-size={},{}".format(*GRAPH_WINDOW))
    assert png_size(screenshot) == GRAPH_WINDOW
    assert screenshot.stat().st_size > 50_000


def test_a_run_without_a_z_score_gets_the_unknown_badge(demo):
    with demo.session("test read") as session:
        data = page.load_page_data(session)
    newest, *others = data.recent_runs
    unscored = replace(data, recent_runs=({**newest, "cost_z_score": math.nan}, *others))
    dom = Dom(page.render_page(unscored, PINNED_NOW.replace(tzinfo=None)))
    (badge, *rest) = [e for e in dom.elements
                      if any(c.startswith("badge-anomaly-") for c in e.classes)]
    assert (badge.classes, badge.attrs["title"], badge.text) == (
        {"badge", "badge-anomaly-unknown"}, "No cost z-score", "—")
    assert "badge-anomaly-unknown" not in {c for e in rest for c in e.classes}
