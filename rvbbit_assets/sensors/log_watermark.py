"""Which log rows are new since the last sensor tick, by the parts they were written in.

Every insert into a MergeTree table writes a new part with higher block numbers, whatever
the rows' own timestamps say. Remembering the highest block seen per partition therefore
finds runs inserted late or out of order, which a cursor on event time would miss; merges
only recombine blocks already seen. A part is read once it is `delay` old, so late cost
updates (mutations shortly after the insert) have landed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rvbbit_assets.store import StoreSession

Watermark = dict[str, int]  # partition_id -> highest block number already read


@dataclass(frozen=True)
class LogPart:
    partition_id: str
    name: str
    min_block: int
    max_block: int
    modified_at: datetime


@dataclass(frozen=True)
class NewParts:
    names: list[str]
    watermark: Watermark


def list_log_parts(session: StoreSession) -> list[LogPart]:
    return [
        LogPart(*row)
        for row in session.rows(
            "SELECT partition_id, name, min_block_number, max_block_number, modification_time"
            " FROM system.parts"
            " WHERE database = {db:String} AND table = 'unified_logs' AND active",
            {"db": session.source_database},
        )
    ]


def current_watermark(parts: list[LogPart]) -> Watermark:
    watermark: Watermark = {}
    for part in parts:
        watermark[part.partition_id] = max(watermark.get(part.partition_id, -1), part.max_block)
    return watermark


def settled_new_parts(parts: list[LogPart], seen: Watermark, settled_before: datetime) -> NewParts:
    """Parts with blocks above the watermark, written before `settled_before`.

    The watermark advances past settled parts only: blocks of a part still settling are
    read on a later tick.
    """
    new = [p for p in parts if p.max_block > seen.get(p.partition_id, -1)]
    settled = [p for p in new if p.modified_at <= settled_before]
    watermark = dict(seen)
    for partition_id in {p.partition_id for p in new}:
        in_partition = [p for p in new if p.partition_id == partition_id]
        settling = [p.min_block for p in in_partition if p.modified_at > settled_before]
        watermark[partition_id] = (
            min(settling) - 1 if settling else max(p.max_block for p in in_partition)
        )
    return NewParts([p.name for p in settled], watermark)
