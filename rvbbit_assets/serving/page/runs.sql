-- The newest analysed runs of one of the page's lists ({list}): 'recent' (every run),
-- 'flagged' (by our detection) or 'regressions' (the design's).
SELECT
    session_id, cascade_id, created_at, input_category, total_cost, total_duration_ms,
    primary_model, cost_complete,
    -- the design's
    cost_z_score, is_cost_outlier, vs_recent_avg_cost, vs_recent_avg_duration, is_regression,
    regression_severity,
    -- ours
    is_cost_anomaly, cost_robust_z, is_duration_anomaly, duration_robust_z, expected_cost,
    cost_anomaly_impact_usd, cost_anomaly_explanation, is_regression_significant,
    regression_p_value
FROM ${analytics}.cascade_analytics
WHERE multiIf({list:String} = 'flagged',
              is_cost_anomaly OR is_duration_anomaly OR is_regression_significant,
              {list:String} = 'regressions', is_regression,
              true)
ORDER BY created_at DESC, session_id DESC
LIMIT {limit:UInt32}
