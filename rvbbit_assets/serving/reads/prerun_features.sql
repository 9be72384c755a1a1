-- The cost level a new run of {cascade_id} with input hash {input_hash} would be compared
-- with: the median cost of the cascade's last 50 analysed runs and of the last 10 with the
-- same input (as in cost_features.sql).
{%- from "cost_level_windows.sql" import cascade_window_runs, input_window_runs %}
SELECT
    (SELECT count() FROM (SELECT 1 FROM ${analytics}.session_facts
        WHERE cascade_id = {cascade_id:String} ORDER BY created_at DESC, session_id DESC
        LIMIT {{ cascade_window_runs }})) AS cascade_prior_runs,
    (SELECT median(total_cost) FROM (SELECT total_cost FROM ${analytics}.session_facts
        WHERE cascade_id = {cascade_id:String} ORDER BY created_at DESC, session_id DESC
        LIMIT {{ cascade_window_runs }})) AS cascade_recent_median_cost,
    (SELECT count() FROM (SELECT 1 FROM ${analytics}.session_facts
        WHERE cascade_id = {cascade_id:String} AND input_hash = {input_hash:UInt64}
        ORDER BY created_at DESC, session_id DESC
        LIMIT {{ input_window_runs }})) AS input_prior_runs,
    (SELECT median(total_cost) FROM (SELECT total_cost FROM ${analytics}.session_facts
        WHERE cascade_id = {cascade_id:String} AND input_hash = {input_hash:UInt64}
        ORDER BY created_at DESC, session_id DESC
        LIMIT {{ input_window_runs }})) AS input_recent_median_cost
