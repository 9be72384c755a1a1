-- Species whose runs of [{start}, {end}) regressed, with their worst change vs recent runs.
SELECT
    cascade_id,
    species_hash_primary AS species,
    count() AS regressed_runs,
    round(max(vs_recent_avg_cost), 1) AS max_cost_change_pct,
    round(max(vs_recent_avg_duration), 1) AS max_duration_change_pct,
    argMax(regression_severity, vs_recent_avg_cost) AS worst_severity
FROM ${analytics}.cascade_analytics
WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime} AND is_regression
GROUP BY cascade_id, species
ORDER BY max_cost_change_pct DESC, species
LIMIT 10
