"""Input complexity scoring: a fast, exact re-implementation of the design's
``_compute_input_complexity`` (post-cascade-analytics-design.md).

Every result (score, category, fingerprint, char_count, estimated_tokens) equals the
design's for every input on which the design returns at all. Differences are only in speed:

- ``orjson`` parses first; ``json.loads`` only when orjson refuses the text (NaN/Infinity,
  lone surrogates, 1e400, a BOM, ...) or may have changed a type: orjson silently turns
  integers outside [-2**63, 2**64) into floats where ``json.loads`` keeps ``int`` (which
  changes the fingerprint), so a parse holding any float re-parses with ``json.loads`` if
  the text has a run of 19+ digits.
- depth, array item count and the fingerprint structure come from one iterative walk
  (the design makes three recursive ones), so nesting can never raise RecursionError.
- The design recurses two Python frames per nesting level, so under the default recursion
  limit it can only return a real result for depth <= ``DESIGN_MAX_DEPTH``; deeper inputs
  make it raise RecursionError or, once ``json.loads`` itself gives up (~995 levels), score
  as ``{}``. We score every input deeper than ``DESIGN_MAX_DEPTH`` as ``{}`` (and
  ``is_valid_json=False``), which agrees with the design wherever it returns a value, and
  does not depend on the caller's stack depth.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, compress
from json.encoder import encode_basestring_ascii
from typing import Any

import orjson

from rvbbit_assets.analysis.worker_pool import POOL_FAILURES, pool_allowed, worker_pool

__all__ = [
    "CATEGORY_ORDER",
    "DESIGN_MAX_DEPTH",
    "InputComplexity",
    "compute_input_complexity",
    "score_inputs",
]

CATEGORY_ORDER: tuple[str, ...] = ("tiny", "small", "medium", "large", "huge")

# Deepest `depth` (the design's max_depth) for which the design can return a result under
# Python's default recursion limit of 1000: measured 498 when called from module level in a
# warmed-up interpreter (~495 on a first call; less from any deeper call stack).
DESIGN_MAX_DEPTH = 498

# orjson keeps integers in [-2**63, 2**64) exact and turns longer ones into floats; any
# integer literal outside that range has at least 19 digits.
_DIGIT_TABLE = bytes(1 if 0x30 <= byte <= 0x39 else 0 for byte in range(256))
_DIGIT_RUN = b"\x01" * 19

# json's C encoder recurses per nested dict; beyond this we serialise the structure
# ourselves so a deep caller stack cannot turn a deep structure into a RecursionError.
_C_ENCODER_MAX_DEPTH = 200

# A batch is scored in-process for up to this long; what is left goes to a 2-process pool
# only if it would take at least _POOL_MIN_REMAINING_SECONDS more here: the pool's start-up
# (~0.3 s) and IPC only pay on expensive batches, and text length alone does not say which
# are (~20-35 us per demo input, ~6-17 ns per character depending on the structure).
_IN_PROCESS_SECONDS = 0.5
_POOL_MIN_REMAINING_SECONDS = 2.0
_WORK_PER_TEXT = 2_500  # in characters' worth: the fixed cost of one input (~25 us)
_POOL_WORKERS = 2
_CHUNK_TEXTS = 2_000
_CHUNK_CHARS = 4_000_000

_TYPE_NAME: dict[type, str] = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    type(None): "NoneType",
}

_CONTAINER_TYPES = frozenset({dict, list})

# Same output as json.dumps(structure, sort_keys=True); check_circular only costs time
# here because the structure is a freshly built tree.
_ENCODER = json.JSONEncoder(sort_keys=True, check_circular=False)


@dataclass(frozen=True)
class InputComplexity:
    score: float
    category: str
    fingerprint: str
    char_count: int
    estimated_tokens: int
    is_valid_json: bool


def _fingerprint(structure: Any, deep: bool) -> str:
    text = _dumps_structure(structure) if deep else _ENCODER.encode(structure)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_EMPTY_ROW = (0.0, "tiny", "empty", 0, 0, False)
_EMPTY = InputComplexity(*_EMPTY_ROW)
_INVALID_FINGERPRINT = _fingerprint({}, deep=False)


class _TooDeep(Exception):
    """Deeper than the design can handle: scored as the design's parse failure, {}."""


def _dumps_structure(structure: Any) -> str:
    """Iterative equivalent of ``json.dumps(structure, sort_keys=True)`` for structures
    made of dicts (str keys), ``['array', int]`` lists and type-name strings."""
    if type(structure) is not dict:
        return json.dumps(structure)  # a list or a string never nests
    out: list[str] = []
    # Work items: str = text to emit as is; dict = object still to open.
    stack: list[Any] = [structure]
    while stack:
        item = stack.pop()
        if type(item) is str:
            out.append(item)
            continue
        if not item:
            out.append("{}")
            continue
        pairs = sorted(item.items())
        stack.append("}")
        for index in range(len(pairs) - 1, -1, -1):
            key, value = pairs[index]
            prefix = ("{" if index == 0 else ", ") + encode_basestring_ascii(key) + ": "
            if type(value) is dict:
                stack.append(value)
                stack.append(prefix)
            else:
                stack.append(prefix + json.dumps(value))
    return "".join(out)


def _walk(root: Any, text: str) -> tuple[int, int, Any, bool]:
    """One walk over `root`, parsed from `text`, giving (design depth, total list items,
    fingerprint structure, whether the value may hold a float).

    Goes one nesting level at a time so per-element work runs in C (chain, map, set):
    Python-level cost is per level and per dict of the structure, not per node.
    Design depth: a non-empty container at level L scores L + 1, an empty one L (which
    only matters for an empty root), a scalar root 0.
    """
    root_type = type(root)
    if root_type is not dict and root_type is not list:
        return 0, 0, _TYPE_NAME[root_type], root_type is float

    structure: Any
    # (dict, its structure dict to fill): dicts reached from the root through dicts
    # only; list contents never reach the fingerprint.
    struct_level: list[tuple[dict[str, Any], dict[str, Any]]]
    if root_type is dict:
        structure = {}
        struct_level = [(root, structure)]
    else:
        structure = ["array", len(root)]
        struct_level = []

    nodes: list[Any] = [root]  # the containers of the current level
    node_types: set[type] = {root_type}
    depth = 0
    items = 0
    level = 0
    may_hold_float = False
    # Every container comes from its own '[' or '{' in the text (strings and overwritten
    # duplicate keys only add brackets), so once as many containers as brackets are
    # found, all the remaining children are scalars and need no scan.
    found = 0
    brackets = -1  # counted lazily: only worth it when a level has many children
    while nodes:
        found += len(nodes)
        if any(nodes):  # a non-empty container at this level
            if level >= DESIGN_MAX_DEPTH:
                raise _TooDeep
            depth = level + 1
        # The children are chained from `sources` (lists and dict views) without copying.
        sources: list[Any]
        if list not in node_types:
            sources = list(map(dict.values, nodes))
        elif dict not in node_types:
            items += sum(map(len, nodes))
            sources = nodes
        else:
            sources = [node for node in nodes if type(node) is list]
            items += sum(map(len, sources))
            sources += [node.values() for node in nodes if type(node) is dict]
        if brackets < 0:
            children = sum(map(len, sources))
            # Counting costs ~0.6 ns per character, scanning ~25 ns per child.
            if children >= 16 and children * 32 >= len(text):
                brackets = text.count("[") + text.count("{")
        if found == brackets:
            may_hold_float = True  # unknown without a scan
            nodes = []
        else:
            types = set(map(type, chain.from_iterable(sources)))
            if float in types:
                may_hold_float = True
            node_types = types & _CONTAINER_TYPES
            if not node_types:
                nodes = []
            elif len(types) == len(node_types):  # containers only
                nodes = list(chain.from_iterable(sources))
            else:
                is_container = map(
                    _CONTAINER_TYPES.__contains__, map(type, chain.from_iterable(sources))
                )
                nodes = list(compress(chain.from_iterable(sources), is_container))

        if struct_level:
            next_struct_level: list[tuple[dict[str, Any], dict[str, Any]]] = []
            for node, struct in struct_level:
                if len(node) > 16:
                    # Big dict: names in C first; containers map to None, fixed just below.
                    struct.update(
                        zip(node, map(_TYPE_NAME.get, map(type, node.values())), strict=True)
                    )
                    if None not in struct.values():
                        continue
                for key, value in node.items():
                    value_type = type(value)
                    if value_type is dict:
                        child: dict[str, Any] = {}
                        struct[key] = child
                        if value:
                            next_struct_level.append((value, child))
                    elif value_type is list:
                        struct[key] = ["array", len(value)]
                    else:
                        struct[key] = _TYPE_NAME[value_type]
            struct_level = next_struct_level
        level += 1
    return depth, items, structure, may_hold_float


def _may_hold_big_int(text: str) -> bool:
    """True if the text has a run of 19+ ASCII digits: the only way to write an integer
    outside [-2**63, 2**64), which orjson (unlike json.loads) returns as a float."""
    return _DIGIT_RUN in text.encode().translate(_DIGIT_TABLE)


def _parse_and_walk(text: str) -> tuple[int, int, Any] | None:
    """(depth, array items, structure) of the parsed text, or None where the design
    would have parsed it as {}."""
    try:
        parsed = orjson.loads(text)
    except Exception:  # orjson.JSONDecodeError, and anything it may raise on odd input
        pass
    else:
        try:
            depth, items, structure, may_hold_float = _walk(parsed, text)
        except _TooDeep:
            return None
        if not (may_hold_float and _may_hold_big_int(text)):
            return depth, items, structure
    try:
        parsed = json.loads(text)
    except Exception:  # the design's bare except: any parse failure scores as {}
        return None
    try:
        return _walk(parsed, text)[:3]
    except _TooDeep:
        return None


def _category(score: float) -> str:
    if score < 0.1:
        return "tiny"
    if score < 0.3:
        return "small"
    if score < 0.6:
        return "medium"
    if score < 0.85:
        return "large"
    return "huge"


def _score_tuple(text: str) -> tuple[float, str, str, int, int, bool]:
    walked = _parse_and_walk(text)
    if walked is None:
        depth, array_items, fingerprint, valid = 0, 0, _INVALID_FINGERPRINT, False
    else:
        depth, array_items, structure = walked
        fingerprint = _fingerprint(structure, deep=depth > _C_ENCODER_MAX_DEPTH)
        valid = True
    char_count = len(text)
    estimated_tokens = char_count // 4
    # Same expression, same operation order as the design: the score must be bit-equal.
    score = min(
        1.0,
        (
            (char_count / 10000) * 0.4
            + (estimated_tokens / 2500) * 0.3
            + (depth / 10) * 0.15
            + (array_items / 1000) * 0.15
        ),
    )
    return score, _category(score), fingerprint, char_count, estimated_tokens, valid


def compute_input_complexity(input_data_json: str) -> InputComplexity:
    """Score one input exactly as the design's ``_compute_input_complexity`` does."""
    if not input_data_json:  # '' (and None from a NULL column), as the design
        return _EMPTY
    if not isinstance(input_data_json, str):
        raise TypeError(f"expected str, got {type(input_data_json).__name__}")
    return InputComplexity(*_score_tuple(input_data_json))


def _score_chunk(texts: Sequence[str]) -> list[tuple[float, str, str, int, int, bool]]:
    """Worker side: plain tuples pickle faster than dataclass instances."""
    return [_score_tuple(text) if text else _EMPTY_ROW for text in texts]


def _work(texts: Sequence[str]) -> int:
    return sum(_WORK_PER_TEXT + (len(text) if text else 0) for text in texts)


def _score_in_process_for(
    texts: Sequence[str], seconds: float
) -> tuple[list[tuple[float, str, str, int, int, bool]], float]:
    """Score texts from the start for about `seconds`: the rows, and the seconds it took."""
    rows: list[tuple[float, str, str, int, int, bool]] = []
    started = time.perf_counter()
    for text in texts:
        if time.perf_counter() - started >= seconds:  # ~50 ns: read for every text
            break
        rows.append(_score_tuple(text) if text else _EMPTY_ROW)
    return rows, time.perf_counter() - started


def _worth_a_pool(done: Sequence[str], seconds: float, rest: Sequence[str]) -> bool:
    """Would the rest take long enough here, at the pace so far, for workers to pay?"""
    if not rest or not pool_allowed():
        return False
    if not done:
        return True
    return seconds * _work(rest) / _work(done) >= _POOL_MIN_REMAINING_SECONDS


def _chunks(texts: Sequence[str]) -> list[Sequence[str]]:
    chunks: list[Sequence[str]] = []
    start = 0
    chars = 0
    for index, text in enumerate(texts):
        chars += len(text) if text else 0
        if index + 1 - start >= _CHUNK_TEXTS or chars >= _CHUNK_CHARS:
            chunks.append(texts[start : index + 1])
            start = index + 1
            chars = 0
    if start < len(texts):
        chunks.append(texts[start:])
    return chunks


def score_inputs(texts: Sequence[str]) -> list[InputComplexity]:
    """Score a batch, in order; an expensive one partly over a 2-process pool.

    Callers deduplicate beforehand.
    """
    for text in texts:
        if text and not isinstance(text, str):
            raise TypeError(f"expected str, got {type(text).__name__}")
    rows, seconds = _score_in_process_for(texts, _IN_PROCESS_SECONDS)
    rest = texts[len(rows) :]
    if _worth_a_pool(texts[: len(rows)], seconds, rest):
        try:
            with worker_pool(_POOL_WORKERS) as pool:
                rest_rows = [row for chunk in pool.map(_score_chunk, _chunks(rest))
                             for row in chunk]
        except POOL_FAILURES:
            rest_rows = _score_chunk(rest)
    else:
        rest_rows = _score_chunk(rest)
    return [InputComplexity(*row) for row in rows + rest_rows]
