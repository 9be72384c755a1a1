-- Baselines use only earlier runs: for a fixed sample of the runs of [{start}, {end}),
-- recompute from session_facts and input_clusters, over the runs strictly before each one
-- in (created_at, session_id) order, the cascade's run count, the cluster's (same cascade
-- and input category) run count and average cost, beside what baselines stored.
WITH
    sample AS
    (
        SELECT session_id, cascade_id, created_at, input_category, global_run_count,
               cluster_run_count, cluster_avg_cost
        FROM ${analytics}.baselines
        WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
        ORDER BY cityHash64(session_id), session_id
        LIMIT {sample_size:UInt32}
    ),
    population AS
    (
        SELECT f.session_id AS session_id, f.cascade_id AS cascade_id,
               f.created_at AS created_at, f.total_cost AS total_cost,
               c.input_category AS input_category
        FROM ${analytics}.session_facts AS f
        INNER JOIN
        (
            SELECT session_id, input_category
            FROM ${analytics}.input_clusters
            WHERE created_at < {end:DateTime}
        ) AS c ON c.session_id = f.session_id
        WHERE f.created_at < {end:DateTime}
          AND f.cascade_id IN (SELECT cascade_id FROM sample)
    )
SELECT
    s.session_id AS session_id,
    any(s.global_run_count) AS stored_global_runs,
    countIf((p.created_at, p.session_id) < (s.created_at, s.session_id)) AS earlier_global_runs,
    any(s.cluster_run_count) AS stored_cluster_runs,
    countIf(p.input_category = s.input_category
            AND (p.created_at, p.session_id) < (s.created_at, s.session_id))
        AS earlier_cluster_runs,
    any(s.cluster_avg_cost) AS stored_cluster_avg_cost,
    if(earlier_cluster_runs = 0, 0,
       avgIf(p.total_cost, p.input_category = s.input_category
             AND (p.created_at, p.session_id) < (s.created_at, s.session_id)))
        AS earlier_cluster_avg_cost
FROM population AS p
INNER JOIN sample AS s ON s.cascade_id = p.cascade_id
GROUP BY s.session_id
ORDER BY s.session_id
