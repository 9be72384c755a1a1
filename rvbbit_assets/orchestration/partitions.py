"""The daily partitions shared by every per-run asset (defined once)."""

from __future__ import annotations

from dagster import DailyPartitionsDefinition

from rvbbit_assets.config import setting

# end_offset=1 makes today a partition too: a run is analysed the day it finishes.
daily_partitions = DailyPartitionsDefinition(
    start_date=setting("RVBBIT_PARTITIONS_START").isoformat(),
    timezone="UTC",
    end_offset=1,
)
