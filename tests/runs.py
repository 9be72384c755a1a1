"""Hand-made RVBBIT runs for tests: rows written the way RVBBIT writes them."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rvbbit_assets.store import StoreSession

LOG_COLUMNS = (
    "timestamp", "timestamp_iso", "session_id", "trace_id", "parent_session_id", "caller_id",
    "node_type", "role", "cascade_id", "cell_name", "species_hash", "model", "tokens_in",
    "tokens_out", "cost", "take_index", "is_winner", "reforge_step", "winning_take_index",
)


@dataclass
class Row:
    """One unified_logs row, `at` seconds after the run's start."""

    node_type: str = "agent"
    role: str = "assistant"
    at: float = 1.0
    model: str | None = None
    cost: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cell_name: str | None = None
    species_hash: str | None = None
    take_index: int | None = None
    is_winner: bool | None = None
    reforge_step: int | None = None
    winning_take_index: int | None = None


@dataclass
class Run:
    session_id: str
    cascade_id: str
    created_at: datetime
    rows: Sequence[Row] = field(default_factory=list)
    input_data: str = '{"rows": [1, 2, 3]}'
    completion: str | None = "cascade_completed"
    completion_at: float | None = None
    parent_session_id: str = ""
    depth: int = 0
    caller_id: str = "cli-test"
    invocation_metadata_json: str = '{"origin": "cli"}'


def llm(cost: float | None, at: float = 1.0, model: str = "gpt-4o-mini", **kw: Any) -> Row:
    """An assistant response row."""
    return Row(model=model, cost=cost, at=at, tokens_in=kw.pop("tokens_in", 100),
               tokens_out=kw.pop("tokens_out", 20), **kw)


def write_runs(session: StoreSession, runs: Sequence[Run]) -> None:
    sessions = [
        (r.session_id, r.cascade_id, "{}", r.input_data, "", r.created_at, r.parent_session_id,
         r.depth, r.caller_id, r.invocation_metadata_json)
        for r in runs
    ]
    session.insert_rows(
        "cascade_sessions", sessions,
        ["session_id", "cascade_id", "cascade_definition", "input_data", "config_path",
         "created_at", "parent_session_id", "depth", "caller_id", "invocation_metadata_json"],
        database=session.source_database,
    )
    logs = []
    for r in runs:
        rows = list(r.rows)
        if r.completion:
            last = max((row.at for row in rows), default=0.0)
            rows.append(Row(node_type=r.completion, role="system",
                            at=r.completion_at if r.completion_at is not None else last + 1))
        for i, row in enumerate(rows):
            ts = r.created_at + timedelta(seconds=row.at)
            logs.append((
                ts, ts.isoformat(), r.session_id, f"t{i}", r.parent_session_id or None,
                r.caller_id, row.node_type, row.role, r.cascade_id, row.cell_name,
                row.species_hash, row.model, row.tokens_in, row.tokens_out, row.cost,
                row.take_index, row.is_winner, row.reforge_step, row.winning_take_index,
            ))
    if logs:
        session.insert_rows("unified_logs", logs, LOG_COLUMNS, database=session.source_database)


LINEAGE_COLUMNS = ("session_id", "cascade_id", "cell_name", "trace_id", "species_hash",
                   "take_index", "generation", "full_prompt_text", "prompt_hash", "is_winner",
                   "evaluator_score", "cost", "model", "created_at")


def lineage_row(run: Run, cell: str, species: str, take: int, model: str, won: bool,
                score: float | None, cost: float, prompt: str = "Do it.",
                generation: int = 0) -> tuple:
    """One prompt_lineage row (LINEAGE_COLUMNS) of a take of `run`."""
    return (run.session_id, run.cascade_id, cell, f"t{take}", species, take, generation,
            prompt, hashlib.sha256(prompt.encode()).hexdigest()[:16], won, score, cost, model,
            run.created_at)


def write_lineage(session: StoreSession, rows: Sequence[tuple]) -> None:
    session.insert_rows("prompt_lineage", rows, LINEAGE_COLUMNS,
                        database=session.source_database)
