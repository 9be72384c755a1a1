"""Property-based tests (hypothesis) of input complexity and session facts on hostile data.

Input complexity must equal the design's oracle (tests/test_input_complexity.py) on any
text, never raise, and never recurse. Session facts, computed by the real SQL on the real
store, must match a plain-Python recount of the rows, whatever RVBBIT logged: NaN or
infinite costs, negative or NULL tokens, rows before the run's start, duplicated rows and
odd Unicode in every id.
"""

import json
import math
import sys
from datetime import timedelta

import hypothesis_profiles  # noqa: F401 - registers and loads the profile
import pytest
from analyse import at, day
from hypothesis import given, settings
from hypothesis import strategies as st
from runs import Row, Run, write_runs
from test_input_complexity import actual, expected, recursion_limit

from rvbbit_assets.analysis.input_complexity import (
    CATEGORY_ORDER,
    DESIGN_MAX_DEPTH,
    compute_input_complexity,
    score_inputs,
)
from rvbbit_assets.assets.input_clusters import score_new_inputs
from rvbbit_assets.assets.session_facts import build_session_facts
from rvbbit_assets.orchestration.day_range import DayRange

pytestmark = pytest.mark.store_open_for_the_test

# Any code point, lone surrogates included (hypothesis leaves them out by default).
ANY_CHAR = st.characters(exclude_categories=())
# What a ClickHouse String can carry from Python: anything UTF-8 can encode. NUL, RTL
# marks, emoji and combining characters stay in.
STORE_CHAR = st.characters(exclude_categories=("Cs",))
ODD = st.sampled_from(["\x00", "\u202e", "\u200f", "😀", "e\u0301", "'", '"', "\\", "${x}",
                       "{v:String}", "%s", "\n"])

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats() | st.text(ANY_CHAR, max_size=12),
    lambda inner: st.lists(inner, max_size=6)
    | st.dictionaries(st.text(ANY_CHAR, max_size=6), inner, max_size=6),
    max_leaves=40,
)


def _assert_sane(text: str) -> None:
    result = compute_input_complexity(text)
    assert 0.0 <= result.score <= 1.0 and math.isfinite(result.score)
    assert result.category in CATEGORY_ORDER
    assert result.char_count == len(text) and result.estimated_tokens == len(text) // 4


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


# --- input complexity ------------------------------------------------------------------------


@settings(max_examples=150)
@given(JSON_VALUES, st.booleans(), st.sampled_from([None, 0, 2]))
def test_any_json_scores_as_the_design(value, ascii_only, indent):
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent)
    _assert_sane(text)
    assert actual(compute_input_complexity(text)) == expected(text)


@settings(max_examples=150)
@given(st.text(ANY_CHAR, max_size=200) | st.builds(lambda a, b: a + b, ODD, st.text(ANY_CHAR)))
def test_any_text_scores_as_the_design(text):
    _assert_sane(text)
    assert actual(compute_input_complexity(text)) == expected(text)


@settings(max_examples=25)
@given(st.integers(min_value=1, max_value=60_000), st.sampled_from(["[", '{"k":', '{"😀":[']),
       st.booleans())
def test_deep_nesting_never_raises(depth, opener, closed):
    closer = {"[": "]", '{"k":': "}", '{"😀":[': "]}"}[opener]
    text = opener * depth + "1" + (closer * depth if closed else "")
    result = compute_input_complexity(text)  # no RecursionError at any depth
    _assert_sane(text)
    if depth > DESIGN_MAX_DEPTH:
        assert not result.is_valid_json  # beyond what the design can score: {}
    elif depth <= 100:
        with recursion_limit(5000):
            assert actual(result) == expected(text)


@settings(max_examples=8)
@given(st.integers(min_value=100_000, max_value=3_000_000), st.sampled_from(['"', "[", "x"]),
       st.sampled_from(["a", "😀", "\x00", "\u202e"]))
def test_huge_strings(size, shape, char):
    body = {'"': '"' + char * size + '"', "[": "[" + ",".join(["0"] * (size // 2)) + "]",
            "x": char * size}[shape]
    result = compute_input_complexity(body)
    _assert_sane(body)
    # A raw NUL inside a JSON string is not JSON: only the parser can tell.
    assert result.category == "huge" and result.is_valid_json == _parses(body)


@settings(max_examples=20)
@given(st.lists(st.text(ANY_CHAR, max_size=30) | JSON_VALUES.map(json.dumps), max_size=30))
def test_a_batch_scores_as_one_by_one(texts):
    assert score_inputs(texts) == [compute_input_complexity(t) for t in texts]


# --- session facts on the real store ---------------------------------------------------------

# Real costs are small; NaN and the infinities are the broken values under test.
COSTS = st.none() | st.floats(min_value=-1e6, max_value=1e6) | st.sampled_from(
    [math.nan, math.inf, -math.inf, -0.0, 5e-324])
TOKENS = st.none() | st.integers(min_value=-(2**31), max_value=2**31 - 1)
IDS = st.text(STORE_CHAR, min_size=1, max_size=16) | st.builds(
    lambda a, b: a + b, ODD, st.text(STORE_CHAR, max_size=6))

LOG_ROWS = st.builds(
    Row,
    node_type=st.sampled_from(["agent", "tool_call", "cell_error", "take_error", "cell"]),
    role=st.sampled_from(["assistant", "tool", "", "system"]),
    at=st.floats(min_value=-2 * 86_400, max_value=2 * 86_400),  # before the start too
    model=st.none() | IDS,
    cost=COSTS,
    tokens_in=TOKENS,
    tokens_out=TOKENS,
    cell_name=st.none() | IDS,
    species_hash=st.none() | st.sampled_from(["", "unknown_species", "sp"]) | IDS,
    take_index=st.none() | st.integers(min_value=-3, max_value=3),
    is_winner=st.none() | st.booleans(),
)


@st.composite
def hostile_runs(draw):
    ids = draw(st.lists(IDS, min_size=1, max_size=4, unique=True))
    runs = []
    for number, session_id in enumerate(ids):
        rows = draw(st.lists(LOG_ROWS, min_size=1, max_size=6))
        if draw(st.booleans()):
            rows = rows + rows[: draw(st.integers(1, len(rows)))]  # rows logged twice
        runs.append(Run(
            session_id, draw(IDS), at(0, 6 + number), rows,
            input_data=draw(st.text(STORE_CHAR, max_size=40) | JSON_VALUES.map(
                lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "replace")
                .decode("utf-8", "replace"))),
            completion=draw(st.sampled_from(["cascade_completed", "cascade_error", None])),
            caller_id=draw(IDS), invocation_metadata_json=draw(st.text(STORE_CHAR, max_size=20)),
        ))
    return runs


def _recount(run: Run) -> dict:
    """The facts of one run from its rows, in plain Python (broken values as unknown)."""
    rows = list(run.rows)
    last = max(r.at for r in rows)
    if run.completion:
        rows.append(Row(node_type=run.completion, role="system", at=last + 1))
    finite = [r.cost for r in rows if r.cost is not None and math.isfinite(r.cost)]
    times = [r.at for r in rows]
    return {
        "cascade_id": run.cascade_id,
        "run_status": {"cascade_error": "error", "cascade_completed": "completed"}.get(
            run.completion, "abandoned"),
        "total_cost": math.fsum(finite),
        "cost_error_bound": 2 * max(len(finite) - 1, 0) * sys.float_info.epsilon
        * math.fsum(abs(c) for c in finite),
        "null_cost_rows": sum(r.role == "assistant" and (r.cost is None or not math.isfinite(
            r.cost)) for r in rows),
        "total_tokens_in": sum(max(r.tokens_in or 0, 0) for r in rows),
        "total_tokens_out": sum(max(r.tokens_out or 0, 0) for r in rows),
        "message_count": len(rows),
        "error_count": sum("error" in r.node_type for r in rows),
        # microsecond timestamps: the recount rounds like the stored DateTime64(6)
        "total_duration_ms": (timedelta(seconds=max(times)) - timedelta(seconds=min(times)))
        / timedelta(milliseconds=1),
    }


@pytest.fixture(scope="module")
def facts_session(module_store):
    with module_store.session("property tests") as session:
        yield session


@settings(max_examples=25)
@given(hostile_runs())
def test_session_facts_recount_hostile_runs(facts_session, runs):
    session = facts_session
    for table in ("unified_logs", "cascade_sessions"):
        session.command(f"TRUNCATE TABLE ${{source}}.{table}")
    write_runs(session, runs)
    days = DayRange(day(0), day(0))
    build_session_facts(session, days)
    score_new_inputs(session, days)  # the inputs, from the store, scored without error
    stored = {r["session_id"]: r for r in session.df(
        "SELECT * FROM ${analytics}.session_facts").to_dict("records")}
    assert set(stored) == {r.session_id for r in runs}
    for run in runs:
        facts, want = stored[run.session_id], _recount(run)
        for key in ("cascade_id", "run_status", "null_cost_rows", "total_tokens_in",
                    "total_tokens_out", "message_count", "error_count"):
            assert facts[key] == want[key], (key, run.session_id)
        for key in ("total_cost", "total_duration_ms"):
            assert math.isfinite(facts[key]), key
        # A float sum in any order is within (n - 1) * eps * sum(|cost|) of the exact one:
        # far below typical run costs (about 1e-3), unlike a fixed tolerance would be.
        assert abs(facts["total_cost"] - want["total_cost"]) <= want["cost_error_bound"], (
            run.session_id)
        # Durations are whole microseconds on both sides.
        assert facts["total_duration_ms"] == pytest.approx(
            want["total_duration_ms"], rel=1e-12, abs=1e-6), run.session_id
