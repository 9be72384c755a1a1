"""DataFrames of the three source tables, column for column as RVBBIT fills them.

Columns RVBBIT leaves empty for these rows are not sent, so the table defaults apply.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rvbbit_assets.demo import catalog as cat
from rvbbit_assets.demo.events import NODE_TYPES, ROLES, Rows, Takes
from rvbbit_assets.demo.ids import random_uuids
from rvbbit_assets.demo.inputs import InputPool
from rvbbit_assets.demo.layout import MAX_CELLS, TRACE_SLOTS
from rvbbit_assets.demo.runs import SQL, Sessions, iso_timestamps

PROMPT_INPUT_CHARS = 400  # how much of the input a lineage prompt text quotes
_PLACEHOLDER = re.compile(r"\{\{\s*input\.(\w+)\s*\}\}")
_CASCADE_IDS = np.array([c.cascade_id for c in cat.CASCADES], dtype=object)
_CONFIG_PATHS = np.array([c.config_path for c in cat.CASCADES], dtype=object)
_DEFINITIONS = np.array([c.definition for c in cat.CASCADES], dtype=object)
_CELL_NAMES = np.array(
    [
        [c.cells[p].name if p < len(c.cells) else None for p in range(MAX_CELLS)]
        for c in cat.CASCADES
    ],
    dtype=object,
)
_MODEL_NAMES = np.array(cat.MODEL_NAMES, dtype=object)
_MUTATION_TYPES = np.array([m[0] for m in cat.MUTATIONS], dtype=object)
_MUTATION_TEMPLATES = np.array([m[1] for m in cat.MUTATIONS], dtype=object)
_MUTATION_TEXTS = np.array([m[2] for m in cat.MUTATIONS], dtype=object)


def session_frame(sessions: Sessions, pools: list[InputPool]) -> pd.DataFrame:
    """cascade_sessions: one row per run, as written when the run starts."""
    return _frame(
        {
            "session_id": sessions.session_id,
            "cascade_id": _CASCADE_IDS[sessions.cascade],
            "cascade_definition": _DEFINITIONS[sessions.cascade],
            "input_data": _per_run(sessions, pools, "texts"),
            "config_path": _CONFIG_PATHS[sessions.cascade],
            "created_at": (sessions.start_us // 1_000_000).astype("datetime64[s]"),
            "parent_session_id": sessions.parent_session_id,
            "depth": sessions.depth.astype(np.uint8),
            "caller_id": sessions.caller_id,
            "invocation_metadata_json": sessions.metadata,
            "genus_hash": _per_run(sessions, pools, "genus"),
        }
    )


def log_frame(
    rows: Rows,
    timestamp: np.ndarray,
    cost: np.ndarray,
    ids: LogIds,
    sessions: Sessions,
    pools: list[InputPool],
) -> pd.DataFrame:
    """unified_logs rows; `cost` is NaN where the row has no cost (yet)."""
    s = rows.sess
    cascade = sessions.cascade[s]
    has_model = rows.model >= 0
    is_sql = sessions.origin[s] == SQL
    parent_session = sessions.parent_session_id[s]
    return _frame(
        {
            "message_id": ids.message_id,
            "timestamp": timestamp.astype("datetime64[us]"),
            "timestamp_iso": iso_timestamps(timestamp),
            "session_id": sessions.session_id[s],
            "trace_id": ids.trace_id,
            "parent_id": ids.parent_id,
            "parent_session_id": np.where(parent_session == "", None, parent_session),
            "caller_id": sessions.caller_id[s],
            "invocation_metadata_json": sessions.metadata[s],
            "is_sql_udf": is_sql,
            "udf_type": np.where(is_sql, "rvbbit_cascade_udf", None),
            "node_type": np.array(NODE_TYPES, dtype=object)[rows.node],
            "role": np.array(ROLES, dtype=object)[rows.role],
            "depth": sessions.depth[s].astype(np.uint8),
            "take_index": _int32(rows.take_index),
            "is_winner": _bool(rows.is_winner),
            "reforge_step": _int32(rows.reforge_step),
            "winning_take_index": _int32(rows.winning_take),
            "attempt_number": _int32(rows.attempt),
            "turn_number": _int32(rows.turn),
            "mutation_applied": _lookup(_MUTATION_TEXTS, rows.mutation),
            "mutation_type": _lookup(_MUTATION_TYPES, rows.mutation),
            "mutation_template": _lookup(_MUTATION_TEMPLATES, rows.mutation),
            "cascade_id": _CASCADE_IDS[cascade],
            "cascade_file": _CONFIG_PATHS[cascade],
            "cell_name": np.where(rows.cell >= 0, _CELL_NAMES[cascade, rows.cell], None),
            "species_hash": rows.species,
            "model": _lookup(_MODEL_NAMES, rows.model),
            "model_requested": _lookup(_MODEL_NAMES, rows.requested),
            "provider": np.where(has_model, cat.PROVIDER, None),
            "tokens_in": _int32(rows.tokens_in),
            "tokens_out": _int32(rows.tokens_out),
            "total_tokens": _int32(np.where(has_model, rows.tokens_in + rows.tokens_out, -1)),
            "cost": _nullable_float(cost),
            "content_json": rows.content,
            "tool_calls_json": rows.tool_calls,
            "genus_hash": _per_run(sessions, pools, "genus")[s],
        }
    )


def lineage_frame(
    rng: np.random.Generator,
    takes: Takes,
    present: np.ndarray,
    take_rows: Rows,
    timestamp: np.ndarray,
    trace_id: np.ndarray,
    sessions: Sessions,
    pools: list[InputPool],
) -> pd.DataFrame:
    """prompt_lineage rows of the take records `present`, whose log rows are `take_rows`
    (with their `timestamp` and `trace_id`)."""
    lineage_id = random_uuids(rng, len(takes))
    parent = np.where(takes.parent >= 0, lineage_id[np.maximum(takes.parent, 0)], None)
    kept = takes.take(present)
    cascade = sessions.cascade[kept.sess]
    text, text_hash = prompt_texts(kept, sessions, pools)
    return _frame(
        {
            "lineage_id": lineage_id[present],
            "session_id": sessions.session_id[kept.sess],
            "cascade_id": _CASCADE_IDS[cascade],
            "cell_name": _CELL_NAMES[cascade, kept.cell],
            "trace_id": trace_id,
            "species_hash": take_rows.species,
            "take_index": kept.take_index.astype(np.int32),
            "generation": (kept.mutation >= 0).astype(np.int32),
            "parent_lineage_id": parent[present],
            "mutation_type": _lookup(_MUTATION_TYPES, kept.mutation),
            "mutation_template": _lookup(_MUTATION_TEMPLATES, kept.mutation),
            "full_prompt_text": text,
            "prompt_hash": text_hash,
            "is_winner": kept.is_winner.astype(bool),
            "evaluator_score": kept.score.astype(np.float32),
            "cost": cat.cost_usd(kept.model, kept.tokens_in, kept.tokens_out),
            "duration_ms": kept.latency_us / 1000.0,
            "tokens_in": kept.tokens_in.astype(np.int32),
            "tokens_out": kept.tokens_out.astype(np.int32),
            "model": _MODEL_NAMES[kept.model],
            "created_at": (timestamp // 1000).astype("datetime64[ms]"),
        }
    )


@dataclass(frozen=True)
class LogIds:
    message_id: np.ndarray
    trace_id: np.ndarray
    parent_id: np.ndarray


def log_ids(rng: np.random.Generator, rows: Rows) -> LogIds:
    """Random message ids, and one random id per trace node of each run: a row carries its
    node's id and its parent node's."""
    message_id = random_uuids(rng, len(rows))
    key = rows.sess * TRACE_SLOTS + rows.slot
    has_parent = rows.parent_slot >= 0
    parent_key = rows.sess[has_parent] * TRACE_SLOTS + rows.parent_slot[has_parent]
    nodes = np.unique(np.concatenate([key, parent_key]))
    ids = random_uuids(rng, len(nodes))
    parent = np.full(len(rows), None, dtype=object)
    parent[has_parent] = ids[np.searchsorted(nodes, parent_key)]
    return LogIds(message_id, ids[np.searchsorted(nodes, key)], parent)


def prompt_texts(
    takes: Takes, sessions: Sessions, pools: list[InputPool]
) -> tuple[np.ndarray, np.ndarray]:
    """The rendered take prompts and their hashes, built once per distinct
    (cascade, cell, input, phrases, mutation)."""
    cascade = sessions.cascade[takes.sess]
    inputs = sessions.input[takes.sess]
    keys = np.stack([cascade, takes.cell, inputs, takes.phrases, takes.mutation], axis=1)
    distinct, inverse = np.unique(keys, axis=0, return_inverse=True)
    texts = [_prompt_text(pools, *key) for key in distinct.tolist()]
    hashes = [hashlib.sha256(t.encode()).hexdigest()[:16] for t in texts]
    inverse = inverse.ravel()
    return np.array(texts, dtype=object)[inverse], np.array(hashes, dtype=object)[inverse]


def _prompt_text(
    pools: list[InputPool], cascade: int, cell: int, input_index: int, phrases: int, mutation: int
) -> str:
    template = cat.CASCADES[cascade].cells[cell].instructions
    parts = [_PLACEHOLDER.sub(r"the \1 below", template)]
    parts += [p for bit, p in enumerate(cat.STYLE_PHRASES) if phrases >> bit & 1]
    if mutation >= 0:
        parts.append(cat.MUTATIONS[mutation][2])
    quoted = pools[cascade].texts[input_index][:PROMPT_INPUT_CHARS]
    return " ".join(parts) + "\n\nInput:\n" + quoted


def _frame(columns: dict[str, Any]) -> pd.DataFrame:
    """A frame that keeps text columns as Python objects: pandas would otherwise convert
    them to Arrow strings, which the ClickHouse client converts straight back."""
    return pd.DataFrame(
        {
            name: pd.Series(v, dtype=object, copy=False)
            if isinstance(v, np.ndarray) and v.dtype == object
            else v
            for name, v in columns.items()
        }
    )


def _per_run(sessions: Sessions, pools: list[InputPool], column: str) -> np.ndarray:
    """A pool column (texts, genus) for each run, through its cascade's pool."""
    values = np.empty(len(sessions), dtype=object)
    for code in np.unique(sessions.cascade).tolist():
        mine = sessions.cascade == code
        values[mine] = getattr(pools[code], column)[sessions.input[mine]]
    return values


def _lookup(table: np.ndarray, codes: np.ndarray) -> np.ndarray:
    return np.where(codes >= 0, table[np.maximum(codes, 0)], None)


def _int32(values: np.ndarray) -> pd.arrays.IntegerArray:
    return pd.arrays.IntegerArray(np.maximum(values, 0).astype(np.int32), values < 0)


def _nullable_float(values: np.ndarray) -> np.ndarray:
    """NaN as None in an object array: the client's fast path for nullable floats."""
    return np.where(np.isnan(values), None, values.astype(object))


def _bool(values: np.ndarray) -> pd.arrays.BooleanArray:
    return pd.arrays.BooleanArray(values == 1, values < 0)
