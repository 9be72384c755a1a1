-- The design's _check_for_alerts, set-based, over `analysed` (rows of cascade_analytics),
-- plus error outliers. One row per alert; `rule_order` is the design's order of the rules.
-- Every rule names its alert_type as a literal `'name' AS alert_type`: alerts.ALERT_TYPES is
-- read from those. `message` is the design's text; `detail` what it leaves out ('' if nothing).
--   cost_spike       cost_z_score > 3                  critical  "Cost is 3.4σ above normal!"
--   regression       is_regression                     regression_severity
--                                                      "Performance degradation: cost +N%"
--                                                      (detail: cost and duration changes)
--   prediction_miss  prediction_error > 1.5            warning   "Cost 180% higher than predicted"
--   error_outlier    is_error_outlier                  warning   (one failed run is not an outage)
-- and the flags we recommend (anomaly_scores, regression_flags), beside the design's:
--   cost_anomaly     is_cost_anomaly, and an impact of at least {min_impact_usd} USD
--                                                      critical  "Cost 9.4× expected (+$$0.21):
--                                                                 output tokens 11× usual"
--   significant_regression  is_regression_significant  major     "Cost of this prompt species
--                                                                 up 60% over its last 10 runs
--                                                                 (rank test, p = 0.0002)"
SELECT
    session_id,
    cascade_id,
    created_at,
    '' AS detail,
    'cost_spike' AS alert_type,
    1 AS rule_order,
    'critical' AS severity,
    concat('Cost is ',
           if(isFinite(cost_z_score), toDecimalString(toFloat64(cost_z_score), 1),
              toString(cost_z_score)),
           'σ above normal!') AS message,
    toFloat64(cost_z_score) AS metric
FROM analysed
WHERE cost_z_score > 3

UNION ALL

SELECT
    session_id,
    cascade_id,
    created_at,
    concat('cost ', if(round(toFloat64(vs_recent_avg_cost)) >= 0, '+', '-'),
           toDecimalString(abs(toFloat64(vs_recent_avg_cost)), 0), '%, duration ',
           if(round(toFloat64(vs_recent_avg_duration)) >= 0, '+', '-'),
           toDecimalString(abs(toFloat64(vs_recent_avg_duration)), 0), '%: the species'' ',
           'last 10 earlier runs against the 10 before them (a regression: cost +20% or ',
           'duration +30%)') AS detail,
    'regression' AS alert_type,
    2 AS rule_order,
    toString(regression_severity) AS severity,
    concat('Performance degradation: cost ',
           if(round(toFloat64(vs_recent_avg_cost)) >= 0, '+', '-'),
           toDecimalString(abs(toFloat64(vs_recent_avg_cost)), 0), '%') AS message,
    toFloat64(vs_recent_avg_cost) AS metric
FROM analysed
WHERE is_regression

UNION ALL

SELECT
    session_id,
    cascade_id,
    created_at,
    '' AS detail,
    'prediction_miss' AS alert_type,
    3 AS rule_order,
    'warning' AS severity,
    concat('Cost ',
           if(isFinite(prediction_error),
              toDecimalString(toFloat64(assumeNotNull(prediction_error)) * 100, 0),
              toString(prediction_error)),
           '% higher than predicted') AS message,
    toFloat64(assumeNotNull(prediction_error)) AS metric
FROM analysed
WHERE prediction_error IS NOT NULL AND prediction_error > 1.5

UNION ALL

SELECT
    session_id,
    cascade_id,
    created_at,
    '' AS detail,
    'error_outlier' AS alert_type,
    4 AS rule_order,
    'warning' AS severity,
    concat('Run logged ', toString(error_count), if(error_count = 1, ' error', ' errors'),
           ' while under 5% of its cascade''s earlier runs had any') AS message,
    toFloat64(error_count) AS metric
FROM analysed
WHERE is_error_outlier

UNION ALL

SELECT
    session_id,
    cascade_id,
    created_at,
    '' AS detail,
    'cost_anomaly' AS alert_type,
    5 AS rule_order,
    'critical' AS severity,
    cost_anomaly_explanation AS message,
    toFloat64(cost_robust_z) AS metric
FROM analysed
WHERE is_cost_anomaly AND cost_anomaly_impact_usd >= {min_impact_usd:Float64}

UNION ALL

SELECT
    session_id,
    cascade_id,
    created_at,
    '' AS detail,
    'significant_regression' AS alert_type,
    6 AS rule_order,
    'major' AS severity,
    concat(multiIf(regression_metric = 'duration', 'Duration', regression_metric = 'cost',
                   'Cost', 'Cost at usual prices'),
           ' of this prompt species up ', toString(round((regression_effect - 1) * 100)),
           '% over its last ', toString(regression_runs_since_change),
           ' runs (rank test, p = ',
           toString(round(toFloat64(assumeNotNull(regression_p_value)), 6)), ')') AS message,
    toFloat64(assumeNotNull(regression_p_value)) AS metric
FROM analysed
WHERE is_regression_significant
