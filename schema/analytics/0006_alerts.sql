-- Alerts (the design's _check_for_alerts) and their webhook delivery state.
--
-- `alerts` holds each alert once per (session_id, alert_type). Like the other per-run
-- tables it is partitioned by the UTC day of the run's created_at and rewritten a whole
-- day at a time with REPLACE PARTITION, so reruns and backfills never add a second copy.
--
-- `alert_deliveries` is deliberately NOT partitioned by day: rewriting a day of alerts
-- must not forget what was already sent. One row per (session_id, alert_type) survives
-- merges (the highest version); read it with FINAL.

CREATE TABLE IF NOT EXISTS ${analytics}.alerts
(
    session_id String,
    alert_type LowCardinality(String),      -- cost_spike | regression | prediction_miss | error_outlier
    cascade_id String,
    created_at DateTime,                    -- the run's start (its day partition)
    run_finished_at DateTime64(6),          -- completion row, or last row when abandoned
    severity LowCardinality(String),        -- critical | major | minor | warning
    message String,
    metric Float64,                         -- the value that raised it: z, % change, error ratio, errors
    detected_at DateTime                    -- first time the pipeline raised this alert
)
ENGINE = MergeTree()
PARTITION BY toDate(created_at)
ORDER BY (session_id, alert_type);

CREATE TABLE IF NOT EXISTS ${analytics}.alert_deliveries
(
    session_id String,
    alert_type LowCardinality(String),
    -- sending (claimed by a run) | sent | failed (retried by a later run inside the window)
    -- | not_sent_too_old (backfilled history, never sent) | interrupted (a claim whose run
    -- stopped mid-delivery; not resent, to never send an alert twice)
    status LowCardinality(String),
    attempts UInt8,
    last_error String,
    destination String,                     -- the webhook with its path and query redacted
    updated_at DateTime64(3),
    version UInt64                          -- microseconds since the epoch; the newest row wins
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (session_id, alert_type);
