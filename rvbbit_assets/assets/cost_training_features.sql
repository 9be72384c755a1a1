-- The features of the runs a capped training window samples (cost_training_sample.sql), in
-- cost_features.sql's order: the window's features without moving the rest of its runs.
SELECT * FROM
(
{% include 'cost_features.sql' %}
)
WHERE session_id IN (SELECT session_id FROM ({% include 'cost_training_sample.sql' %}))
ORDER BY created_at, session_id
