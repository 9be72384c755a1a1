"""The sensor's cursor: what it has read of the store and of its own runs, and what it owes."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from rvbbit_assets.sensors.log_watermark import Watermark
from rvbbit_assets.sensors.run_outcomes import Analysed, Outcomes, Owed


@dataclass(frozen=True)
class SensorCursor:
    completed: Watermark = field(default_factory=dict)
    abandoned: Watermark = field(default_factory=dict)
    # Unix time of the last reconciliation (every finished run without analytics, every
    # recent run against its analysis).
    reconciled_at: float | None = None
    # The active log parts when the recent days were last compared with their analysis:
    # between reconciliations, only runs with rows in other parts (written, merged or
    # rewritten by a mutation since) can have changed.
    recent_parts: list[str] = field(default_factory=list)
    # Update time of the newest finished run of this sensor already read.
    runs_read_until: float | None = None
    # The days of failed or cancelled runs not analysed since.
    owed: Owed | None = None
    # The latest successful run of this sensor.
    analysed: Analysed | None = None
    # Evidence requested, and when ("unanalysed 2026-11-30" -> ["3", 1764580000.0]).
    requested: dict[str, list] = field(default_factory=dict)

    @property
    def outcomes(self) -> Outcomes:
        return Outcomes(self.owed, self.analysed)

    @classmethod
    def parse(cls, text: str | None) -> SensorCursor | None:
        if not text:
            return None
        data = json.loads(text)
        owed, analysed = data.pop("owed", None), data.pop("analysed", None)
        return cls(**data, owed=Owed(**owed) if owed else None,
                   analysed=Analysed(**analysed) if analysed else None)

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)
