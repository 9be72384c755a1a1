-- Every stored forecast day with its series' weekly projection, by series and day.
SELECT
    f.cascade_id AS cascade_id, f.day AS day, f.predicted_cost AS predicted_cost,
    f.lower_bound AS lower_bound, f.upper_bound AS upper_bound, f.trend AS trend,
    f.confidence AS confidence, f.trend_significant AS trend_significant,
    f.history_end AS history_end, w.projected_cost AS projected_cost,
    w.plus_minus AS plus_minus, w.coverage AS coverage
FROM ${analytics}.forecasts AS f
INNER JOIN ${analytics}.forecast_weekly AS w ON w.cascade_id = f.cascade_id
ORDER BY cascade_id, day
