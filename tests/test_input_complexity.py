"""input_complexity must give exactly the design's results, only faster.

The oracle below is the design's `_compute_input_complexity` verbatim, with the one fix
the design needs (`get_structure(obj[k])` for the undefined `v`).
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import FrozenInstanceError
from typing import Any, Dict  # noqa: UP035 - the oracle is kept verbatim

import numpy as np
import pytest

from rvbbit_assets.analysis import input_complexity as ic
from rvbbit_assets.analysis.input_complexity import (
    CATEGORY_ORDER,
    DESIGN_MAX_DEPTH,
    InputComplexity,
    compute_input_complexity,
    score_inputs,
)
from rvbbit_assets.analysis.worker_pool import pool_allowed
from rvbbit_assets.demo.inputs import build_pools


# fmt: off
def _compute_input_complexity(input_data_json: str) -> Dict:  # noqa: UP006
    """
    Score input complexity for clustering similar sessions.

    Factors:
    - Character count (raw size)
    - Estimated token count (char_count / 4)
    - JSON depth (nested structure complexity)
    - Array sizes (data volume)

    Returns:
        {
            'score': float (0-1),
            'category': str ('tiny', 'small', 'medium', 'large', 'huge'),
            'fingerprint': str (hash of input structure),
            'char_count': int,
            'estimated_tokens': int,
        }
    """
    if not input_data_json:
        return {
            'score': 0.0,
            'category': 'tiny',
            'fingerprint': 'empty',
            'char_count': 0,
            'estimated_tokens': 0,
        }

    # Parse input
    try:
        input_obj = json.loads(input_data_json) if isinstance(input_data_json, str) else input_data_json  # noqa: E501
    except:  # noqa: E722
        input_obj = {}

    # Metrics
    char_count = len(input_data_json)
    estimated_tokens = char_count // 4  # Rough estimate

    # JSON depth (measures nesting)
    def max_depth(obj, current=0):
        if not isinstance(obj, (dict, list)):
            return current
        if isinstance(obj, dict):
            return max([max_depth(v, current + 1) for v in obj.values()] or [current])
        return max([max_depth(item, current + 1) for item in obj] or [current])

    depth = max_depth(input_obj)

    # Array size (data volume)
    def count_array_items(obj):
        if isinstance(obj, list):
            return len(obj) + sum(count_array_items(item) for item in obj)
        elif isinstance(obj, dict):
            return sum(count_array_items(v) for v in obj.values())
        return 0

    array_items = count_array_items(input_obj)

    # Compute complexity score (0-1)
    # Weighted combination of factors
    score = min(1.0, (
        (char_count / 10000) * 0.4 +      # 40% weight on size
        (estimated_tokens / 2500) * 0.3 + # 30% weight on tokens
        (depth / 10) * 0.15 +              # 15% weight on nesting
        (array_items / 1000) * 0.15        # 15% weight on data volume
    ))

    # Category buckets
    if score < 0.1:
        category = 'tiny'
    elif score < 0.3:
        category = 'small'
    elif score < 0.6:
        category = 'medium'
    elif score < 0.85:
        category = 'large'
    else:
        category = 'huge'

    # Input fingerprint: hash of input structure (keys + types)
    def get_structure(obj):
        if isinstance(obj, dict):
            return {k: get_structure(obj[k]) for k in sorted(obj.keys())}
        elif isinstance(obj, list):
            return ['array', len(obj)]
        else:
            return type(obj).__name__

    structure = get_structure(input_obj)
    fingerprint = hashlib.sha256(json.dumps(structure, sort_keys=True).encode()).hexdigest()[:16]

    return {
        'score': score,
        'category': category,
        'fingerprint': fingerprint,
        'char_count': char_count,
        'estimated_tokens': estimated_tokens,
    }
# fmt: on


EMPTY_DICT_FINGERPRINT = hashlib.sha256(b"{}").hexdigest()[:16]


def expected(text: Any) -> tuple:
    r = _compute_input_complexity(text)
    return (r["score"], r["category"], r["fingerprint"], r["char_count"], r["estimated_tokens"])


def actual(result: InputComplexity) -> tuple:
    return (
        result.score,
        result.category,
        result.fingerprint,
        result.char_count,
        result.estimated_tokens,
    )


def assert_same(text: Any) -> InputComplexity:
    result = compute_input_complexity(text)
    want = expected(text)
    got = actual(result)
    # `==` on floats on purpose: the score must be bit-identical, not merely close.
    assert got == want, f"{text[:200]!r}: {got} != {want}"
    assert type(result.score) is float
    return result


@contextmanager
def recursion_limit(limit: int) -> Iterator[None]:
    """Lets the recursive oracle compute a true result for inputs deeper than it can
    handle at the default limit."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


# --- hand-picked edge cases -------------------------------------------------------------

# fmt: off
EDGE_CASES = [
    # empty and whitespace
    "", " ", "\n", "\t\r\n ", " {} ", "\t[]\r\n", "\x0b{}", "\x0c[]", "\ufeff{}", "\u00a0{}",
    # every JSON type at the top level
    "{}", "[]", "null", "true", "false", "0", "-0", "1.5", "-1e-7", "1E5", '"x"', '""',
    # nesting and depth rules (empty containers count their own level, scalars their parent's)
    "[1,2]", "[[]]", "[[1]]", "[{}]", "[[],[[]]]", '{"a":{}}', '{"a":[]}', '{"a":{"b":{"c":1}}}',
    '{"a":[{"b":[1,2,{"c":[]}]}],"d":{"e":[[3]]}}', '[{"a":{"b":{}}}]', '{"b":1,"a":2}',
    '{"a":2,"b":1}', '{"a":[1,[2,[3,[4]]]]}',
    # duplicate keys: the last value wins, in json.loads and in orjson
    '{"a":1,"a":"x"}', '{"a":{"b":1},"a":{"c":[1]}}', '{"a":[1,2,3],"a":[]}', '{"a":[],"a":{}}',
    # NaN / Infinity: json.loads accepts them, orjson does not
    "NaN", "Infinity", "-Infinity", "[NaN]", '{"x": NaN, "y": [Infinity, -Infinity]}',
    # integers around orjson's 64-bit range (beyond it orjson yields float, json int)
    str(2**63 - 1), str(2**63), str(2**64 - 1), str(2**64), str(-(2**63)), str(-(2**63) - 1),
    f"[{2**64}, 1.5]", f'{{"n": {-(10**30)}, "f": 0.5}}', "9" * 19, "-" + "9" * 19, "1" * 300,
    "1" * 4300, "1" * 4301,  # 4301 digits: json.loads refuses (int digit limit) -> {}
    # genuine large floats and digit runs that are not big integers
    "[1e20]", "1e400", '{"k": 1e308}', "-1e400", f'["{"7" * 25}", 0.5]', "0." + "1" * 30,
    "1" + "0" * 400 + ".0",
    # surrogates: escaped (json.loads accepts lone ones, orjson refuses) and raw in the str
    '"\\ud800"', '{"\\ud800": 1}', '{"\\udc00\\ud800": [1]}', '"\\ud83d\\ude00"', '"\ud800"',
    '{"\udc00": [1]}',
    # odd Unicode: astral characters, combining marks, separators; char_count = code points
    '{"é": 1, "😀": [1], "数据": {"ζ": null}}', '"😀😀"', '"e\u0301"', '"\u2028\u2029"',
    '{"a\\"b": 1, "\\n": 2, "\\u0000": 3, "\\\\": [], "\\/": {}}', '"\\u0000"',
    # malformed
    '{"a":', "[1,]", '{"a":1,}', '{"a" 1}', "{'a': 1}", "nul", "True", "None", "{} x", "{}{}",
    "[", "]", "{", '"', '"\\x"', '"\x01"', "01", "1.", ".5", "+1", "-", "1e", "0x10", "1_000",
    "[1 2]", '{"a":1 "b":2}', "undefined", "[,]", "{,}", '{"a"}', "garbage",
    # wide dicts (more than 16 keys take a bulk path), with and without containers
    json.dumps({f"k{i}": [i, "s", None, 1.5, True][i % 5] for i in range(40)}),
    json.dumps({"w": {f"k{i}": [[i], {"x": i}, "s", {}][i % 4] for i in range(40)}}),
    json.dumps([{f"k{i}": i for i in range(40)}, {f"k{i}": {} for i in range(20)}]),
    # many scalars beside few containers; brackets inside strings; overwritten containers
    json.dumps([0] * 200 + [[1]]), json.dumps({"v": [0.5] * 200, "w": [[2**64]]}),
    json.dumps({"s": "[[{{", "v": list(range(100)), "n": [[]]}),
    '{"a": [1], "a": 2, "v": [' + ",".join(["7"] * 100) + "]}",
    json.dumps([[i, str(i)] for i in range(100)] + [[[2**70]]]),
    json.dumps({"m": [[0] * 30 for _ in range(30)], "x": 1e30}),
    json.dumps({f"k{i}": 2**64 if i == 7 else i for i in range(24)}),  # unscanned big int
]
# fmt: on


@pytest.mark.parametrize("text", EDGE_CASES, ids=range(len(EDGE_CASES)))
def test_edge_cases_match_design(text: str) -> None:
    assert_same(text)


def test_none_is_empty_like_design() -> None:
    # A NULL input_data column reaches the design as None: falsy, so 'empty'.
    assert_same(None)


def test_empty_string() -> None:
    result = assert_same("")
    assert result == InputComplexity(0.0, "tiny", "empty", 0, 0, False)


@pytest.mark.parametrize("text", ["garbage", '{"a":', "NaNa", " ", "[1,]", "\ufeff{}"])
def test_malformed_scores_as_empty_dict(text: str) -> None:
    result = assert_same(text)
    assert not result.is_valid_json
    assert result.fingerprint == EMPTY_DICT_FINGERPRINT
    assert result.char_count == len(text)


@pytest.mark.parametrize("text", ["{}", "[]", "null", "NaN", str(2**64), '"\\ud800"', "0"])
def test_valid_json_flag(text: str) -> None:
    assert compute_input_complexity(text).is_valid_json


def test_big_integer_keeps_int_type() -> None:
    # orjson returns 18446744073709551616 as a float; json.loads (and so the design) as int.
    assert compute_input_complexity(str(2**64)).fingerprint == expected("0")[2]
    assert compute_input_complexity(f"[{-(10**25)}]").fingerprint == expected("[0]")[2]
    assert compute_input_complexity('{"a": 1e19}').fingerprint == expected('{"a": 0.5}')[2]


def test_char_count_is_code_points() -> None:
    text = '{"k": "😀é\u0301"}'
    # 12 code points; 17 UTF-8 bytes, 13 UTF-16 units: neither counts.
    assert compute_input_complexity(text).char_count == len(text) == 12


# --- category boundaries -------------------------------------------------------------------

# (threshold, char count, depth-1 array items or None for a plain string) chosen so that the
# design's score is exactly the threshold; one character fewer falls just below it.
BOUNDARIES = [
    (0.1, 1429, None),
    (0.1, 1207, 4),
    (0.3, 4038, 16),
    (0.3, 3969, 48),
    (0.6, 8358, 0),
    (0.6, 8340, 8),
    (0.85, 11929, 0),
    (0.85, 11818, 52),
]


def crafted(char_count: int, items: int | None) -> str:
    if items is None:
        text = '"' + "x" * (char_count - 2) + '"'  # depth 0, no arrays
    elif items == 0:
        text = '{"k": 0}'  # depth 1, no arrays
    else:
        text = "[" + ",".join(["0"] * items) + "]"  # depth 1, `items` array items
    text = text.ljust(char_count)  # trailing whitespace is valid JSON
    assert len(text) == char_count
    return text


@pytest.mark.parametrize(("threshold", "char_count", "items"), BOUNDARIES)
def test_category_boundaries(threshold: float, char_count: int, items: int | None) -> None:
    upper = CATEGORY_ORDER[CATEGORY_ORDER.index(_category_below(threshold)) + 1]
    at = assert_same(crafted(char_count, items))
    assert at.score == threshold
    assert at.category == upper
    below = assert_same(crafted(char_count - 1, items))
    assert threshold - 0.0002 < below.score < threshold
    assert below.category == _category_below(threshold)
    above = assert_same(crafted(char_count + 1, items))
    assert threshold < above.score and above.category == upper


def _category_below(threshold: float) -> str:
    return {0.1: "tiny", 0.3: "small", 0.6: "medium", 0.85: "large"}[threshold]


def test_score_is_capped_at_one() -> None:
    result = assert_same(json.dumps({"rows": list(range(5000))}))
    assert result.score == 1.0 and result.category == "huge"


def test_category_order() -> None:
    assert CATEGORY_ORDER == ("tiny", "small", "medium", "large", "huge")


def test_result_is_frozen() -> None:
    result = compute_input_complexity("{}")
    with pytest.raises(FrozenInstanceError):
        result.score = 1.0  # type: ignore[misc]


# --- random inputs --------------------------------------------------------------------------

KEY_POOL = ["a", "b", "id", "name", "é", "数据", "😀", 'q"uote', "back\\slash", "nl\n", "", "dup"]
CHAR_POOL = (
    "abcxyz 019" + '"\\/' + "\n\t\x00\x1f" + "éß€ζ数据" + "😀𝄞" + "\u0301\u2028\ufeff\ud800\udfff"
)


def random_value(rng: random.Random, depth: int) -> Any:
    kind = rng.random()
    if depth < 3 and kind < 0.03:  # wide dict: takes the bulk path for big dicts
        return {f"{rng.choice(KEY_POOL)}{i}": random_value(rng, depth + 2) for i in range(17, 45)}
    if depth < 6 and kind < 0.22:
        return {
            rng.choice(KEY_POOL) + rng.choice(["", str(rng.randint(0, 3))]): random_value(
                rng, depth + 1
            )
            for _ in range(rng.randint(0, 6))
        }
    if depth < 6 and kind < 0.27:  # dense scalars, now and then a container among them
        scalars = [0, 1, -7, True, None, 2.5, 2**64, "s"]
        dense = [rng.choice(scalars) for _ in range(rng.randint(16, 80))]
        for _ in range(rng.choice([0, 0, 1, 2])):
            dense.insert(rng.randrange(len(dense) + 1), random_value(rng, depth + 1))
        if rng.random() < 0.5:
            return {f"k{i}": value for i, value in enumerate(dense)}
        return dense
    if depth < 6 and kind < 0.40:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 8))]
    if kind < 0.55:
        # Brackets inside strings only now and then: they defeat the walk's shortcut.
        pool = CHAR_POOL + "[]{}" if rng.random() < 0.1 else CHAR_POOL
        return "".join(rng.choice(pool) for _ in range(rng.randint(0, 12)))
    if kind < 0.70:
        return rng.choice(
            [
                rng.randint(-1000, 1000),
                rng.randint(-(2**70), 2**70),
                2**63 + rng.randint(-2, 2),
                2**64 + rng.randint(-2, 2),
                -(2**63) + rng.randint(-2, 2),
                rng.randint(10**18, 10**19),
            ]
        )
    if kind < 0.85:
        return rng.choice(
            [
                rng.uniform(-1e6, 1e6),
                rng.uniform(-1e25, 1e25),
                rng.random() * 1e-300,
                -0.0,
                float("nan"),
                float("inf"),
                float("-inf"),
            ]
        )
    return rng.choice([True, False, None])


def random_text(rng: random.Random) -> str:
    value = random_value(rng, 0)
    text = json.dumps(
        value,
        ensure_ascii=rng.random() < 0.5,
        indent=rng.choice([None, None, 0, 2, "\t"]),
        separators=rng.choice([None, (",", ":")]),
        sort_keys=rng.random() < 0.2,
    )
    mutation = rng.random()
    if mutation < 0.08 and len(text) > 1:  # truncated
        text = text[: rng.randrange(1, len(text))]
    elif mutation < 0.14 and text:  # one character dropped
        i = rng.randrange(len(text))
        text = text[:i] + text[i + 1 :]
    elif mutation < 0.20:  # one structural character inserted
        i = rng.randrange(len(text) + 1)
        text = text[:i] + rng.choice('[]{},:" 0e.-\\') + text[i:]
    elif mutation < 0.26 and text.startswith("{") and len(text) > 2:  # duplicate keys
        text = '{"dup": [1, 2], "dup": {"x": null}, ' + text[1:]
    elif mutation < 0.30:  # surrounding whitespace, valid and not
        text = rng.choice([" ", "\n", "\t", "\r", "\x0b", "\u00a0"]) + text + rng.choice([" ", ""])
    return text


def test_random_inputs_match_design() -> None:
    rng = random.Random(20240611)
    texts = [random_text(rng) for _ in range(6000)]
    valid = 0
    for text in texts:
        valid += assert_same(text).is_valid_json
    # Both branches (parsed and malformed) must be exercised in earnest.
    assert 3000 < valid < 5800


def test_random_structures_serialise_like_json_dumps() -> None:
    rng = random.Random(7)
    for _ in range(1000):
        value = random_value(rng, 0)
        structure = ic._walk(value, json.dumps(value))[2]
        assert ic._dumps_structure(structure) == json.dumps(structure, sort_keys=True)


# --- size and depth -------------------------------------------------------------------------


def test_ten_megabyte_input() -> None:
    rows = [{"id": i, "text": "lorem ipsum é😀 " * 8, "tags": ["a", "b"]} for i in range(60_000)]
    text = json.dumps({"rows": rows, "meta": {"n": len(rows)}})
    assert len(text) > 10_000_000
    result = assert_same(text)
    assert result.is_valid_json and result.category == "huge"


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5000 + "]" * 5000,
        '{"a":' * 5000 + "1" + "}" * 5000,
        "[" * 100_000,
        "[" * 1010 + "]" * 1010,  # orjson parses it (<= 1024 levels), json.loads cannot
        '{"a":' * 1020 + "[]" + "}" * 1020,
    ],
    ids=["list5000", "dict5000", "open100k", "list1010", "dict1021"],
)
def test_deep_nesting_json_cannot_parse_scores_as_empty_dict(text: str) -> None:
    result = assert_same(text)  # the design's json.loads fails -> {}
    assert not result.is_valid_json
    assert result.fingerprint == EMPTY_DICT_FINGERPRINT


def test_nesting_the_design_can_walk_matches_design() -> None:
    # 300 nested dicts: also takes the iterative structure serialiser (beyond 200 levels).
    for text in (
        '{"a":' * 300 + '{"b": [1, {"c": NaN}]}' + "}" * 300,
        "[" * 450 + "1" + "]" * 450,
        '{"a": [' * 200 + "{}" + "]}" * 200,
    ):
        with recursion_limit(5000):  # the oracle's own recursion, under pytest's stack
            assert assert_same(text).is_valid_json


def test_design_max_depth_boundary() -> None:
    # The design recurses twice per level: it returns a real result up to depth 498 at
    # best and raises RecursionError beyond (up to ~995 levels, where json.loads gives up
    # and it scores {}). We score the deepest it can return exactly and the rest as {}.
    assert DESIGN_MAX_DEPTH == 498
    deepest = '{"k":' * DESIGN_MAX_DEPTH + "1" + "}" * DESIGN_MAX_DEPTH
    with recursion_limit(5000):
        want = expected(deepest)
    assert actual(compute_input_complexity(deepest)) == want
    assert compute_input_complexity(deepest).is_valid_json

    too_deep = "[" * (DESIGN_MAX_DEPTH + 1) + "1" + "]" * (DESIGN_MAX_DEPTH + 1)
    with pytest.raises(RecursionError):
        _compute_input_complexity(too_deep)
    result = compute_input_complexity(too_deep)
    assert not result.is_valid_json
    assert result.fingerprint == EMPTY_DICT_FINGERPRINT
    assert result.char_count == len(too_deep)


# --- batches -------------------------------------------------------------------------------


def demo_inputs(expected_runs: int) -> list[str]:
    """Every distinct input of a demo load of that size (rvbbit_assets/demo/inputs.py)."""
    pools = build_pools(np.random.default_rng(1), expected_runs)
    return [text for pool in pools for text in pool.texts]


def test_demo_inputs_match_design() -> None:
    # The inputs the pipeline meets in the demo and bench stores: tickets, rows, documents,
    # diffs, research and claims from tiny to ~50 KB, and the malformed special inputs.
    texts = demo_inputs(20_000)
    assert len(texts) > 800 and any(len(text) > 40_000 for text in texts)
    for text in texts:
        assert_same(text)


def test_batch_matches_one_by_one() -> None:
    texts = ["", "{}", "garbage", '{"a": [1, 2]}', "NaN", None, *EDGE_CASES[:40]]
    assert score_inputs(texts) == [compute_input_complexity(t) for t in texts]
    assert score_inputs([]) == []
    with pytest.raises(TypeError):
        score_inputs(["{}", b"{}"])  # type: ignore[list-item]


def test_cheap_big_batch_stays_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # The distinct inputs of a 200k-run demo store: 24 MB of text, yet only ~0.2 s of
    # work, which a pool's start-up and IPC would make three times slower.
    texts = demo_inputs(200_000)
    assert len(texts) > 7000 and sum(map(len, texts)) > 20_000_000

    def no_pool(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a worker pool was started")

    monkeypatch.setattr(ic, "worker_pool", no_pool, raising=False)
    monkeypatch.setattr(ic, "ProcessPoolExecutor", no_pool, raising=False)
    assert len(score_inputs(texts)) == len(texts)


def test_chunks_cover_batch_in_order() -> None:
    texts = [f'{{"i": {i}}}' for i in range(5001)] + ["x" * 3_000_000] * 3 + ["[]"]
    chunks = ic._chunks(texts)
    assert [t for chunk in chunks for t in chunk] == texts
    assert all(len(chunk) <= ic._CHUNK_TEXTS for chunk in chunks)


needs_two_cores = pytest.mark.skipif(not pool_allowed(), reason="no second core here")


@needs_two_cores
def test_expensive_batch_goes_to_workers_and_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(99)
    texts = [random_text(rng) + " " * (i % 7) for i in range(5000)]
    texts[::997] = [""] * len(texts[::997])
    want = [compute_input_complexity(t) for t in texts]
    # No time in-process: the whole batch is handed to the workers. They import this
    # module afresh, so scoring here (patched to fail) cannot stand in for them.
    monkeypatch.setattr(ic, "_IN_PROCESS_SECONDS", 0.0)

    def in_process(text: str) -> tuple:
        raise AssertionError("scored in-process, not by the workers")

    monkeypatch.setattr(ic, "_score_tuple", in_process)
    assert score_inputs(texts) == want


@needs_two_cores
def test_pool_only_for_what_would_take_long() -> None:
    done = ['{"k": 1}'] * 100
    assert not ic._worth_a_pool(done, 0.5, [])
    assert ic._worth_a_pool([], 0.0, done)  # nothing measured yet: the workers
    # At the pace so far, the rest would take 0.5 s here (too little) or 5 s (enough).
    assert not ic._worth_a_pool(done, 0.5, done)
    assert ic._worth_a_pool(done, 0.5, done * 10)
