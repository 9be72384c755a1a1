-- Global (cascade), cluster (cascade x input category) and species baselines of each run in
-- [{start}, {end}), over the runs that started before it in (created_at, session_id) order.
-- Averages and stddevs are 0 with no prior run; species averages are NULL without a species
-- or a prior run of it. A stddev within floating-point noise of zero is stored as 0.
SELECT
    session_id,
    cascade_id,
    created_at,
    input_category,
    species_hash_primary,
    global_avg_cost,
    global_avg_duration,
    global_avg_tokens,
    global_run_count,
    global_runs_with_errors,
    cluster_avg_cost,
    cluster_avg_duration,
    cluster_avg_tokens,
    if(raw_stddev_cost <= 1e-9 * abs(cluster_avg_cost), 0, raw_stddev_cost) AS cluster_stddev_cost,
    if(raw_stddev_duration <= 1e-9 * abs(cluster_avg_duration), 0, raw_stddev_duration)
        AS cluster_stddev_duration,
    if(raw_stddev_tokens <= 1e-9 * abs(cluster_avg_tokens), 0, raw_stddev_tokens)
        AS cluster_stddev_tokens,
    cluster_run_count,
    if(species_run_count = 0, NULL, raw_species_avg_cost) AS species_avg_cost,
    if(species_run_count = 0, NULL, raw_species_avg_duration) AS species_avg_duration,
    species_run_count
FROM
(
    SELECT
        session_id,
        cascade_id,
        created_at,
        input_category,
        species_hash_primary,

        count() OVER earlier_in_cascade AS global_run_count,
        if(global_run_count = 0, 0, avg(total_cost) OVER earlier_in_cascade) AS global_avg_cost,
        if(global_run_count = 0, 0, avg(total_duration_ms) OVER earlier_in_cascade)
            AS global_avg_duration,
        if(global_run_count = 0, 0, avg(total_tokens) OVER earlier_in_cascade) AS global_avg_tokens,
        countIf(error_count > 0) OVER earlier_in_cascade AS global_runs_with_errors,

        count() OVER earlier_in_cluster AS cluster_run_count,
        if(cluster_run_count = 0, 0, avg(total_cost) OVER earlier_in_cluster) AS cluster_avg_cost,
        if(cluster_run_count = 0, 0, avg(total_duration_ms) OVER earlier_in_cluster)
            AS cluster_avg_duration,
        if(cluster_run_count = 0, 0, avg(total_tokens) OVER earlier_in_cluster)
            AS cluster_avg_tokens,
        if(cluster_run_count = 0, 0, stddevPopStable(total_cost) OVER earlier_in_cluster)
            AS raw_stddev_cost,
        if(cluster_run_count = 0, 0, stddevPopStable(total_duration_ms) OVER earlier_in_cluster)
            AS raw_stddev_duration,
        if(cluster_run_count = 0, 0, stddevPopStable(total_tokens) OVER earlier_in_cluster)
            AS raw_stddev_tokens,

        if(species_hash_primary IS NULL, 0, count() OVER earlier_in_species) AS species_run_count,
        avg(total_cost) OVER earlier_in_species AS raw_species_avg_cost,
        avg(total_duration_ms) OVER earlier_in_species AS raw_species_avg_duration
    FROM history
    WINDOW
        earlier_in_cascade AS (PARTITION BY cascade_id ORDER BY created_at, session_id
                               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
        earlier_in_cluster AS (PARTITION BY cascade_id, input_category
                               ORDER BY created_at, session_id
                               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
        earlier_in_species AS (PARTITION BY species_hash_primary ORDER BY created_at, session_id
                               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
)
WHERE created_at >= {start:DateTime}
