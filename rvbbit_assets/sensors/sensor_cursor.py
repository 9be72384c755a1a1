"""The sensor's cursor: what it has read of the store and of its own runs, and what it owes."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from rvbbit_assets.sensors.log_watermark import Watermark
from rvbbit_assets.sensors.run_outcomes import Owed


@dataclass(frozen=True)
class SensorCursor:
    completed: Watermark = field(default_factory=dict)
    abandoned: Watermark = field(default_factory=dict)
    # Unix time of the last reconciliation (every finished run without analytics).
    reconciled_at: float | None = None
    # Update time of the newest finished run of this sensor already read.
    runs_read_until: float | None = None
    # The days of failed or cancelled runs not analysed since.
    owed: Owed | None = None
    # Evidence already requested once ("unanalysed 2026-11-30" -> "3"): found again
    # unchanged, it is not requested again (a failed run is retried through `owed`).
    requested: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> SensorCursor | None:
        if not text:
            return None
        data = json.loads(text)
        owed = data.pop("owed", None)
        return cls(**data, owed=Owed(**owed) if owed else None)

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)
