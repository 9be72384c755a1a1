-- When each day of each per-run table was last rewritten, by any run (sensor, UI, CLI, or a
-- history build). The sensor compares them: a day whose stages were computed before an
-- earlier day's facts were rewritten read stale history, and is analysed again.
CREATE TABLE IF NOT EXISTS ${analytics}.day_writes
(
    stage LowCardinality(String),           -- the analytics table rewritten
    day Date,
    written_at DateTime64(6)                -- when the day was swapped in (the store's clock)
)
ENGINE = ReplacingMergeTree(written_at)
ORDER BY (stage, day);
