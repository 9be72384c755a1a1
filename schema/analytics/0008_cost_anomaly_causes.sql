-- The recommended detection, reworked for real cost distributions (routine model
-- fallbacks, heavy-tailed completions, sparse early history) and split along the pipeline:
-- session_facts records each run's LLM calls per (cell, model); baselines add what a run
-- is expected to cost (robust_baselines.sql says how); anomaly_scores turn that into
-- calibrated flags that name their cause; regression_flags test each species for a
-- significant rise, leaving anomalous runs out. The one-stage robust_detection table
-- they replace is dropped. cascade_analytics keeps the design's columns and the earlier
-- robust columns, and gains the cause of a flagged run.

DROP TABLE IF EXISTS ${analytics}.robust_detection SYNC;

ALTER TABLE ${analytics}.session_facts
    ADD COLUMN IF NOT EXISTS llm_calls UInt32 DEFAULT 0 AFTER species_hash_primary,
    -- (cell_name, model, calls, tokens_in, tokens_out, cost) of the run's LLM calls
    ADD COLUMN IF NOT EXISTS llm_usage Array(Tuple(String, String, UInt32, UInt64, UInt64,
                                                   Float64)) DEFAULT [] AFTER llm_calls;

-- Each run priced the way its cells usually pay (rvbbit_assets/assets/priced_runs.sql).
CREATE TABLE IF NOT EXISTS ${analytics}.priced_runs
(
    session_id String,
    cascade_id String,
    created_at DateTime,
    usual_input_cost Float64,               -- input tokens at the cells' usual prices
    usual_output_cost Float64,              -- output tokens at the cells' usual prices
    usual_price_cost Float64,               -- the sum of the two
    routine_price_cost Float64,             -- its tokens at its models' usual prices
    unusual_models Array(String),           -- models the run's cells do not use routinely
    usual_calls UInt32,                     -- the usual calls of the run's cells
    canonical_input_cost Float64,           -- usual-price cost per call x usual calls, per cell
    canonical_output_cost Float64,
    routine_calls_cost Float64              -- usual-price cost, calls capped at routine most
)
ENGINE = MergeTree()
PARTITION BY toDate(created_at)
ORDER BY (cascade_id, created_at, session_id);

-- What each run is expected to cost (rvbbit_assets/assets/robust_baselines.sql).
ALTER TABLE ${analytics}.baselines
    ADD COLUMN IF NOT EXISTS robust_baseline LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS robust_baseline_runs UInt32 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS expected_log_canonical_cost Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS log_canonical_cost_sigma Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS expected_canonical_input_cost Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS log_canonical_input_cost_sigma Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS expected_canonical_output_cost Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS log_canonical_output_cost_sigma Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS expected_tokens_in_per_call Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS expected_tokens_out_per_call Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS expected_log_duration Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS log_duration_sigma Float64 DEFAULT 0;

-- The recommended flags and their cause (anomaly_scores.sql).
ALTER TABLE ${analytics}.anomaly_scores
    ADD COLUMN IF NOT EXISTS expected_cost Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS cost_robust_z Float64 DEFAULT 0,      -- log(cost / expected) in
                                                      -- robust sigmas of the baseline
    ADD COLUMN IF NOT EXISTS duration_robust_z Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS is_cost_anomaly Bool DEFAULT false,
    ADD COLUMN IF NOT EXISTS is_duration_anomaly Bool DEFAULT false,
    ADD COLUMN IF NOT EXISTS cost_anomaly_driver LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS cost_anomaly_driver_ratio Float64 DEFAULT 0,  -- the driver's
                                                      -- value over its usual value
    ADD COLUMN IF NOT EXISTS cost_anomaly_impact_usd Float64 DEFAULT 0,   -- cost - expected
    ADD COLUMN IF NOT EXISTS cost_anomaly_explanation String DEFAULT '',
    ADD COLUMN IF NOT EXISTS cost_anomaly_baseline LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS cost_anomaly_baseline_runs UInt32 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS unusual_models Array(String) DEFAULT [];

-- Significant regressions (regression_flags.sql), beside the design's.
ALTER TABLE ${analytics}.regression_flags
    ADD COLUMN IF NOT EXISTS species_runs_tested UInt32 DEFAULT 0,  -- 0: too few to test
    ADD COLUMN IF NOT EXISTS regression_p_value Nullable(Float64),
    ADD COLUMN IF NOT EXISTS is_regression_significant Bool DEFAULT false,
    ADD COLUMN IF NOT EXISTS regression_metric LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS regression_runs_since_change UInt32 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS regression_effect Float64 DEFAULT 0;

ALTER TABLE ${analytics}.cascade_analytics
    ADD COLUMN IF NOT EXISTS cost_anomaly_driver LowCardinality(String) DEFAULT ''
        AFTER is_regression_significant,
    ADD COLUMN IF NOT EXISTS cost_anomaly_impact_usd Float64 DEFAULT 0 AFTER cost_anomaly_driver,
    ADD COLUMN IF NOT EXISTS cost_anomaly_baseline LowCardinality(String) DEFAULT ''
        AFTER cost_anomaly_impact_usd,
    ADD COLUMN IF NOT EXISTS expected_cost Float64 DEFAULT 0 AFTER cost_anomaly_baseline,
    ADD COLUMN IF NOT EXISTS cost_anomaly_driver_ratio Float32 DEFAULT 0 AFTER expected_cost,
    ADD COLUMN IF NOT EXISTS cost_anomaly_explanation String DEFAULT ''
        AFTER cost_anomaly_driver_ratio,
    -- What a significant regression raised (cost | usual_cost | duration), by how much
    -- (recent over earlier runs, geometric means) and over how many recent runs.
    ADD COLUMN IF NOT EXISTS regression_metric LowCardinality(String) DEFAULT ''
        AFTER cost_anomaly_explanation,
    ADD COLUMN IF NOT EXISTS regression_effect Float32 DEFAULT 0 AFTER regression_metric,
    ADD COLUMN IF NOT EXISTS regression_runs_since_change UInt32 DEFAULT 0
        AFTER regression_effect;
