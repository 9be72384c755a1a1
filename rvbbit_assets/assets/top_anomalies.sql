-- The most unusual runs of [{start}, {end}) for the run's report: cost outliers first.
SELECT
    session_id,
    cascade_id,
    input_category,
    round(total_cost, 6) AS cost_usd,
    round(cluster_avg_cost, 6) AS cluster_avg_usd,
    round(cost_z_score, 1) AS cost_z,
    regression_severity
FROM ${analytics}.cascade_analytics
WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime} AND is_cost_outlier
ORDER BY cost_z_score DESC, session_id
LIMIT 10
