"""Asset groups, in the order the pipeline reads in the Dagster UI (defined once)."""

SOURCE_GROUP = "rvbbit_source"  # RVBBIT's own tables
PER_RUN_GROUP = "per_run_analytics"  # one row per run, daily partitions
MODELS_GROUP = "models_and_forecasts"
INSIGHTS_GROUP = "alerts_and_insights"
