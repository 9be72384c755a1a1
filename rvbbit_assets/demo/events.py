"""Log rows of runs, built cell by cell for every run of a cascade at once.

Each row gets an order key (layout.py) and the time gap since the previous row of its run;
`place_in_time` then sorts the rows per run and turns the gaps into timestamps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from rvbbit_assets.demo import catalog as cat
from rvbbit_assets.demo.inputs import InputPool
from rvbbit_assets.demo.layout import (
    AGENT,
    AGENT_TURN_2,
    AGENT_TURN_3,
    CASCADE_ORDER,
    CELL,
    CELL_ERROR,
    COMPLETION_ORDER,
    EVALUATOR,
    LOOP,
    REFORGE,
    RETRY,
    SUB_CASCADE_REF,
    TAKE,
    TOOL_CALL,
    TOOL_CALL_2,
    TOOL_RESULT,
    TOOL_RESULT_2,
    USER,
    cell_base_order,
    cell_slot,
    take_slot,
)
from rvbbit_assets.demo.plan import MICROS
from rvbbit_assets.demo.runs import UI, Sessions
from rvbbit_assets.demo.worlds import World

NODE_TYPES: tuple[str, ...] = (
    "cascade", "cell", "user", "agent", "tool_call", "tool_result", "sub_cascade_ref",
    "take_error", "evaluator", "cell_error", "cascade_completed", "cascade_error",
)
ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool", "error")
NODE = {name: code for code, name in enumerate(NODE_TYPES)}
ROLE = {name: code for code, name in enumerate(ROLES)}
PHRASE_BIT = 1 << next(i for i, p in enumerate(cat.STYLE_PHRASES) if cat.WINNING_PHRASE in p)
_PHRASE_BITS = 1 << np.arange(len(cat.STYLE_PHRASES))
_TOOL_RESULT = '"{\\"results\\": 5, \\"took_ms\\": 412}"'
_CELL_ERROR = '"ValidationError: the output did not match the cell\'s output_schema"'
_TAKE_ERROR = '"TimeoutError: the provider did not answer within 60 s"'


@dataclass(frozen=True)
class Rows:
    """Columns of log rows; integer columns use -1 for NULL, object columns None."""

    sess: np.ndarray  # index into the Sessions the rows belong to
    order: np.ndarray
    node: np.ndarray
    role: np.ndarray
    cell: np.ndarray  # cell position in its cascade
    slot: np.ndarray  # trace node of the row (layout.py)
    parent_slot: np.ndarray
    take_index: np.ndarray
    is_winner: np.ndarray
    reforge_step: np.ndarray
    winning_take: np.ndarray
    attempt: np.ndarray
    turn: np.ndarray
    mutation: np.ndarray  # index into catalog.MUTATIONS
    model: np.ndarray  # index into catalog.MODELS: the model that answered
    requested: np.ndarray  # the model the cell asked for (differs after a fallback)
    tokens_in: np.ndarray
    tokens_out: np.ndarray
    gap_us: np.ndarray  # time since the previous row of the run
    lineage: np.ndarray  # index of the take's record in Takes
    species: np.ndarray
    content: np.ndarray
    tool_calls: np.ndarray

    def __len__(self) -> int:
        return len(self.sess)

    def take(self, index: np.ndarray) -> Rows:
        return Rows(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


_OBJECT_COLUMNS = ("species", "content", "tool_calls")
_KIND = {name: code for code, name in enumerate(cat.SPIKE_KINDS)}
_ZERO_DEFAULTS = ("slot", "gap_us")


@dataclass(frozen=True)
class Takes:
    """One record per take attempt (the future prompt_lineage rows)."""

    sess: np.ndarray
    cell: np.ndarray
    take_index: np.ndarray
    model: np.ndarray
    score: np.ndarray
    is_winner: np.ndarray
    tokens_in: np.ndarray
    tokens_out: np.ndarray
    latency_us: np.ndarray
    phrases: np.ndarray  # bitmask over catalog.STYLE_PHRASES
    mutation: np.ndarray  # -1 for generation 0
    parent: np.ndarray  # record index of the take a mutation derives from, -1 for none

    def __len__(self) -> int:
        return len(self.sess)

    def take(self, index: np.ndarray) -> Takes:
        return Takes(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


@dataclass(frozen=True)
class Built:
    rows: Rows
    takes: Takes
    child_window_us: np.ndarray  # per run: time its sub-cascade child has, 0 for none


@dataclass(frozen=True)
class _Group:
    """The runs of one cascade that reach one cell, with what is planted in them there."""

    sess: np.ndarray
    inputs: np.ndarray
    in_tokens: np.ndarray
    in_factor: np.ndarray  # prompt tokens x this (context blow-up, an all-token regression)
    out_factor: np.ndarray  # completion tokens x this (runaway answers, a regression)
    extra_calls: np.ndarray  # calls a planted loop adds in this cell
    premium: np.ndarray  # model code every call is routed to, -1 for the usual models
    species: np.ndarray

    def __len__(self) -> int:
        return len(self.sess)


class _Blocks:
    """Rows are added as blocks of equal-length columns; missing columns mean NULL."""

    def __init__(self) -> None:
        self._blocks: list[dict[str, np.ndarray]] = []

    def add(self, sess: np.ndarray, order: int, node: str, role: str, **columns: Any) -> None:
        n = len(sess)
        if n == 0:
            return
        block = {
            "sess": sess,
            "order": np.full(n, order),
            "node": np.full(n, NODE[node]),
            "role": np.full(n, ROLE[role]),
        }
        for name, value in columns.items():
            block[name] = value if isinstance(value, np.ndarray) else _filled(name, value, n)
        self._blocks.append(block)

    def rows(self) -> Rows:
        columns = {}
        for f in fields(Rows):
            parts = [
                b[f.name] if f.name in b else _filled(f.name, _default(f.name), len(b["sess"]))
                for b in self._blocks
            ]
            columns[f.name] = np.concatenate(parts or [_filled(f.name, _default(f.name), 0)])
        return Rows(**columns)


class _TakeParts:
    def __init__(self) -> None:
        self.parts: list[Takes] = []
        self.count = 0

    def add(self, takes: Takes) -> None:
        self.parts.append(takes)
        self.count += len(takes)

    def takes(self) -> Takes:
        if not self.parts:
            return Takes(**{f.name: np.zeros(0, dtype=np.int64) for f in fields(Takes)})
        return Takes(
            **{
                f.name: np.concatenate([getattr(p, f.name) for p in self.parts])
                for f in fields(Takes)
            }
        )


def build_rows(
    rng: np.random.Generator, sessions: Sessions, pools: list[InputPool], world: World
) -> Built:
    """Every log row of these runs, before timestamps, cuts and the horizon."""
    blocks, takes = _Blocks(), _TakeParts()
    child_window = np.zeros(len(sessions), dtype=np.int64)
    calls = _Calls(rng, world)
    for code in np.unique(sessions.cascade).tolist():
        cascade, pool = cat.CASCADES[code], pools[code]
        runs = np.flatnonzero(sessions.cascade == code)
        blocks.add(runs, CASCADE_ORDER, "cascade", "system")
        last = len(cascade.cells) - 1
        stop = np.where(sessions.error_cell[runs] >= 0, sessions.error_cell[runs], last)
        for position, cell in enumerate(cascade.cells):
            group = _group(sessions, cascade, pool, position, runs[stop >= position], world)
            _cell_rows(rng, blocks, sessions, cell, position, group)
            if cell.takes:
                phrase_cell = cascade.cascade_id == cat.PHRASE_CASCADE
                phrase_cell &= cell.name == cat.PHRASE_CELL
                _take_rows(calls, blocks, takes, cell, position, group, phrase_cell)
            else:
                _call_rows(calls, blocks, cell, position, group, child_window)
            _loop_rows(calls, blocks, cell, position, group)
            _error_rows(calls, blocks, sessions, cell, position, group)
        failed = sessions.error_cell[runs] >= 0
        for node, role, mask in (
            ("cascade_completed", "system", ~failed),
            ("cascade_error", "error", failed),
        ):
            blocks.add(
                runs[mask], COMPLETION_ORDER, node, role,
                gap_us=rng.integers(10_000, 100_000, int(mask.sum())),
                content=_CELL_ERROR if node == "cascade_error" else '"completed"',
            )
    return Built(blocks.rows(), takes.takes(), child_window)


def place_in_time(
    rng: np.random.Generator,
    rows: Rows,
    sessions: Sessions,
    horizon_us: int,
    span_limit_us: np.ndarray | None = None,
) -> tuple[Rows, np.ndarray]:
    """Sort rows per run, turn gaps into timestamps, and keep what exists at the horizon.

    Abandoned runs lose their rows from their cut on; runs marked running are stretched so
    they end after the horizon; `span_limit_us` squeezes runs (sub-cascades) into a window.
    """
    rows = rows.take(np.flatnonzero(rows.order < sessions.cut_order[rows.sess]))
    if not len(rows):
        return rows, np.zeros(0, dtype=np.int64)
    rows = rows.take(np.lexsort((rows.order, rows.sess)))
    first = np.flatnonzero(np.r_[True, rows.sess[1:] != rows.sess[:-1]])
    last = np.r_[first[1:] - 1, len(rows) - 1]
    total = np.cumsum(rows.gap_us)
    offset = total - np.repeat(total[first], np.diff(np.r_[first, len(rows)]))
    span = np.ones(len(sessions), dtype=np.int64)
    span[rows.sess[last]] = np.maximum(offset[last], 1)
    scale = np.ones(len(sessions))
    if span_limit_us is not None:
        scale = np.minimum(1.0, span_limit_us / span)
    running = np.flatnonzero(sessions.running)
    overshoot = rng.integers(2 * 60 * MICROS, 30 * 60 * MICROS, len(running))
    target = horizon_us - sessions.start_us[running] + overshoot
    scale[running] = np.maximum(1.0, target / span[running])
    timestamp = sessions.start_us[rows.sess] + (offset * scale[rows.sess]).astype(np.int64)
    present = np.flatnonzero(timestamp <= horizon_us)
    return rows.take(present), timestamp[present]


def _group(
    sessions: Sessions,
    cascade: cat.Cascade,
    pool: InputPool,
    position: int,
    runs: np.ndarray,
    world: World,
) -> _Group:
    inputs = sessions.input[runs]
    cell = cascade.cells[position]
    kind, size = sessions.spike_kind[runs], sessions.spike_size[runs]
    in_factor = np.where(kind == _KIND["input_tokens"], size, 1.0)
    out_factor = np.where(kind == _KIND["output_tokens"], size, 1.0)
    regressed = sessions.regressed[runs]
    if world.regression_through == "all_tokens":
        in_factor = in_factor * np.where(regressed, cat.REGRESSION_FACTOR, 1.0)
        out_factor = out_factor * np.where(regressed, cat.REGRESSION_FACTOR, 1.0)
    elif cell.name == cat.REGRESSION_CELL:
        out_factor = out_factor * np.where(regressed, cat.REGRESSION_FACTOR, 1.0)
    loop = (kind == _KIND["extra_calls"]) & (cell.name == cascade.loop_cell)
    return _Group(
        sess=runs,
        inputs=inputs,
        in_tokens=pool.tokens[inputs],
        in_factor=in_factor,
        out_factor=out_factor,
        extra_calls=np.where(loop, size, 0).astype(np.int64),
        premium=np.where(kind == _KIND["model_price"], cat.MODEL_CODE[cascade.premium_model], -1),
        species=pool.species[position, inputs],
    )


class _Calls:
    """How LLM calls behave in a world: which model answers, and how long prompts and
    completions are."""

    def __init__(self, rng: np.random.Generator, world: World) -> None:
        self.rng = rng
        self.world = world

    def models(
        self, cell: cat.Cell, group: _Group, requested: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(answering, requested) model codes for calls shaped like `requested` (runs first):
        a premium routing replaces both; otherwise a share of calls falls back."""
        premium = group.premium.reshape(-1, *([1] * (requested.ndim - 1)))
        requested = np.where(premium >= 0, premium, requested)
        fallback = self.rng.random(requested.shape) < self.world.fallback_rate
        answering = np.where(fallback & (premium < 0), cat.MODEL_CODE[cell.fallback], requested)
        return answering, requested

    def prompt_tokens(
        self, cell: cat.Cell, in_tokens: np.ndarray, in_factor: np.ndarray
    ) -> np.ndarray:
        """The rendered prompt: template plus the cell's share of the input."""
        base = cell.prompt_tokens + in_tokens * cell.input_share
        base = base * self.rng.lognormal(0, self.world.input_sigma, in_tokens.shape)
        return np.maximum(1, np.rint(base * in_factor)).astype(np.int64)

    def completion(
        self,
        cell: cat.Cell,
        model: np.ndarray,
        tokens_in: np.ndarray,
        in_factor: np.ndarray,
        out_factor: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Completion tokens and the call's latency (µs), mostly set by the output length."""
        shape = tokens_in.shape
        # Longer inputs get longer answers (a review of a big diff, a report on many
        # sources), sublinearly: ~1.2x at 1k prompt tokens, ~2x at 8k.
        longer = (1 + tokens_in / in_factor / 1_000) ** 0.3
        noise = self.world.completion_noise(self.rng, shape)
        tokens_out = np.maximum(
            1, np.rint(cell.output_tokens * noise * longer * out_factor)
        ).astype(np.int64)
        seconds = 0.35 + tokens_out * cat.SECONDS_PER_TOKEN[model] + tokens_in * 2e-5
        latency = seconds * self.rng.lognormal(0, 0.2, shape) * MICROS
        return tokens_out, latency.astype(np.int64)


def _cell_rows(
    rng: np.random.Generator,
    blocks: _Blocks,
    sessions: Sessions,
    cell: cat.Cell,
    position: int,
    group: _Group,
) -> None:
    base = cell_base_order(position)
    n = len(group)
    blocks.add(
        group.sess, base + CELL, "cell", "system",
        cell=position, slot=cell_slot(position), parent_slot=0, species=group.species,
        gap_us=rng.integers(20_000, 200_000, n),
    )
    if position == 0:
        ui = group.sess[sessions.origin[group.sess] == UI]
        blocks.add(
            ui, base + USER, "user", "user",
            cell=position, slot=cell_slot(position), parent_slot=0,
            content=cat.UI_USER_MESSAGE, gap_us=rng.integers(1_000, 20_000, len(ui)),
        )


def _call_rows(
    calls: _Calls,
    blocks: _Blocks,
    cell: cat.Cell,
    position: int,
    group: _Group,
    child_window: np.ndarray,
) -> None:
    """A single LLM call, maybe tool rounds or a sub-cascade, maybe reforge steps."""
    rng = calls.rng
    base, n = cell_base_order(position), len(group)
    common = {"cell": position, "slot": cell_slot(position), "parent_slot": 0}
    model, requested = calls.models(cell, group, np.full(n, cat.MODEL_CODE[cell.models[0]]))
    tokens_in = calls.prompt_tokens(cell, group.in_tokens, group.in_factor)
    tokens_out, latency = calls.completion(
        cell, model, tokens_in, group.in_factor, group.out_factor
    )
    blocks.add(
        group.sess, base + AGENT, "agent", "assistant", **common,
        species=group.species, model=model, requested=requested, tokens_in=tokens_in,
        tokens_out=tokens_out, gap_us=latency, turn=1, attempt=1,
        content=_responses(rng, cell, n),
    )
    tool = rng.random(n) < cell.tool_rate
    sub = rng.random(n) < cell.sub_rate
    if cell.tool:
        call = json.dumps([{"id": "call_1", "type": "function", "function": {"name": cell.tool}}])
        _tool_round(rng, blocks, group.sess[tool], base + TOOL_CALL, base + TOOL_RESULT,
                    common, call)
    window = np.where(sub, rng.integers(5 * MICROS, 60 * MICROS, n), 0)
    child_window[group.sess[sub]] = window[sub]
    blocks.add(
        group.sess[sub], base + SUB_CASCADE_REF, "sub_cascade_ref", "system", **common,
        content=json.dumps(cell.sub_cascade), gap_us=rng.integers(5_000, 30_000, int(sub.sum())),
    )
    second = tool | sub
    # The second turn reads the conversation so far plus what the tool or child returned.
    returned = np.where(tool, rng.integers(300, 1_500, n), 0) + np.where(sub, 200, 0)
    returned = returned * group.in_factor
    tokens_in_2 = (tokens_in + tokens_out + returned).astype(np.int64)
    tokens_out_2 = _later_turn(
        calls, blocks, cell, position, group, second, base + AGENT_TURN_2, 2, tokens_in_2,
        window,
    )
    if cell.tool:
        # Some tool answers need another round: one more tool call and one more LLM turn.
        again = tool & (rng.random(n) < calls.world.extra_tool_round_rate)
        _tool_round(rng, blocks, group.sess[again], base + TOOL_CALL_2, base + TOOL_RESULT_2,
                    common, call)
        tokens_in_3 = tokens_in_2 + tokens_out_2 + rng.integers(300, 1_500, n) * group.in_factor
        _later_turn(
            calls, blocks, cell, position, group, again, base + AGENT_TURN_3, 3,
            tokens_in_3.astype(np.int64), np.zeros(n, dtype=np.int64),
        )
    _reforge_rows(calls, blocks, cell, position, group, model, requested, tokens_out)


def _tool_round(
    rng: np.random.Generator,
    blocks: _Blocks,
    sessions: np.ndarray,
    call_order: int,
    result_order: int,
    common: dict[str, int],
    call: str,
) -> None:
    """A tool call and its result in each of `sessions`."""
    blocks.add(sessions, call_order, "tool_call", "tool", **common,
               tool_calls=call, gap_us=rng.integers(5_000, 50_000, len(sessions)))
    blocks.add(sessions, result_order, "tool_result", "tool", **common,
               content=_TOOL_RESULT, gap_us=rng.integers(200_000, 4 * MICROS, len(sessions)))


def _later_turn(
    calls: _Calls,
    blocks: _Blocks,
    cell: cat.Cell,
    position: int,
    group: _Group,
    mask: np.ndarray,
    order: int,
    turn: int,
    tokens_in: np.ndarray,
    wait_us: np.ndarray,
) -> np.ndarray:
    """Another LLM turn of the runs in `mask`, reading `tokens_in`; returns completion
    tokens for every run of the group (0 where there was no such turn)."""
    model, requested = calls.models(
        cell, group, np.full(len(group), cat.MODEL_CODE[cell.models[0]])
    )
    tokens_out, latency = calls.completion(
        cell, model, tokens_in, group.in_factor, group.out_factor
    )
    blocks.add(
        group.sess[mask], order, "agent", "assistant",
        cell=position, slot=cell_slot(position), parent_slot=0,
        species=group.species[mask], model=model[mask], requested=requested[mask],
        tokens_in=tokens_in[mask], tokens_out=tokens_out[mask],
        gap_us=latency[mask] + wait_us[mask], turn=turn, attempt=1,
        content=_responses(calls.rng, cell, int(mask.sum())),
    )
    return np.where(mask, tokens_out, 0)


def _reforge_rows(
    calls: _Calls,
    blocks: _Blocks,
    cell: cat.Cell,
    position: int,
    group: _Group,
    model: np.ndarray,
    requested: np.ndarray,
    tokens_out: np.ndarray,
) -> None:
    """Reforge refines the answer over steps, each reading the previous one. It is cell
    config in RVBBIT, so every run of a reforging cell takes every step."""
    sess, previous = group.sess, tokens_out
    for step in range(1, cell.reforge_steps + 1):
        model, requested = calls.models(cell, group, requested)
        tokens_in = (cell.prompt_tokens * group.in_factor).astype(np.int64) + previous
        previous, latency = calls.completion(
            cell, model, tokens_in, group.in_factor, group.out_factor
        )
        blocks.add(
            sess, cell_base_order(position) + REFORGE + step, "agent", "assistant",
            cell=position, slot=cell_slot(position), parent_slot=0,
            species=group.species, model=model, requested=requested, tokens_in=tokens_in,
            tokens_out=previous, gap_us=latency, reforge_step=step, attempt=1,
            content=_responses(calls.rng, cell, len(sess)),
        )


def _loop_rows(
    calls: _Calls, blocks: _Blocks, cell: cat.Cell, position: int, group: _Group
) -> None:
    """A planted loop: the cell calls its model again and again, each call reading the
    conversation so far (turns 2, 3, ...)."""
    looping = np.flatnonzero(group.extra_calls > 0)
    if not len(looping):
        return
    loop = _Group(**{f.name: getattr(group, f.name)[looping] for f in fields(_Group)})
    tokens_in = calls.prompt_tokens(cell, loop.in_tokens, loop.in_factor)
    for k in range(int(loop.extra_calls.max())):
        again = loop.extra_calls > k
        tokens_out = _later_turn(
            calls, blocks, cell, position, loop, again, cell_base_order(position) + LOOP + k,
            2 + k, tokens_in, np.zeros(len(loop), dtype=np.int64),
        )
        tokens_in = tokens_in + tokens_out


def _take_rows(
    calls: _Calls,
    blocks: _Blocks,
    takes: _TakeParts,
    cell: cat.Cell,
    position: int,
    group: _Group,
    phrase_cell: bool,
) -> None:
    """Parallel takes, an evaluator picking exactly one winner, and their records."""
    rng = calls.rng
    m, n = len(group), cell.takes
    model, requested = calls.models(cell, group, _take_models(rng, cell, m))
    in_factor, out_factor = group.in_factor[:, None], group.out_factor[:, None]
    in_tokens = np.repeat(group.in_tokens[:, None], n, axis=1)
    tokens_in = calls.prompt_tokens(cell, in_tokens, in_factor)
    tokens_out, latency = calls.completion(cell, model, tokens_in, in_factor, out_factor)
    failed = rng.random((m, n)) < cat.TAKE_ERROR_RATE
    failed[:, 0] = False  # one take always answers, so every set has a winner
    phrases = (rng.random((m, n, len(cat.STYLE_PHRASES))) < cat.STYLE_PHRASE_RATE) @ _PHRASE_BITS
    mutation = rng.integers(len(cat.MUTATIONS), size=m)
    mutation[rng.random(m) >= cat.MUTATION_RATE] = -1
    mutated = mutation >= 0
    phrases[mutated, n - 1] = phrases[mutated, 0]  # a mutation rewrites take 0's prompt
    score = cat.QUALITY[model] + rng.normal(0.0, 0.08, (m, n))
    if phrase_cell:
        planted = (group.inputs == cat.PLANTED_INPUT_RANK)[:, None] & ((phrases & PHRASE_BIT) > 0)
        score += cat.PHRASE_SCORE_BONUS * planted
    winner = np.argmax(np.where(failed, -np.inf, score), axis=1)
    is_winner = winner[:, None] == np.arange(n)[None, :]
    take_mutation = np.full((m, n), -1)
    take_mutation[:, n - 1] = mutation
    first = takes.count
    record = first + np.arange(m * n).reshape(m, n)
    parent = np.full((m, n), -1)
    parent[mutated, n - 1] = record[mutated, 0]
    takes.add(
        Takes(
            sess=np.repeat(group.sess, n), cell=np.full(m * n, position),
            take_index=np.tile(np.arange(n), m), model=model.ravel(),
            score=np.clip(score, 0.0, 1.0).ravel(), is_winner=is_winner.ravel(),
            tokens_in=tokens_in.ravel(), tokens_out=tokens_out.ravel(),
            latency_us=latency.ravel(), phrases=phrases.ravel(), mutation=take_mutation.ravel(),
            parent=parent.ravel(),
        )
    )
    base = cell_base_order(position)
    for i in range(n):
        common = {
            "cell": position, "slot": take_slot(position, i), "parent_slot": cell_slot(position),
            "take_index": i, "gap_us": latency[:, i] // n,  # takes run in parallel
        }
        ok = ~failed[:, i]
        blocks.add(
            group.sess[ok], base + TAKE + i, "agent", "assistant",
            **{k: v[ok] if isinstance(v, np.ndarray) else v for k, v in common.items()},
            species=group.species[ok], model=model[ok, i], requested=requested[ok, i],
            tokens_in=tokens_in[ok, i],
            tokens_out=tokens_out[ok, i], is_winner=is_winner[ok, i], attempt=1,
            mutation=take_mutation[ok, i], lineage=record[ok, i],
            content=_responses(rng, cell, int(ok.sum())),
        )
        blocks.add(
            group.sess[~ok], base + TAKE + i, "take_error", "error",
            **{k: v[~ok] if isinstance(v, np.ndarray) else v for k, v in common.items()},
            content=_TAKE_ERROR,
        )
    blocks.add(
        group.sess, base + EVALUATOR, "evaluator", "system",
        cell=position, slot=cell_slot(position), parent_slot=0, winning_take=winner,
        gap_us=rng.integers(300_000, 1_500_000, m),
        content=np.char.add('"winner: take ', winner.astype(str)).astype(object) + '"',
    )


def _error_rows(
    calls: _Calls,
    blocks: _Blocks,
    sessions: Sessions,
    cell: cat.Cell,
    position: int,
    group: _Group,
) -> None:
    """A failing cell logs cell_error; a recovered one then retries (attempt 2)."""
    rng = calls.rng
    base = cell_base_order(position)
    common = {"cell": position, "slot": cell_slot(position), "parent_slot": 0}
    failing = (sessions.error_cell[group.sess] == position) | (
        sessions.recovered_cell[group.sess] == position
    )
    blocks.add(
        group.sess[failing], base + CELL_ERROR, "cell_error", "error", **common,
        content=_CELL_ERROR, gap_us=rng.integers(1_000, 50_000, int(failing.sum())),
    )
    retry = sessions.recovered_cell[group.sess] == position
    tokens_in = calls.prompt_tokens(cell, group.in_tokens, group.in_factor)
    model, requested = calls.models(
        cell, group, np.full(len(group), cat.MODEL_CODE[cell.models[0]])
    )
    tokens_out, latency = calls.completion(
        cell, model, tokens_in, group.in_factor, group.out_factor
    )
    blocks.add(
        group.sess[retry], base + RETRY, "agent", "assistant", **common,
        species=group.species[retry], model=model[retry], requested=requested[retry],
        tokens_in=tokens_in[retry], tokens_out=tokens_out[retry], gap_us=latency[retry],
        attempt=2, turn=1, content=_responses(rng, cell, int(retry.sum())),
    )


def _take_models(rng: np.random.Generator, cell: cat.Cell, m: int) -> np.ndarray:
    """(runs, takes) model codes; a permuting cell runs each of its models once per set."""
    codes = np.array([cat.MODEL_CODE[name] for name in cell.models])
    if cell.permute_take_models:
        return codes[np.argsort(rng.random((m, cell.takes)), axis=1)]
    return codes[rng.integers(len(codes), size=(m, cell.takes))]


def _responses(rng: np.random.Generator, cell: cat.Cell, n: int) -> np.ndarray:
    return np.array(cell.responses, dtype=object)[rng.integers(len(cell.responses), size=n)]


def _default(name: str) -> int | None:
    if name in _OBJECT_COLUMNS:
        return None
    return 0 if name in _ZERO_DEFAULTS else -1


def _filled(name: str, value: Any, n: int) -> np.ndarray:
    if name in _OBJECT_COLUMNS:
        return np.full(n, value, dtype=object)
    return np.full(n, value, dtype=np.int64)
