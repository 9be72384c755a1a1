-- cascade_analytics: every column of the design document's table, name and type as written.
--
-- One change from the design: PARTITION BY toDate(created_at) (daily) instead of
-- toYYYYMM. A session belongs to the UTC day of its created_at, and the pipeline rewrites
-- a day with `ALTER TABLE ... REPLACE PARTITION` from a staging table: a rerun or backfill
-- swaps the whole day atomically, so rows are never duplicated and readers never see a
-- half-written day. Monthly partitions would make every rerun rewrite a month.
-- The design's `TYPE set` indexes need a size limit on current ClickHouse: set(0).

CREATE DATABASE IF NOT EXISTS ${analytics};

CREATE TABLE IF NOT EXISTS ${analytics}.cascade_analytics
(
    -- Identity
    session_id String,
    cascade_id String,
    created_at DateTime DEFAULT now(),

    -- Context fingerprinting
    species_hash_primary Nullable(String),
    input_complexity_score Float32,
    input_category LowCardinality(String),
    input_fingerprint String,

    -- Execution metrics
    total_cost Float64,
    total_duration_ms Float64,
    total_tokens_in UInt32,
    total_tokens_out UInt32,
    message_count UInt16,
    cell_count UInt8,
    error_count UInt8,
    candidate_count UInt8,
    reforge_depth UInt8,

    -- Global baselines (earlier runs of this cascade)
    global_avg_cost Float64,
    global_avg_duration Float64,
    global_avg_tokens Float64,

    -- Cluster baselines (earlier runs of this cascade with the same input_category)
    cluster_avg_cost Float64,
    cluster_avg_duration Float64,
    cluster_avg_tokens Float64,
    cluster_stddev_cost Float64,
    cluster_stddev_duration Float64,

    -- Species baselines (earlier runs with the same species_hash_primary)
    species_avg_cost Nullable(Float64),
    species_avg_duration Nullable(Float64),
    species_run_count UInt16,

    -- Anomaly scores and flags
    cost_z_score Float32,
    duration_z_score Float32,
    tokens_z_score Float32,
    is_cost_outlier Bool,
    is_duration_outlier Bool,
    is_tokens_outlier Bool,
    is_error_outlier Bool,

    -- Efficiency
    cost_per_message Float32,
    cost_per_output_token Float32,
    duration_per_message Float32,
    tokens_per_message Float32,

    -- Model mix
    models_used Array(String),
    primary_model String,
    model_switches UInt8,

    -- Temporal context
    hour_of_day UInt8,
    day_of_week UInt8,
    is_weekend Bool,

    -- Regression detection
    vs_recent_avg_cost Float32,
    vs_recent_avg_duration Float32,
    is_regression Bool,
    regression_severity LowCardinality(String),

    -- Quality
    evaluator_score Nullable(Float32),
    winner_candidate_index Nullable(UInt8),
    winner_cost Nullable(Float64),
    loser_avg_cost Nullable(Float64),

    -- Predictions
    predicted_cost Nullable(Float64),
    prediction_error Nullable(Float32),

    -- Parent/child context
    parent_session_id Nullable(String),
    depth UInt8,
    child_session_count UInt8,
    child_total_cost Float64,

    -- Caller context
    caller_id String,
    origin LowCardinality(String),

    -- Metadata
    analyzed_at DateTime DEFAULT now(),
    analysis_version UInt8 DEFAULT 1,

    INDEX idx_species species_hash_primary TYPE bloom_filter GRANULARITY 1,
    INDEX idx_input_category input_category TYPE set(0) GRANULARITY 1,
    INDEX idx_outlier is_cost_outlier TYPE set(0) GRANULARITY 1,
    INDEX idx_regression is_regression TYPE set(0) GRANULARITY 1
)
ENGINE = MergeTree()
PARTITION BY toDate(created_at)
ORDER BY (cascade_id, created_at, session_id);
