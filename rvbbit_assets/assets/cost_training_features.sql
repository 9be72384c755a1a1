-- The features (cost_features.sql) of the runs from {predicted_start} on and of the runs the
-- training window of the version starting {version} samples (cost_training_sample.sql), in
-- cost_features.sql's order, `in_sample` telling the latter: one pass of cost_features' windows
-- serves both a new week's days and its version (bind {start} to the earlier of
-- {predicted_start} and {window_start}).
SELECT * FROM
(
    SELECT
        *,
        session_id IN (SELECT session_id FROM ({% include 'cost_training_sample.sql' %}))
            AS in_sample
    FROM
    (
{% include 'cost_features.sql' %}
    )
)
WHERE in_sample OR created_at >= {predicted_start:DateTime}
ORDER BY created_at, session_id
