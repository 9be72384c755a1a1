"""How Dagster runs are cut and take turns: the daily partitions, the day range of a run,
and one run writing the store at a time."""
