-- The page's tiles: every analysed run, our flags first, then the design's.
SELECT
    count() AS run_count,
    min(created_at) AS first_run_at,
    max(created_at) AS last_run_at,
    sum(total_cost) AS total_cost,
    countIf(is_cost_anomaly) AS cost_anomalies,
    sumIf(cost_anomaly_impact_usd, is_cost_anomaly) AS cost_anomaly_impact_usd,
    countIf(is_duration_anomaly) AS duration_anomalies,
    countIf(is_regression_significant) AS significant_regressions,
    countIf(is_cost_anomaly OR is_duration_anomaly OR is_regression_significant) AS flagged_runs,
    countIf(is_cost_outlier) AS cost_outliers,
    countIf(is_regression) AS regressions
FROM ${analytics}.cascade_analytics
