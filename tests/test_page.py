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

from rvbbit_assets.analysis.forecasting import COVERAGE, TOTAL, projection_sentence
from rvbbit_assets.assets.groups import INSIGHTS_GROUP, MODELS_GROUP, PER_RUN_GROUP, SOURCE_GROUP
from rvbbit_assets.demo.generate import generate_demo
from rvbbit_assets.serving import create_app, page
from rvbbit_assets.serving.page import formatting
from rvbbit_assets.serving.reads.cells import cell_breakdown
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
FULL_PAGE_WINDOW = (1400, 4000)
GRAPH_WINDOW = (1600, 1200)  # the asset graph is wide: all of it fits
GRAPH_DRAWN_BYTES = 50_000  # a drawn graph's screenshot is larger (180 KB); a blank page 39 KB
DEMO_DAYS = 21
RECENT_RUNS = 50
# Ids an attacker could give a run: they must show up as text, never as markup. The
# cascade's runs are made so that its last two are a low and a high cost outlier.
HOSTILE_SESSION = "<img src=x onerror=\"alert('session')\">'&"
HOSTILE_CASCADE = "</td><script>alert(\"cascade\")</script>'"
LOW_OUTLIER_SESSION = "page-test-low"
# After them, a runaway answer (15× the output tokens): our cost anomaly, driven by output
# tokens, with an id of quotes, unicode and a slash.
SPIKE_SESSION = 'page-test-spike/ünï "cöde" ✓'
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


def save_screenshot(chromium: str, profile: Path, url: str, name: str,
                    window: tuple[int, int], *flags: str) -> Path:
    """A PNG of `url` in a `window`-sized browser, saved as test-artifacts/`name`."""
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / name
    screenshot.unlink(missing_ok=True)
    run_chromium(chromium, profile, url, *flags, f"--screenshot={screenshot}",
                 "--window-size={},{}".format(*window))
    assert png_size(screenshot) == window
    return screenshot


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
        Run(SPIKE_SESSION, HOSTILE_CASCADE, at(last_day, 23, 59), [llm(0.16, tokens_out=300)]),
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

    monkeypatch.setattr(page.data, "load_page_data", broken)
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
    assert f"Regressions the design's · latest {len(listed)} of {len(regressions):,}" in [
        e.text for e in dom.elements if e.tag == "h2"]

    # Summary tiles after ours (test_tiles_lead_with_our_flags_and_label_the_designs): the
    # figures of every analysed run, the week's projection, and the design's flags.
    (count, first, last, total, outliers, regression_count), = summary
    total_projection = weekly_by_cascade[TOTAL]
    assert [e.text for e in dom.by_class("tile")][4:] == [
        f"Runs analysed{count:,}{first:%Y-%m-%d} → {last:%Y-%m-%d}",
        f"Total cost{page.money(total)}over every analysed run",
        f"Next 7 days{page.money(total_projection[0])} ± {page.money(total_projection[1])}"
        f"projected, {COVERAGE:.0%} interval",
        f"Design's |z| > 2 outliers{outliers:,}the design's flag: cost z-score within the "
        "input type",
        f"Design's regressions{regression_count:,}the design's flag: species' last 10 runs "
        "costlier or slower",
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
    assert "/runs/" + quote(HOSTILE_SESSION, safe="") in links

    screenshot = save_screenshot(chromium, tmp_path / "profile-shot", page_url,
                                 "analytics-page.png", PAGE_WINDOW)
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
    # The UI lays the graph out in a web worker, which Chromium's virtual time does not wait
    # for: on a busy machine a page can still show its loading spinner, so the DOM and the
    # screenshot are each taken again (up to three times) until they show the graph.
    # What the graph draws: a node naming each asset, in the same page as the screenshot.
    for attempt in range(3):
        dom = Dom(run_chromium(chromium, tmp_path / f"profile-dom-{attempt}", url,
                               "--virtual-time-budget=15000", "--dump-dom",
                               "--window-size={},{}".format(*GRAPH_WINDOW)))
        labels = {e.text for e in dom.elements}
        if not (not_drawn := [name for name in graph if not drawn(name, labels)]):
            break
    assert not_drawn == []
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "asset-graph.png"
    for attempt in range(3):  # a screenshot of the spinner is a near-blank page (39 KB)
        screenshot.unlink(missing_ok=True)
        run_chromium(chromium, tmp_path / f"profile-{attempt}", url, "--virtual-time-budget=15000",
                     f"--screenshot={screenshot}", "--window-size={},{}".format(*GRAPH_WINDOW))
        if screenshot.stat().st_size > GRAPH_DRAWN_BYTES:
            break
    assert png_size(screenshot) == GRAPH_WINDOW
    assert screenshot.stat().st_size > GRAPH_DRAWN_BYTES


def pattern_blocks(dom: Dom) -> list[tuple[str, list[tuple[str, bool]]]]:
    """The page's winner pattern blocks in order: (species, [(suggestion, significant)])."""
    blocks: list[tuple[str, list[tuple[str, bool]]]] = []
    for element in dom.elements:
        classes = element.classes
        if "pattern-species" in classes:
            blocks.append(("", []))
        elif blocks and element.attrs.get("title", "").startswith("species ") and not blocks[-1][0]:
            blocks[-1] = (element.attrs["title"].removeprefix("species "), blocks[-1][1])
        elif blocks and "pattern-suggestion" in classes:
            blocks[-1][1].append((element.text, False))
        elif blocks and blocks[-1][1] and classes & {"badge-significant", "badge-weak"}:
            text, _ = blocks[-1][1][-1]
            blocks[-1][1][-1] = (text, "badge-significant" in classes)
    return blocks


@pytest.mark.slow
def test_page_shows_pattern_suggestions_and_pareto_evidence(chromium, demo, page_url, tmp_path):
    with demo.session("test expectations") as session:
        patterns = session.rows(
            "SELECT species_hash, ngram, winner_freq, significant"
            " FROM ${analytics}.prompt_patterns")
        advised = session.rows(
            "SELECT recommendation, significant FROM ${analytics}.pareto_frontier"
            " WHERE recommendation != ''")
    stored = {(species, f"💡 Try '{ngram}' (in {freq:.0%} of winners)", bool(significant))
              for species, ngram, freq, significant in patterns}
    significant_species = {species for species, _, significant in stored if significant}
    assert significant_species, "the demo's planted phrase should be significant"
    assert len(significant_species) < len({species for species, *_ in stored}), (
        "and other species have chance patterns only")

    dom = Dom(run_chromium(chromium, tmp_path / "profile", page_url, "--dump-dom"))

    # Pattern suggestions in the design's words, per species, as stored; species with a
    # significant pattern first, and within a species the significant patterns first.
    blocks = pattern_blocks(dom)
    assert len(blocks) == min(len({species for species, *_ in stored}), page.PATTERN_SPECIES)
    for species, shown in blocks:
        assert 1 <= len(shown) <= page.PATTERNS_PER_SPECIES
        assert {(species, text, significant) for text, significant in shown} <= stored
        flags = [significant for _, significant in shown]
        assert flags == sorted(flags, reverse=True)
    leading = [species in significant_species for species, _ in blocks]
    assert leading == sorted(leading, reverse=True) and leading[0] and not leading[-1]

    # Pareto recommendations: significant first, each with its evidence badge.
    rows = dom.by_class("pareto-row", "tr")
    assert len(rows) == min(len(advised), page.PARETO_ROWS)
    row_flags = ["not significant" not in row.text for row in rows]
    assert row_flags == sorted(row_flags, reverse=True)
    assert sum(row_flags) == min(sum(bool(s) for _, s in advised), page.PARETO_ROWS)

    # The whole page, insights at its foot.
    screenshot = save_screenshot(chromium, tmp_path / "profile-shot", page_url,
                                 "analytics-page-insights.png", FULL_PAGE_WINDOW)
    assert screenshot.stat().st_size > 200_000


# --- our detection first, and the run view ----------------------------------------------------

OUR_BADGES = ("badge-ours-cost", "badge-ours-duration", "badge-ours-regression")
# What the run view says a baseline and a driver are, in words (a fragment of each).
BASELINE_WORDS = {"input": "the same input", "cluster": "the same input type",
                  "cascade": "this cascade with an input of similar size"}
DRIVER_WORDS = {"input_tokens": "input tokens", "output_tokens": "output tokens",
                "extra_calls": "extra LLM calls", "model_price": "model price"}
EXPLANATION = re.compile(r"Cost \d+(\.\d)?× expected \(\+\$\d+\.\d+\): .+ \d+(\.\d)?× usual")


def row_contents(dom: Dom, row_class: str) -> list[tuple[Element, list[Element]]]:
    """Each table row of `row_class` with the elements inside it (up to the next row)."""
    rows = []
    for index, element in enumerate(dom.elements):
        if element.tag == "tr" and row_class in element.classes:
            inside = []
            for follower in dom.elements[index + 1:]:
                if follower.tag == "tr":
                    break
                inside.append(follower)
            rows.append((element, inside))
    return rows


def ours_shown(inside: list[Element]) -> tuple[str, list[str], str]:
    """(session shown, our badge classes, explanation) of one row."""
    session_link = next(e for e in inside if e.tag == "a" and e.attrs["href"].startswith("/runs/"))
    badges = [kind for e in inside for kind in sorted(e.classes) if kind in OUR_BADGES]
    explanation = next((e.text for e in inside if "explanation" in e.classes), "")
    return session_link.text, badges, explanation


def ours_expected(is_cost: bool, is_duration: bool, is_regression: bool) -> list[str]:
    return [kind for kind, on in zip(OUR_BADGES, (is_cost, is_duration, is_regression),
                                     strict=True) if on]


@pytest.mark.slow
def test_tiles_lead_with_our_flags_and_label_the_designs(chromium, demo, page_url, tmp_path):
    with demo.session("test expectations") as session:
        ((runs, anomalies, impact, durations, significant, outliers, regressions),) = session.rows(
            "SELECT count(), countIf(is_cost_anomaly),"
            " sumIf(cost_anomaly_impact_usd, is_cost_anomaly), countIf(is_duration_anomaly),"
            " countIf(is_regression_significant), countIf(is_cost_outlier),"
            " countIf(is_regression) FROM ${analytics}.cascade_analytics")
    assert anomalies and durations and significant and impact > 0, "the demo plants them"

    dom = Dom(run_chromium(chromium, tmp_path / "profile", page_url, "--dump-dom"))
    keys = [e.attrs["data-tile"] for e in dom.by_class("tile")]
    labels = dict(zip(keys, [e.text for e in dom.by_class("tile-label")], strict=True))
    values = dict(zip(keys, [e.text for e in dom.by_class("tile-value")], strict=True))

    # Ours lead, counted from the store; the design's follow, labelled as the design's.
    assert keys[:4] == ["cost-anomalies", "anomaly-impact", "duration-anomalies",
                        "significant-regressions"]
    assert [labels[k] for k in keys[:4]] == ["Cost anomalies", "Anomaly impact",
                                             "Duration anomalies", "Significant regressions"]
    assert [values[k] for k in keys[:4]] == [
        f"{anomalies:,}", "+" + page.money(impact), f"{durations:,}", f"{significant:,}"]
    assert (labels["design-outliers"], values["design-outliers"]) == (
        "Design's |z| > 2 outliers", f"{outliers:,}")
    assert (labels["design-regressions"], values["design-regressions"]) == (
        "Design's regressions", f"{regressions:,}")
    assert values["runs"] == f"{runs:,}"
    assert [e.classes for e in dom.by_class("tile")[:4]] == [{"tile", "tile-ours"}] * 4

    # The stylesheet is a file of the package, the only style the CSP allows.
    status, headers, css = fetch(page_url + "static/page.css")
    assert status == 200 and headers["content-type"].startswith("text/css")
    assert ".badge-ours-cost" in css
    policy = fetch(page_url)[1]["content-security-policy"]
    assert "style-src 'self'" in policy and "unsafe-inline" not in policy


@pytest.mark.slow
def test_flagged_runs_show_our_badge_and_cause_beside_the_designs(chromium, demo, page_url,
                                                                 tmp_path):
    columns = ("SELECT session_id, is_cost_anomaly, is_duration_anomaly,"
               " is_regression_significant, cost_anomaly_explanation, cost_z_score"
               " FROM ${analytics}.cascade_analytics")
    order = " ORDER BY created_at DESC, session_id DESC LIMIT {n:UInt32}"
    with demo.session("test expectations") as session:
        flagged = session.rows(
            columns + " WHERE is_cost_anomaly OR is_duration_anomaly OR is_regression_significant"
            + order, {"n": page.FLAGGED_RUNS})
        recent = session.rows(columns + order, {"n": RECENT_RUNS})
    spike = next(row for row in recent if row[0] == SPIKE_SESSION)
    assert spike[1] and EXPLANATION.fullmatch(spike[4]) and "output tokens" in spike[4]
    assert any(row[2] for row in flagged) and any(row[3] for row in flagged)

    dom = Dom(run_chromium(chromium, tmp_path / "profile", page_url, "--dump-dom"))

    # The flagged runs: ours, newest first, each with its badges and a cost anomaly's cause.
    flagged_rows = row_contents(dom, "flagged-row")
    assert [ours_shown(inside) for _, inside in flagged_rows] == [
        (sid, ours_expected(cost, duration, regression), explanation)
        for sid, cost, duration, regression, explanation, _ in flagged]
    # ... with the design's badge beside ours, labelled as the design's.
    for (_, inside), (*_, z) in zip(flagged_rows, flagged, strict=True):
        design = next(e for e in inside if "design" in e.classes and e.tag == "td")
        assert design.text.startswith("design's")
        kind, title = expected_anomaly(float(z))
        assert [(c, e.attrs["title"]) for e in inside for c in e.classes
                if c.startswith("design-anomaly-")] == [
            (kind.replace("badge-anomaly-", "design-anomaly-"), title)]

    # The recent runs: our badges and causes where we flag, a dash elsewhere.
    recent_rows = row_contents(dom, "run-row")
    assert [ours_shown(inside) for _, inside in recent_rows] == [
        (sid, ours_expected(cost, duration, regression), explanation)
        for sid, cost, duration, regression, explanation, _ in recent]
    (_, spike_inside), = [(row, inside) for row, inside in recent_rows
                          if ours_shown(inside)[0] == SPIKE_SESSION]
    assert [e.text for e in spike_inside if "badge-ours-cost" in e.classes] == ["⚠ cost anomaly"]
    assert [c for e in spike_inside for c in e.classes if c.startswith("badge-anomaly-")] == [
        "badge-anomaly-high"]
    header = [e.text for e in dom.elements if e.tag == "th"]
    assert "Ours" in header and "Design's anomaly" in header

    # A flagged run links to its run view.
    links = {e.text: e.attrs["href"] for _, inside in flagged_rows for e in inside
             if e.tag == "a" and e.attrs["href"].startswith("/runs/")}
    assert links[SPIKE_SESSION] == "/runs/" + quote(SPIKE_SESSION, safe="")


def check_run_view(dom: Dom, session_id: str, row: dict, cells: list[dict]) -> None:
    """The run view of `session_id` shows its stored analytics row and cells."""
    facts = {e.attrs["data-fact"]: e.text for e in dom.by_class("fact", "td")}
    assert [e.text for e in dom.by_class("run-id")] == [session_id]
    assert [e.text for e in dom.by_class("run-explanation")] == [row["cost_anomaly_explanation"]]
    assert EXPLANATION.fullmatch(row["cost_anomaly_explanation"])
    # Expected versus actual, the driver and its ratio, the dollar impact.
    assert facts["actual-cost"] == page.money(row["total_cost"])
    assert facts["expected-cost"] == page.money(row["expected_cost"])
    assert facts["cost-ratio"] == formatting.times(row["total_cost"] / row["expected_cost"])
    assert facts["impact"] == "+" + page.money(row["cost_anomaly_impact_usd"])
    assert [e.text for e in dom.by_class("driver")] == [DRIVER_WORDS[row["cost_anomaly_driver"]]]
    assert [e.text for e in dom.by_class("driver-ratio")] == [
        formatting.times(row["cost_anomaly_driver_ratio"]) + " usual"]
    # Baselines: ours in words, the design's averages.
    assert [e.text for e in dom.by_class("baseline-name")] == [row["cost_anomaly_baseline"]]
    (meaning,) = [e.text for e in dom.by_class("baseline-meaning")]
    assert BASELINE_WORDS[row["cost_anomaly_baseline"]] in meaning
    assert facts["global-avg"].startswith(page.money(row["global_avg_cost"]) + " ")
    assert facts["cluster-avg"].startswith(page.money(row["cluster_avg_cost"]) + " ")
    # Prediction and regression status (the design's and ours, with its p-value).
    assert facts["predicted-cost"] == page.money(row["predicted_cost"])
    assert facts["prediction-error"].startswith(
        formatting.signed(row["prediction_error"] * 100) + "% ")
    assert facts["regression-ours"].startswith(
        "significant" if row["is_regression_significant"] else "not significant")
    assert facts["regression-ours"].endswith(f"p = {formatting.p_value(row['regression_p_value'])}")
    assert facts["regression-design"].startswith(
        "📈" if row["is_regression"] else "no regression")
    # Its cells, as the session API breaks them down, and the link to that JSON.
    shown_cells = [[e.text for e in inside if e.tag == "td"][:3]
                   for _, inside in row_contents(dom, "cell-row")]
    assert [[name, cost] for name, _, cost in shown_cells] == [
        [cell["cell_name"], page.money(cell["cost"])] for cell in cells]
    json_links = [e.attrs["href"] for e in dom.by_class("json-link", "a")]
    assert json_links == ["/api/analytics/session/" + quote(session_id, safe="")]


@pytest.mark.slow
def test_run_view_of_a_flagged_run(chromium, demo, page_url, tmp_path):
    fields = ("total_cost, expected_cost, cost_anomaly_driver, cost_anomaly_driver_ratio,"
              " cost_anomaly_baseline, cost_anomaly_explanation, cost_anomaly_impact_usd,"
              " global_avg_cost, cluster_avg_cost, predicted_cost, prediction_error,"
              " is_regression, is_regression_significant, regression_p_value")
    with demo.session("test expectations") as session:
        # The newest cost anomaly of the demo with cells and a prediction, and the spike.
        demo_runs = session.rows(
            "SELECT session_id FROM ${analytics}.cascade_analytics WHERE is_cost_anomaly"
            " AND predicted_cost IS NOT NULL AND session_id IN"
            " (SELECT session_id FROM ${analytics}.cell_analytics)"
            " ORDER BY created_at DESC, session_id DESC LIMIT 1")
        assert demo_runs, "the demo has a cost anomaly with cells and a prediction"
        demo_run = demo_runs[0][0]
        expected = {}
        for session_id in (demo_run, SPIKE_SESSION):
            result = session.client.query(session.render(
                f"SELECT {fields} FROM ${{analytics}}.cascade_analytics"
                " WHERE session_id = {s:String}"), parameters={"s": session_id})
            row = dict(zip(result.column_names, result.result_rows[0], strict=True))
            expected[session_id] = (row, cell_breakdown(session, session_id))
    assert expected[SPIKE_SESSION][0]["cost_anomaly_driver"] == "output_tokens"
    assert expected[SPIKE_SESSION][0]["cost_anomaly_baseline"] == "input"
    assert expected[demo_run][1], "the demo run has cells"

    for number, (session_id, (row, cells)) in enumerate(expected.items()):
        url = page_url + "runs/" + quote(session_id, safe="")
        status, headers, _ = fetch(url)
        assert status == 200 and "default-src 'none'" in headers["content-security-policy"]
        dom = Dom(run_chromium(chromium, tmp_path / f"profile-{number}", url, "--dump-dom"))
        check_run_view(dom, session_id, row, cells)
        # The odd ids are text: the hostile cascade's link is one escaped path segment.
        assert not [e for e in dom.elements if e.tag in ("script", "img", "iframe")]

    screenshot = save_screenshot(chromium, tmp_path / "profile-shot",
                                 page_url + "runs/" + quote(demo_run, safe=""),
                                 "run-view.png", (1400, 1400))
    assert screenshot.stat().st_size > 50_000


def test_run_view_of_an_unknown_or_malformed_id_is_an_html_error(demo, page_url):
    unknown = '<b>no such run</b>"/ü'
    status, headers, body = fetch(page_url + "runs/" + quote(unknown, safe=""))
    assert status == 404 and headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in headers["content-security-policy"]
    dom = Dom(body)
    assert not [e for e in dom.elements if e.tag == "b"]
    (notice,) = dom.by_class("notice")
    assert "No such run" in notice.text and unknown in notice.text

    status, headers, body = fetch(page_url + "runs/%01")
    assert status == 400 and headers["content-type"].startswith("text/html")
    assert "control characters" in body


def test_run_view_of_a_hostile_id_is_text(demo, page_url):
    status, _, body = fetch(page_url + "runs/" + quote(HOSTILE_SESSION, safe=""))
    assert status == 200
    dom = Dom(body)
    assert [e.text for e in dom.by_class("run-id")] == [HOSTILE_SESSION]
    assert not [e for e in dom.elements if e.tag in ("script", "img", "iframe")]
    assert not [e for e in dom.elements for name in e.attrs if name.startswith("on")]
    links = [e.attrs["href"] for e in dom.elements if e.tag == "a"]
    assert "/api/analytics/cascade/" + quote(HOSTILE_CASCADE, safe="") in links
    assert "/api/analytics/session/" + quote(HOSTILE_SESSION, safe="") in links


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
