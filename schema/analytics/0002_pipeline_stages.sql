-- One table per pipeline stage (the Dagster assets of the same name). Like
-- cascade_analytics they are partitioned by the UTC day of the session's created_at and
-- rewritten a whole day at a time with REPLACE PARTITION, so reruns are idempotent.
-- Counters keep full width here; cascade_analytics clamps them to the design's types.

CREATE TABLE IF NOT EXISTS ${analytics}.session_facts
(
    session_id String,
    cascade_id String,
    created_at DateTime,
    run_status LowCardinality(String),      -- completed | error | abandoned
    finished_at DateTime64(6),              -- completion row, or last row when abandoned
    input_hash UInt64,                      -- cityHash64(cascade_sessions.input_data)
    total_cost Float64,
    null_cost_rows UInt32,                  -- assistant rows whose cost has not arrived
    total_duration_ms Float64,
    total_tokens_in UInt64,
    total_tokens_out UInt64,
    message_count UInt32,
    cell_count UInt32,
    error_count UInt32,
    candidate_count UInt32,
    reforge_depth UInt32,
    models_used Array(String),
    primary_model String,
    model_switches UInt32,
    species_hash_primary Nullable(String),
    winner_candidate_index Nullable(Int32),
    winner_cost Nullable(Float64),
    loser_avg_cost Nullable(Float64),
    evaluator_score Nullable(Float32),
    parent_session_id Nullable(String),
    depth UInt8,
    child_session_count UInt32,
    child_total_cost Float64,
    caller_id String,
    origin LowCardinality(String),
    hour_of_day UInt8,
    day_of_week UInt8,
    is_weekend Bool
)
ENGINE = MergeTree()
PARTITION BY toDate(created_at)
ORDER BY (cascade_id, created_at, session_id);

-- Memo of the input-complexity function by input text hash: RVBBIT reruns the same inputs
-- a lot, and parsing is the expensive part of the pipeline. Rows are a pure function of
-- the input text, so duplicates from concurrent writers are harmless.
CREATE TABLE IF NOT EXISTS ${analytics}.input_complexity
(
    input_hash UInt64,
    input_complexity_score Float64,
    input_category LowCardinality(String),
    input_fingerprint String,
    char_count UInt64,
    estimated_tokens UInt64,
    is_valid_json Bool
)
ENGINE = ReplacingMergeTree()
ORDER BY input_hash;

CREATE TABLE IF NOT EXISTS ${analytics}.input_clusters
(
    session_id String,
    cascade_id String,
    created_at DateTime,
    input_hash UInt64,
    input_complexity_score Float64,
    input_category LowCardinality(String),
    input_fingerprint String,
    char_count UInt64,
    estimated_tokens UInt64,
    is_valid_json Bool
)
ENGINE = MergeTree()
PARTITION BY toDate(created_at)
ORDER BY (cascade_id, created_at, session_id);

CREATE TABLE IF NOT EXISTS ${analytics}.baselines
(
    session_id String,
    cascade_id String,
    created_at DateTime,
    input_category LowCardinality(String),
    species_hash_primary Nullable(String),
    global_avg_cost Float64,
    global_avg_duration Float64,
    global_avg_tokens Float64,
    global_run_count UInt64,
    global_runs_with_errors UInt64,
    cluster_avg_cost Float64,
    cluster_avg_duration Float64,
    cluster_avg_tokens Float64,
    cluster_stddev_cost Float64,
    cluster_stddev_duration Float64,
    cluster_stddev_tokens Float64,
    cluster_run_count UInt64,
    species_avg_cost Nullable(Float64),
    species_avg_duration Nullable(Float64),
    species_run_count UInt64
)
ENGINE = MergeTree()
PARTITION BY toDate(created_at)
ORDER BY (cascade_id, created_at, session_id);

CREATE TABLE IF NOT EXISTS ${analytics}.anomaly_scores
(
    session_id String,
    cascade_id String,
    created_at DateTime,
    cost_z_score Float64,
    duration_z_score Float64,
    tokens_z_score Float64,
    is_cost_outlier Bool,
    is_duration_outlier Bool,
    is_tokens_outlier Bool,
    is_error_outlier Bool,
    cost_per_message Float64,
    cost_per_output_token Float64,
    duration_per_message Float64,
    tokens_per_message Float64
)
ENGINE = MergeTree()
PARTITION BY toDate(created_at)
ORDER BY (cascade_id, created_at, session_id);

CREATE TABLE IF NOT EXISTS ${analytics}.regression_flags
(
    session_id String,
    cascade_id String,
    created_at DateTime,
    species_hash_primary Nullable(String),
    species_prior_runs UInt64,
    recent_avg_cost Float64,
    historical_avg_cost Float64,
    recent_avg_duration Float64,
    historical_avg_duration Float64,
    vs_recent_avg_cost Float64,
    vs_recent_avg_duration Float64,
    is_regression Bool,
    regression_severity LowCardinality(String)
)
ENGINE = MergeTree()
PARTITION BY toDate(created_at)
ORDER BY (cascade_id, created_at, session_id);
