-- Baselines use only earlier runs: for a fixed sample of the runs of [{start}, {end}),
-- recompute from session_facts and input_clusters, over the runs strictly before each one
-- in (created_at, session_id) order, the cascade's run count, the cluster's (same cascade
-- and input category) run count and average cost, beside what baselines stored.
WITH
    sample AS
    (
        SELECT session_id, cascade_id, created_at, toDate(created_at) AS day, input_category,
               global_run_count, cluster_run_count, cluster_avg_cost
        FROM ${analytics}.baselines
        WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
        ORDER BY cityHash64(session_id), session_id
        LIMIT {sample_size:UInt32}
    ),
    population AS
    (
        SELECT f.session_id AS session_id, f.cascade_id AS cascade_id,
               f.created_at AS created_at, toDate(f.created_at) AS day,
               f.total_cost AS total_cost, c.input_category AS input_category
        FROM ${analytics}.session_facts AS f
        INNER JOIN
        (
            SELECT session_id, input_category
            FROM ${analytics}.input_clusters
            WHERE created_at < {end:DateTime}
        ) AS c ON c.session_id = f.session_id
        WHERE f.created_at < {end:DateTime}
          AND f.cascade_id IN (SELECT cascade_id FROM sample)
    ),
    earlier AS
    (
        -- The population as the recount reads it: the sample's days run by run, every other
        -- day as per-category run counts and cost sums (a sampled run counts such a day
        -- whole or not at all), so each sampled run meets its cascade's days, not its runs.
        SELECT cascade_id, input_category, day,
               if(whole_day, toDateTime(day), created_at) AS at,
               if(whole_day, '', session_id) AS id,
               count() AS runs, sum(total_cost) AS cost
        FROM
        (
            SELECT *, day NOT IN (SELECT day FROM sample) AS whole_day FROM population
        )
        GROUP BY cascade_id, input_category, day, at, id
    )
SELECT
    s.session_id AS session_id,
    any(s.global_run_count) AS stored_global_runs,
    sumIf(p.runs, p.day < s.day OR p.day = s.day
                  AND (p.at, p.id) < (s.created_at, s.session_id))
        AS earlier_global_runs,
    any(s.cluster_run_count) AS stored_cluster_runs,
    sumIf(p.runs, p.input_category = s.input_category
                  AND (p.day < s.day OR p.day = s.day
                       AND (p.at, p.id) < (s.created_at, s.session_id)))
        AS earlier_cluster_runs,
    any(s.cluster_avg_cost) AS stored_cluster_avg_cost,
    if(earlier_cluster_runs = 0, 0,
       sumIf(p.cost, p.input_category = s.input_category
                     AND (p.day < s.day OR p.day = s.day
                          AND (p.at, p.id) < (s.created_at, s.session_id)))
       / earlier_cluster_runs)
        AS earlier_cluster_avg_cost
FROM earlier AS p
INNER JOIN sample AS s ON s.cascade_id = p.cascade_id
GROUP BY s.session_id
ORDER BY s.session_id
