"""The daily partitions shared by every per-run asset (defined once)."""

from __future__ import annotations

from dagster import DailyPartitionsDefinition

from rvbbit_assets.config import Settings

# end_offset=1 makes today a partition too: a run is analysed the day it finishes.
daily_partitions = DailyPartitionsDefinition(
    start_date=Settings.from_env().partitions_start.isoformat(),
    timezone="UTC",
    end_offset=1,
)
