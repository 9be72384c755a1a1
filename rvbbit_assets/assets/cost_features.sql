-- What is known about each analysed run before it starts, for runs that started in
-- [{start}, {end}): its cascade, input shape, origin, time, and the cost level of earlier
-- runs (the median of the cascade's last 50 and of the last 10 with the same input; medians,
-- so one spike does not inflate the next runs' predictions). total_cost is the target. The
-- windows see every run before {end}; only the runs from {start} on are returned (a new day
-- reads its own runs, not the whole history). sample_key orders the runs for a training
-- window's sample (cost_model.training_window).
{%- from "pandas_hash.sql" import pandas_text_hash %}
SELECT * FROM
(
SELECT
    f.session_id AS session_id,
    f.cascade_id AS cascade_id,
    f.created_at AS created_at,
    f.total_cost AS total_cost,
    c.input_complexity_score AS input_complexity_score,
    c.char_count AS char_count,
    c.estimated_tokens AS estimated_tokens,
    c.input_category AS input_category,
    c.is_valid_json AS is_valid_json,
    f.origin AS origin,
    f.hour_of_day AS hour_of_day,
    f.day_of_week AS day_of_week,
    f.depth AS depth,
    {{ pandas_text_hash('f.session_id', 'sample') }} AS sample_key,
    count() OVER cascade_before AS cascade_prior_runs,
    median(f.total_cost) OVER cascade_before AS cascade_recent_median_cost,
    count() OVER same_input_before AS input_prior_runs,
    median(f.total_cost) OVER same_input_before AS input_recent_median_cost
FROM ${analytics}.session_facts AS f
INNER JOIN
(
    SELECT * FROM ${analytics}.input_clusters WHERE created_at < {end:DateTime}
) AS c ON c.session_id = f.session_id
WHERE f.created_at < {end:DateTime}
WINDOW
    cascade_before AS (PARTITION BY f.cascade_id ORDER BY f.created_at, f.session_id
                       ROWS BETWEEN 50 PRECEDING AND 1 PRECEDING),
    same_input_before AS (PARTITION BY f.cascade_id, f.input_hash
                          ORDER BY f.created_at, f.session_id
                          ROWS BETWEEN 10 PRECEDING AND 1 PRECEDING)
)
WHERE created_at >= {start:DateTime}
ORDER BY created_at, session_id
