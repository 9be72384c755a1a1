-- Recall of our cost anomaly flag per planted cause, over `marked_runs`.
SELECT cause, countIf(is_cost_anomaly) / count()
FROM marked_runs
WHERE is_spike
GROUP BY cause
ORDER BY cause
