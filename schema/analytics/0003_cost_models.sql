-- Cost-prediction model versions and the predictions they made.
--
-- One model version per ISO week (Monday, UTC), trained only on runs that started before
-- that Monday; every run of the week is predicted by it. Versions are stored durably with
-- their training window, features, chosen estimator and holdout metrics; the fitted
-- estimator itself is a pickled scikit-learn pipeline (our own output, read back only by
-- this project). ReplacingMergeTree: a retrained version (its training data changed)
-- replaces the old one.

CREATE TABLE IF NOT EXISTS ${analytics}.cost_models
(
    model_version Date,
    trained_at DateTime,
    training_start DateTime,
    training_end DateTime,
    training_rows UInt64,
    training_fingerprint String,
    estimator LowCardinality(String),
    features Array(String),
    holdout_start DateTime,
    holdout_rows UInt64,
    model_mae Float64,
    model_mdape Float64,
    naive_mae Float64,
    naive_mdape Float64,
    candidates_json String,
    interval_low_log_residual Float64,
    interval_high_log_residual Float64,
    model_pickle String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree(trained_at)
ORDER BY model_version;

CREATE TABLE IF NOT EXISTS ${analytics}.cost_predictions
(
    session_id String,
    cascade_id String,
    created_at DateTime,
    model_version Date,
    predicted_cost Float64,
    predicted_low Float64,
    predicted_high Float64
)
ENGINE = MergeTree()
PARTITION BY toDate(created_at)
ORDER BY (cascade_id, created_at, session_id);
