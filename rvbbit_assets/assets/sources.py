"""RVBBIT's own tables, shown at the root of the lineage. The pipeline only reads them."""

from __future__ import annotations

from dagster import AssetSpec

from rvbbit_assets.assets.groups import SOURCE_GROUP

unified_logs = AssetSpec(
    "unified_logs",
    group_name=SOURCE_GROUP,
    kinds={"clickhouse"},
    description="RVBBIT's event log: one row per logged event of a run (written by RVBBIT).",
)
cascade_sessions = AssetSpec(
    "cascade_sessions",
    group_name=SOURCE_GROUP,
    kinds={"clickhouse"},
    description="RVBBIT's run table: one row per cascade run, written when the run starts.",
)
prompt_lineage = AssetSpec(
    "prompt_lineage",
    group_name=SOURCE_GROUP,
    kinds={"clickhouse"},
    description="RVBBIT's prompt attempts with winners, evaluator scores and costs.",
)

source_assets = [unified_logs, cascade_sessions, prompt_lineage]
