"""One chunk of the demo load: its runs, their sub-cascade children, and the table frames."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TypeVar

import numpy as np
import pandas as pd

from rvbbit_assets.demo import catalog as cat
from rvbbit_assets.demo.events import NODE, Rows, Takes, build_rows, place_in_time
from rvbbit_assets.demo.frames import LogIds, lineage_frame, log_frame, log_ids, session_frame
from rvbbit_assets.demo.inputs import InputPool
from rvbbit_assets.demo.plan import MICROS, DayPiece, Plan
from rvbbit_assets.demo.runs import Callers, Sessions, child_sessions, top_level_sessions

_Columns = TypeVar("_Columns", Sessions, Rows, Takes)


@dataclass(frozen=True)
class Chunk:
    """What one chunk writes, plus what the ground truth needs to know about it."""

    sessions: Sessions  # top-level runs, then their children
    present: np.ndarray  # runs that exist at the horizon (children may start after it)
    rows: Rows
    timestamp: np.ndarray
    ids: LogIds
    full_cost: np.ndarray  # cost of each row once known, NaN for rows without cost
    late: np.ndarray  # rows inserted with cost NULL
    sessions_frame: pd.DataFrame
    logs_frame: pd.DataFrame
    lineage_frame: pd.DataFrame


def generate_chunk(
    rng: np.random.Generator,
    plan: Plan,
    pieces: tuple[DayPiece, ...],
    pools: list[InputPool],
    callers: Callers,
    is_first: bool,
) -> Chunk:
    parents = top_level_sessions(rng, plan, pieces, pools, callers, is_first)
    built = build_rows(rng, parents, pools, plan.world)
    rows, timestamp = place_in_time(rng, built.rows, parents, plan.horizon_us)
    # A child starts once its parent logged sub_cascade_ref, and ends before the parent
    # resumes (its window).
    ref = np.flatnonzero(rows.node == NODE["sub_cascade_ref"])
    window = built.child_window_us[rows.sess[ref]]
    children = child_sessions(
        rng, plan, parents, rows.sess[ref], timestamp[ref] + window // 50, plan.day_start_us, pools
    )
    child_built = build_rows(rng, children, pools, plan.world)
    child_rows, child_timestamp = place_in_time(
        rng, child_built.rows, children, plan.horizon_us, span_limit_us=window * 0.9
    )
    sessions = _join(parents, children, {})
    rows = _join(
        rows,
        child_rows,
        {
            "sess": child_rows.sess + len(parents),
            "lineage": np.where(child_rows.lineage >= 0, child_rows.lineage + len(built.takes), -1),
        },
    )
    takes = _join(
        built.takes,
        child_built.takes,
        {
            "sess": child_built.takes.sess + len(parents),
            "parent": np.where(
                child_built.takes.parent >= 0, child_built.takes.parent + len(built.takes), -1
            ),
        },
    )
    timestamp = np.concatenate([timestamp, child_timestamp])
    return _frames(rng, plan, pools, sessions, rows, timestamp, takes)


def _frames(
    rng: np.random.Generator,
    plan: Plan,
    pools: list[InputPool],
    sessions: Sessions,
    rows: Rows,
    timestamp: np.ndarray,
    takes: Takes,
) -> Chunk:
    present = sessions.start_us <= plan.horizon_us
    agent = rows.node == NODE["agent"]
    full_cost = np.full(len(rows), np.nan)
    full_cost[agent] = cat.cost_usd(
        rows.model[agent], rows.tokens_in[agent], rows.tokens_out[agent]
    )
    pending_from = plan.horizon_us - cat.PENDING_COST_SECONDS * MICROS
    late = agent & ((rng.random(len(rows)) < cat.LATE_COST_RATE) | (timestamp >= pending_from))
    ids = log_ids(rng, rows)
    # prompt_lineage holds the takes whose log row exists, in record order.
    take_row = np.flatnonzero(rows.lineage >= 0)
    take_row = take_row[np.argsort(rows.lineage[take_row], kind="stable")]
    lineage = lineage_frame(
        rng,
        takes,
        rows.lineage[take_row],
        rows.take(take_row),
        timestamp[take_row],
        ids.trace_id[take_row],
        sessions,
        pools,
    )
    return Chunk(
        sessions=sessions,
        present=present,
        rows=rows,
        timestamp=timestamp,
        ids=ids,
        full_cost=full_cost,
        late=late,
        sessions_frame=session_frame(sessions.take(np.flatnonzero(present)), pools),
        logs_frame=log_frame(
            rows, timestamp, np.where(late, np.nan, full_cost), ids, sessions, pools
        ),
        lineage_frame=lineage,
    )


def _join(first: _Columns, second: _Columns, shifted: dict[str, np.ndarray]) -> _Columns:
    """`first` then `second`; `shifted` replaces columns of `second` whose indices must
    move past `first`."""
    columns = {}
    for f in fields(first):
        tail = shifted.get(f.name, getattr(second, f.name))
        columns[f.name] = np.concatenate([getattr(first, f.name), tail])
    return type(first)(**columns)
