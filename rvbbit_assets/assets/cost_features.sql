-- What is known about each analysed run before it starts, for runs that started in
-- [{start}, {end}): its cascade, input shape, origin, time, and the cost level of earlier
-- runs (the median of the cascade's last 50 and of the last 10 with the same input; medians,
-- so one spike does not inflate the next runs' predictions). total_cost is the target. The
-- windows see every run before {end}; only the runs from {start} on are returned (a new day
-- reads its own runs, not the whole history). sample_key orders the runs for a training
-- window's sample (cost_model.training_window).
--
-- The windows read only the runs before {start} that a returned run's window can reach: each
-- cascade's last 50 and each input's last 10, of the cascades and inputs of the runs returned.
-- A window holds the latest earlier runs of its key, and every key's latest (or all its runs,
-- when it has fewer) are kept, so the windows are those over the whole history, at half the
-- work for a new day (0.5-0.6 s against 1.1-1.4 s on a 1M history). Every earlier run has
-- its input_clusters row (earlier days are analysed first: history.py), so the join below
-- drops none of the runs kept.
{%- from "pandas_hash.sql" import pandas_text_hash %}
{%- from "cost_level_windows.sql" import cascade_window_runs, input_window_runs %}
WITH
    returned_keys AS (
        SELECT cascade_id, input_hash FROM ${analytics}.session_facts
        WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
    ),
    earlier AS (
        SELECT session_id, cascade_id, input_hash, created_at FROM ${analytics}.session_facts
        WHERE created_at < {start:DateTime}
    ),
    reachable_earlier_runs AS (
        SELECT session_id FROM (
            SELECT session_id FROM earlier
            WHERE cascade_id IN (SELECT cascade_id FROM returned_keys)
            ORDER BY cascade_id, created_at DESC, session_id DESC
            LIMIT {{ cascade_window_runs }} BY cascade_id
        )
        UNION ALL
        SELECT session_id FROM (
            SELECT session_id FROM earlier
            WHERE (cascade_id, input_hash) IN (SELECT cascade_id, input_hash FROM returned_keys)
            ORDER BY cascade_id, input_hash, created_at DESC, session_id DESC
            LIMIT {{ input_window_runs }} BY cascade_id, input_hash
        )
    )
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
  AND (f.created_at >= {start:DateTime} OR f.session_id IN reachable_earlier_runs)
WINDOW
    cascade_before AS (PARTITION BY f.cascade_id ORDER BY f.created_at, f.session_id
                       ROWS BETWEEN {{ cascade_window_runs }} PRECEDING AND 1 PRECEDING),
    same_input_before AS (PARTITION BY f.cascade_id, f.input_hash
                          ORDER BY f.created_at, f.session_id
                          ROWS BETWEEN {{ input_window_runs }} PRECEDING AND 1 PRECEDING)
)
WHERE created_at >= {start:DateTime}
ORDER BY created_at, session_id
