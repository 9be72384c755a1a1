-- z = (value - cluster avg) / cluster stddev, 0 when the stddev is 0; outliers |z| > 2.
-- An error outlier (the design's) has errors while under 5% of its cascade's earlier runs had
-- any. A rate of 0 out of 3 runs says little, so it also needs {min_prior_runs} earlier runs
-- (RVBBIT_ERROR_OUTLIER_MIN_PRIOR_RUNS), kept in the row beside the flag.
SELECT
    f.session_id AS session_id,
    f.cascade_id AS cascade_id,
    f.created_at AS created_at,
    if(b.cluster_stddev_cost = 0, 0,
       (f.total_cost - b.cluster_avg_cost) / b.cluster_stddev_cost) AS cost_z_score,
    if(b.cluster_stddev_duration = 0, 0,
       (f.total_duration_ms - b.cluster_avg_duration) / b.cluster_stddev_duration)
        AS duration_z_score,
    if(b.cluster_stddev_tokens = 0, 0,
       (toFloat64(f.total_tokens_in + f.total_tokens_out) - b.cluster_avg_tokens)
           / b.cluster_stddev_tokens) AS tokens_z_score,
    abs(cost_z_score) > 2 AS is_cost_outlier,
    abs(duration_z_score) > 2 AS is_duration_outlier,
    abs(tokens_z_score) > 2 AS is_tokens_outlier,
    f.error_count > 0
        AND b.global_run_count >= {min_prior_runs:UInt32}
        AND b.global_runs_with_errors < 0.05 * b.global_run_count AS is_error_outlier,
    {min_prior_runs:UInt32} AS error_outlier_min_prior_runs,
    if(f.message_count = 0, 0, f.total_cost / f.message_count) AS cost_per_message,
    if(f.total_tokens_out = 0, 0, f.total_cost / f.total_tokens_out) AS cost_per_output_token,
    if(f.message_count = 0, 0, f.total_duration_ms / f.message_count) AS duration_per_message,
    if(f.message_count = 0, 0, (f.total_tokens_in + f.total_tokens_out) / f.message_count)
        AS tokens_per_message
FROM ${analytics}.session_facts AS f
INNER JOIN
(
    SELECT *
    FROM ${analytics}.baselines
    WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
) AS b ON b.session_id = f.session_id
WHERE f.created_at >= {start:DateTime} AND f.created_at < {end:DateTime}
