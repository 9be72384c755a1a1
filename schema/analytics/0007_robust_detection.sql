-- Detection beside the design's: robust scores against "inputs like this one" and
-- significant regressions (rvbbit_assets/assets/robust_detection_sql.py says how), one
-- stage table rewritten a day at a time like the others, and its columns in
-- cascade_analytics next to the design's (whose columns stay as they are).

CREATE TABLE IF NOT EXISTS ${analytics}.robust_detection
(
    session_id String,
    cascade_id String,
    created_at DateTime,
    cost_robust_z Float32,                  -- (cost - median) / (1.4826 MAD) of the baseline
    duration_robust_z Float32,
    is_cost_anomaly Bool,                   -- cost_robust_z above the threshold
    is_duration_anomaly Bool,
    baseline_kind LowCardinality(String),   -- input (same input's runs) | cluster
    baseline_runs UInt32,                   -- prior runs in the cost baseline
    baseline_by_day_type Bool,              -- only runs of the same weekday/weekend type
    baseline_median_cost Float32,
    baseline_median_duration Float32,
    enough_species_history Bool,
    regression_p_value Nullable(Float32),   -- change-point test, NULL with too little history
    is_regression_significant Bool
)
ENGINE = MergeTree()
PARTITION BY toDate(created_at)
ORDER BY (cascade_id, created_at, session_id);

ALTER TABLE ${analytics}.cascade_analytics
    ADD COLUMN IF NOT EXISTS cost_robust_z Float32 DEFAULT 0 AFTER regression_severity,
    ADD COLUMN IF NOT EXISTS duration_robust_z Float32 DEFAULT 0 AFTER cost_robust_z,
    ADD COLUMN IF NOT EXISTS is_cost_anomaly Bool DEFAULT false AFTER duration_robust_z,
    ADD COLUMN IF NOT EXISTS is_duration_anomaly Bool DEFAULT false AFTER is_cost_anomaly,
    ADD COLUMN IF NOT EXISTS regression_p_value Nullable(Float32) AFTER is_duration_anomaly,
    ADD COLUMN IF NOT EXISTS is_regression_significant Bool DEFAULT false
        AFTER regression_p_value;
