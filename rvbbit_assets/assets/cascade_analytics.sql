-- One row per analysed run of [{start}, {end}) with every column of the design's table.
-- Counters are clamped to the design's narrower types; predictions are NULL for runs before
-- the first model version. prediction_error = (actual - predicted) / predicted.
SELECT
    f.session_id AS session_id,
    f.cascade_id AS cascade_id,
    f.created_at AS created_at,
    f.species_hash_primary AS species_hash_primary,
    toFloat32(c.input_complexity_score) AS input_complexity_score,
    c.input_category AS input_category,
    c.input_fingerprint AS input_fingerprint,
    f.total_cost AS total_cost,
    f.cost_complete AS cost_complete,
    f.total_duration_ms AS total_duration_ms,
    toUInt32(least(f.total_tokens_in, 4294967295)) AS total_tokens_in,
    toUInt32(least(f.total_tokens_out, 4294967295)) AS total_tokens_out,
    toUInt16(least(f.message_count, 65535)) AS message_count,
    toUInt8(least(f.cell_count, 255)) AS cell_count,
    toUInt8(least(f.error_count, 255)) AS error_count,
    toUInt8(least(f.candidate_count, 255)) AS candidate_count,
    toUInt8(least(f.reforge_depth, 255)) AS reforge_depth,
    b.global_avg_cost AS global_avg_cost,
    b.global_avg_duration AS global_avg_duration,
    b.global_avg_tokens AS global_avg_tokens,
    b.cluster_avg_cost AS cluster_avg_cost,
    b.cluster_avg_duration AS cluster_avg_duration,
    b.cluster_avg_tokens AS cluster_avg_tokens,
    b.cluster_stddev_cost AS cluster_stddev_cost,
    b.cluster_stddev_duration AS cluster_stddev_duration,
    b.species_avg_cost AS species_avg_cost,
    b.species_avg_duration AS species_avg_duration,
    toUInt16(least(b.species_run_count, 65535)) AS species_run_count,
    toFloat32(a.cost_z_score) AS cost_z_score,
    toFloat32(a.duration_z_score) AS duration_z_score,
    toFloat32(a.tokens_z_score) AS tokens_z_score,
    a.is_cost_outlier AS is_cost_outlier,
    a.is_duration_outlier AS is_duration_outlier,
    a.is_tokens_outlier AS is_tokens_outlier,
    a.is_error_outlier AS is_error_outlier,
    a.error_outlier_min_prior_runs AS error_outlier_min_prior_runs,
    toFloat32(a.cost_per_message) AS cost_per_message,
    toFloat32(a.cost_per_output_token) AS cost_per_output_token,
    toFloat32(a.duration_per_message) AS duration_per_message,
    toFloat32(a.tokens_per_message) AS tokens_per_message,
    f.models_used AS models_used,
    f.primary_model AS primary_model,
    toUInt8(least(f.model_switches, 255)) AS model_switches,
    f.hour_of_day AS hour_of_day,
    f.day_of_week AS day_of_week,
    f.is_weekend AS is_weekend,
    toFloat32(r.vs_recent_avg_cost) AS vs_recent_avg_cost,
    toFloat32(r.vs_recent_avg_duration) AS vs_recent_avg_duration,
    r.is_regression AS is_regression,
    r.regression_severity AS regression_severity,
    toFloat32(a.cost_robust_z) AS cost_robust_z,
    toFloat32(a.duration_robust_z) AS duration_robust_z,
    a.is_cost_anomaly AS is_cost_anomaly,
    a.is_duration_anomaly AS is_duration_anomaly,
    toFloat32(r.regression_p_value) AS regression_p_value,
    r.is_regression_significant AS is_regression_significant,
    a.cost_anomaly_driver AS cost_anomaly_driver,
    a.cost_anomaly_impact_usd AS cost_anomaly_impact_usd,
    a.cost_anomaly_baseline AS cost_anomaly_baseline,
    a.expected_cost AS expected_cost,
    toFloat32(a.cost_anomaly_driver_ratio) AS cost_anomaly_driver_ratio,
    a.cost_anomaly_explanation AS cost_anomaly_explanation,
    r.regression_metric AS regression_metric,
    toFloat32(r.regression_effect) AS regression_effect,
    r.regression_runs_since_change AS regression_runs_since_change,
    f.evaluator_score AS evaluator_score,
    if(f.winner_candidate_index BETWEEN 0 AND 255,
       toUInt8(f.winner_candidate_index), NULL) AS winner_candidate_index,
    f.winner_cost AS winner_cost,
    f.loser_avg_cost AS loser_avg_cost,
    p.predicted_cost AS predicted_cost,
    toFloat32(if(p.predicted_cost > 0, (f.total_cost - p.predicted_cost) / p.predicted_cost,
                 NULL)) AS prediction_error,
    f.parent_session_id AS parent_session_id,
    f.depth AS depth,
    toUInt8(least(f.child_session_count, 255)) AS child_session_count,
    f.child_total_cost AS child_total_cost,
    f.caller_id AS caller_id,
    f.origin AS origin,
    now() AS analyzed_at,
    {analysis_version:UInt8} AS analysis_version
FROM ${analytics}.session_facts AS f
INNER JOIN
(
    SELECT * FROM ${analytics}.input_clusters
    WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
) AS c ON c.session_id = f.session_id
INNER JOIN
(
    SELECT * FROM ${analytics}.baselines
    WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
) AS b ON b.session_id = f.session_id
INNER JOIN
(
    SELECT * FROM ${analytics}.anomaly_scores
    WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
) AS a ON a.session_id = f.session_id
INNER JOIN
(
    SELECT * FROM ${analytics}.regression_flags
    WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
) AS r ON r.session_id = f.session_id
LEFT JOIN
(
    SELECT session_id, predicted_cost FROM ${analytics}.cost_predictions
    WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
) AS p ON p.session_id = f.session_id
WHERE f.created_at >= {start:DateTime} AND f.created_at < {end:DateTime}
SETTINGS join_use_nulls = 1
