"""Runs (sessions) of one chunk: who started them, when, on which cascade and input, and
how each one will end. Everything is a column; rows come later (events.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields, replace

import numpy as np

from rvbbit_assets.demo import catalog as cat
from rvbbit_assets.demo.ids import hex_words, scrambled, woodland_names
from rvbbit_assets.demo.inputs import SPECIAL_CASCADE, SPECIAL_INPUTS, InputPool
from rvbbit_assets.demo.layout import AGENT, cell_base_order
from rvbbit_assets.demo.plan import DayPiece, Plan, times_of_day

NO_CUT = np.iinfo(np.int32).max
SQL, UI = cat.ORIGINS.index("sql"), cat.ORIGINS.index("ui")
_METADATA_HEADS = np.array(
    [
        '{"origin": "sql", "triggered_by": "postgres_server", "invocation_timestamp": "',
        '{"origin": "cli", "triggered_by": "cli", "invocation_timestamp": "',
        '{"origin": "ui", "triggered_by": "dashboard_ui", "invocation_timestamp": "',
    ],
    dtype=object,
)
_TABLES = ("customers", "orders", "tickets", "products", "events", "reviews")
_UI_COMPONENTS = ("playground", "notebook", "sessions")
_UI_ACTIONS = ("run", "re-run", "fork")


@dataclass(frozen=True)
class Callers:
    """SQL queries and UI users that start runs; CLI runs are their own caller."""

    sql_ids: np.ndarray
    sql_tails: np.ndarray  # (callers, cascades): metadata JSON after the timestamp
    ui_ids: np.ndarray
    ui_tails: np.ndarray  # (callers,)
    cli_tails: np.ndarray  # (cascades,)


@dataclass(frozen=True)
class Sessions:
    """Columns of the runs of one chunk (top-level runs, or their sub-cascade children)."""

    session_id: np.ndarray
    cascade: np.ndarray
    input: np.ndarray  # index into the cascade's input pool
    origin: np.ndarray
    caller_id: np.ndarray
    metadata: np.ndarray  # invocation_metadata_json
    start_us: np.ndarray
    day: np.ndarray
    parent_session_id: np.ndarray  # '' for top-level runs
    depth: np.ndarray
    error_cell: np.ndarray  # cell position that fails the run, -1 for none
    recovered_cell: np.ndarray  # cell position that fails once then succeeds, -1 for none
    cut_order: np.ndarray  # abandoned runs log nothing from this order on
    running: np.ndarray  # still running at the horizon
    spike_kind: np.ndarray  # index into catalog.SPIKE_KINDS of a planted spike, -1 for none
    spike_size: np.ndarray  # its token multiplier or extra calls (0 for a model spike)
    regressed: np.ndarray  # a run of the planted regression (its input, from its day on)

    def __len__(self) -> int:
        return len(self.session_id)

    def take(self, index: np.ndarray) -> Sessions:
        return Sessions(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def build_callers(rng: np.random.Generator, expected_runs: int) -> Callers:
    n_sql = int(np.clip(expected_runs / 200, 10, 5_000))
    n_ui = int(np.clip(expected_runs / 500, 5, 2_000))
    sql_ids = woodland_names(rng, hex_words(rng.integers(0, 2**24, n_sql), 6), "sql-")
    ui_ids = woodland_names(rng, hex_words(rng.integers(0, 2**24, n_ui), 6), "ui-")
    tables = rng.choice(_TABLES, size=n_sql)
    limits = rng.choice([10, 100, 500, 1000, 5000], size=n_sql)
    sql_tails = np.empty((n_sql, len(cat.CASCADES)), dtype=object)
    for i in range(n_sql):
        for j, cascade in enumerate(cat.CASCADES):
            query = (
                f"RVBBIT MAP '{cascade.config_path}' USING "
                f"(SELECT * FROM {tables[i]} LIMIT {limits[i]})"
            )
            digest = hashlib.md5(query.encode()).hexdigest()
            sql_tails[i, j] = (
                f'", "sql": {{"query": "{query}", "query_hash": "{digest}", '
                f'"protocol": "postgresql_wire", "row_count": {limits[i]}}}}}'
            )
    ui_tails = np.array(
        [
            f'", "ui": {{"component": "{rng.choice(_UI_COMPONENTS)}", '
            f'"action": "{rng.choice(_UI_ACTIONS)}", "cascade_source": "cascade"}}}}'
            for _ in range(n_ui)
        ],
        dtype=object,
    )
    cli_tails = np.array(
        [
            f'", "cli": {{"command": "rvbbit run {c.config_path} --input input.json", '
            f'"cascade_file": "{c.config_path}", "input_source": "file"}}}}'
            for c in cat.CASCADES
        ],
        dtype=object,
    )
    return Callers(sql_ids, sql_tails, ui_ids, ui_tails, cli_tails)


def top_level_sessions(
    rng: np.random.Generator,
    plan: Plan,
    pieces: tuple[DayPiece, ...],
    pools: list[InputPool],
    callers: Callers,
    is_first_chunk: bool,
) -> Sessions:
    """The chunk's top-level runs, in start order."""
    day = np.concatenate([np.full(p.count, p.day) for p in pieces])
    gidx = np.concatenate([np.arange(p.first, p.first + p.count) for p in pieces])
    start_us = np.concatenate(
        [
            plan.day_start_us[p.day] + times_of_day(rng, p.count, plan.day_load_share[p.day])
            for p in pieces
        ]
    )
    n = len(gidx)
    cascade = _cascades(rng, plan, day)
    inputs = np.zeros(n, dtype=np.int64)
    origin = np.zeros(n, dtype=np.int64)
    for code, c in enumerate(cat.CASCADES):
        mine = np.flatnonzero(cascade == code)
        pool = pools[code]
        inputs[mine] = rng.choice(len(pool.texts), size=len(mine), p=pool.probabilities)
        origin[mine] = rng.choice(3, size=len(mine), p=c.origin_weights)
    spike_kind, spike_size = _spikes(rng, plan, gidx)
    if is_first_chunk:
        _place_special_inputs(cascade, inputs, spike_kind, pools)
    session_id = _session_ids(rng, plan.seed, gidx, origin)
    if is_first_chunk and n > len(SPECIAL_INPUTS):
        # RVBBIT never escapes ids: one run carries a quote, as a hand-typed name can.
        name, suffix = session_id[len(SPECIAL_INPUTS)].rsplit("-", 1)
        session_id[len(SPECIAL_INPUTS)] = f"{name}'s-{suffix}"
    caller_id, tails = _callers_of(rng, origin, cascade, session_id, callers)
    regression = (
        (cascade == cat.CASCADE_CODE[cat.REGRESSION_CASCADE])
        & (inputs == cat.PLANTED_INPUT_RANK)
        & (day >= plan.regression_day)
    )
    error_cell, recovered_cell = _errors(rng, plan, cascade, spike_kind)
    sessions = Sessions(
        session_id=session_id,
        cascade=cascade,
        input=inputs,
        origin=origin,
        caller_id=caller_id,
        metadata=_METADATA_HEADS[origin] + iso_timestamps(start_us) + tails,
        start_us=start_us,
        day=day,
        parent_session_id=np.full(n, "", dtype=object),
        depth=np.zeros(n, dtype=np.uint8),
        error_cell=error_cell,
        recovered_cell=recovered_cell,
        cut_order=np.full(n, NO_CUT, dtype=np.int64),
        running=gidx >= plan.total - plan.running,
        spike_kind=spike_kind,
        spike_size=spike_size,
        regressed=regression,
    )
    return _abandon(rng, sessions, np.isin(gidx, plan.abandoned))


def child_sessions(
    rng: np.random.Generator,
    plan: Plan,
    parents: Sessions,
    parent_index: np.ndarray,
    start_us: np.ndarray,
    day_start_us: np.ndarray,
    pools: list[InputPool],
) -> Sessions:
    """Sub-cascade runs `{parent}_sub1`, one level deeper, started at `start_us`."""
    n = len(parent_index)
    code = cat.CASCADE_CODE["fact_check"]
    day = np.searchsorted(day_start_us, start_us, side="right") - 1
    no_spike = np.full(n, -1)
    error_cell, recovered_cell = _errors(rng, plan, np.full(n, code), no_spike)
    return Sessions(
        session_id=parents.session_id[parent_index] + "_sub1",
        cascade=np.full(n, code),
        input=rng.choice(len(pools[code].texts), size=n, p=pools[code].probabilities),
        origin=parents.origin[parent_index],
        caller_id=parents.caller_id[parent_index],  # sub-cascades share the top caller
        metadata=parents.metadata[parent_index],
        start_us=start_us,
        day=day,
        parent_session_id=parents.session_id[parent_index],
        depth=parents.depth[parent_index] + 1,
        error_cell=error_cell,
        recovered_cell=recovered_cell,
        cut_order=np.full(n, NO_CUT, dtype=np.int64),
        running=np.zeros(n, dtype=bool),
        spike_kind=no_spike,
        spike_size=np.zeros(n),
        regressed=np.zeros(n, dtype=bool),
    )


def iso_timestamps(us: np.ndarray) -> np.ndarray:
    """RVBBIT's `datetime.now(timezone.utc).isoformat()` text, as an object array."""
    text = np.datetime_as_string(us.astype("datetime64[us]"), unit="us")
    return text.astype(object) + "+00:00"


def _session_ids(
    rng: np.random.Generator, seed: int, gidx: np.ndarray, origin: np.ndarray
) -> np.ndarray:
    # A bijection of the global index keeps ids unique at any size.
    suffix = hex_words(scrambled(gidx, seed), 8)
    prefixes = np.array(["udf-", "cli-", ""], dtype=object)[origin]
    return prefixes + woodland_names(rng, suffix, "")


def _callers_of(
    rng: np.random.Generator,
    origin: np.ndarray,
    cascade: np.ndarray,
    session_id: np.ndarray,
    callers: Callers,
) -> tuple[np.ndarray, np.ndarray]:
    n = len(origin)
    sql = rng.integers(len(callers.sql_ids), size=n)
    ui = rng.integers(len(callers.ui_ids), size=n)
    # A top-level CLI run is its own caller: caller_id equals session_id.
    caller_id = np.where(
        origin == SQL, callers.sql_ids[sql], np.where(origin == UI, callers.ui_ids[ui], session_id)
    )
    tails = np.where(
        origin == SQL,
        callers.sql_tails[sql, cascade],
        np.where(origin == UI, callers.ui_tails[ui], callers.cli_tails[cascade]),
    )
    return caller_id, tails


def _cascades(rng: np.random.Generator, plan: Plan, day: np.ndarray) -> np.ndarray:
    """Each run's cascade; a run drawn for a cascade before its first day is redrawn among
    the cascades already running."""
    late = plan.world.late_cascade
    cascade = rng.choice(len(cat.CASCADES), size=len(day), p=cat.top_level_share(late))
    share = cat.top_level_share(False)
    for code, c in enumerate(cat.CASCADES):
        early = np.flatnonzero((cascade == code) & (day < plan.start_day(c.starts_at)))
        cascade[early] = rng.choice(len(cat.CASCADES), size=len(early), p=share)
    return cascade


def _spikes(
    rng: np.random.Generator, plan: Plan, gidx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The kind and size of the planted spikes among these runs (any run, any input)."""
    kind = np.full(len(gidx), -1)
    size = np.zeros(len(gidx))
    hit = np.flatnonzero(np.isin(gidx, plan.spikes))
    kind[hit] = plan.spike_kinds[np.searchsorted(plan.spikes, gidx[hit])]
    low, high = cat.SPIKE_MULTIPLIER
    size[hit] = np.round(rng.uniform(low, high, len(hit)), 2)
    loops = hit[kind[hit] == cat.SPIKE_KINDS.index("extra_calls")]
    size[loops] = rng.integers(cat.LOOP_EXTRA_CALLS[0], cat.LOOP_EXTRA_CALLS[1] + 1, len(loops))
    size[hit[kind[hit] == cat.SPIKE_KINDS.index("model_price")]] = 0.0
    return kind, size


def _place_special_inputs(
    cascade: np.ndarray, inputs: np.ndarray, spike_kind: np.ndarray, pools: list[InputPool]
) -> None:
    """The first runs get the malformed and odd inputs, so every load has them."""
    code = cat.CASCADE_CODE[SPECIAL_CASCADE]
    count = min(len(SPECIAL_INPUTS), len(cascade))
    cascade[:count] = code
    inputs[:count] = pools[code].special_first + np.arange(count)
    spike_kind[:count] = -1


def _errors(
    rng: np.random.Generator, plan: Plan, cascade: np.ndarray, spike_kind: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A cell that fails the run (never a spike's: its cost must be seen whole), and a cell
    that fails once and is retried."""
    n = len(cascade)
    cells = np.array([len(c.cells) for c in cat.CASCADES])[cascade]
    position = (rng.random(n) * cells).astype(np.int64)
    draw = rng.random(n)
    fatal = (draw < cat.FATAL_ERROR_RATE) & (spike_kind < 0)
    recovered = (draw >= 1 - plan.world.retry_rate) & ~fatal
    return np.where(fatal, position, -1), np.where(recovered, position, -1)


def _abandon(rng: np.random.Generator, sessions: Sessions, abandoned: np.ndarray) -> Sessions:
    """Abandoned runs stop logging inside a random cell and never log a completion."""
    cells = np.array([len(c.cells) for c in cat.CASCADES])[sessions.cascade]
    cut_cell = (rng.random(len(sessions)) * cells).astype(np.int64)
    cut = np.where(abandoned, cell_base_order(cut_cell) + AGENT, NO_CUT)
    return replace(
        sessions,
        cut_order=cut,
        error_cell=np.where(abandoned, -1, sessions.error_cell),
        recovered_cell=np.where(abandoned, -1, sessions.recovered_cell),
    )
