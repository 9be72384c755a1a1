{%- from "pareto_takes.sql" import decided_takes, take_sums -%}
-- pareto_frontier's sums of the days {days}: the decided takes of the runs session_facts holds
-- for each day, per (species, cascade, cell, model).
WITH
    day_runs AS MATERIALIZED
    (
        SELECT session_id, toDate(created_at) AS day
        FROM ${analytics}.session_facts
        WHERE toDate(created_at) IN {days:Array(Date)}
    ),
    -- The logs are filtered on the runs' hashes, a set of numbers far cheaper to build and
    -- probe than one of ids; the join below keeps exactly the days' runs (a run whose hash
    -- merely collides with one of theirs is left out there).
    {{ decided_takes("cityHash64(session_id) IN (SELECT cityHash64(session_id) FROM day_runs)") }}
SELECT
    r.day AS day,
    t.take_species AS species_hash,
    t.take_cascade AS cascade_id,
    t.take_cell AS cell_name,
    t.take_model AS model,
    {{ take_sums() }}
FROM decided_takes AS t
INNER JOIN day_runs AS r ON r.session_id = t.session_id
GROUP BY day, species_hash, cascade_id, cell_name, model
SETTINGS enable_materialized_cte = 1
