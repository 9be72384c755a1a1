-- Per run and cell, for the analysed runs that started in [{start}, {end}): the cell's cost,
-- duration and tokens against the same species' cells in strictly earlier runs, with
-- z-scores and the cell's share of the run's cost.
--
-- The history is rebuilt here from the source logs of every run in session_facts that
-- started before {end}, on any day: it depends only on the source rows and on which runs
-- are analysed, never on which days of this table were written before, so the result is
-- the same whatever order days are materialized in.
WITH
    analysed_runs AS
    (
        SELECT
            session_id,
            cascade_id,
            created_at,
            total_cost AS run_total_cost,
            -- Position of the run in (created_at, session_id) order: the window below needs
            -- one number to take "strictly earlier runs" as a RANGE (all cells of one run
            -- share it, so a run never counts as its own history).
            row_number() OVER (ORDER BY created_at, session_id) AS run_order
        FROM ${analytics}.session_facts
        WHERE created_at < {end:DateTime}
    ),
    cells AS
    (
        SELECT
            session_id,
            assumeNotNull(cell_name) AS cell,
            -- A cell runs one template on one input: one species (the last logged, should
            -- a row disagree); NULL when no row of the cell carries a known one.
            argMaxIf(species_hash, (timestamp, assumeNotNull(species_hash)),
                     ifNull(species_hash, '') NOT IN ('', 'unknown_species')) AS cell_species,
            min(timestamp) AS cell_started_at,
            -- Broken values (NaN/infinite cost, negative tokens) count as unknown, as in
            -- session_facts.
            sum(if(isFinite(cost), cost, 0)) AS cell_cost,
            dateDiff('microsecond', min(timestamp), max(timestamp)) / 1000. AS cell_duration_ms,
            sum(greatest(ifNull(tokens_in, 0), 0)) AS cell_tokens_in,
            sum(greatest(ifNull(tokens_out, 0), 0)) AS cell_tokens_out,
            count() AS cell_messages,
            countIf(position(node_type, 'error') > 0) AS cell_errors
        FROM ${source}.unified_logs
        WHERE session_id IN (SELECT session_id FROM analysed_runs)
          AND ifNull(cell_name, '') != ''
        GROUP BY session_id, cell
    ),
    with_baselines AS
    (
        SELECT
            r.session_id AS session_id,
            r.cascade_id AS cascade_id,
            r.created_at AS created_at,
            c.cell AS cell_name,
            nullIf(c.cell_species, '') AS species_hash,
            c.cell_started_at AS started_at,
            c.cell_cost AS cost,
            c.cell_duration_ms AS duration_ms,
            c.cell_tokens_in AS tokens_in,
            c.cell_tokens_out AS tokens_out,
            c.cell_tokens_in + c.cell_tokens_out AS total_tokens,
            c.cell_messages AS message_count,
            c.cell_errors AS error_count,
            r.run_total_cost AS run_total_cost,
            if(species_hash IS NULL, 0, count() OVER earlier_in_species) AS species_run_count,
            if(species_run_count = 0, 0, avg(cost) OVER earlier_in_species) AS species_avg_cost,
            if(species_run_count = 0, 0, stddevPopStable(cost) OVER earlier_in_species)
                AS raw_stddev_cost,
            if(species_run_count = 0, 0, avg(duration_ms) OVER earlier_in_species)
                AS species_avg_duration,
            if(species_run_count = 0, 0, stddevPopStable(duration_ms) OVER earlier_in_species)
                AS raw_stddev_duration,
            if(species_run_count = 0, 0, avg(total_tokens) OVER earlier_in_species)
                AS species_avg_tokens,
            if(species_run_count = 0, 0, stddevPopStable(total_tokens) OVER earlier_in_species)
                AS raw_stddev_tokens
        FROM cells AS c
        INNER JOIN analysed_runs AS r ON r.session_id = c.session_id
        WINDOW earlier_in_species AS (PARTITION BY species_hash ORDER BY r.run_order
                                      RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
    ),
    with_stddevs AS
    (
        -- A stddev within floating-point noise of zero is 0, as in baselines.sql.
        SELECT
            *,
            if(raw_stddev_cost <= 1e-9 * abs(species_avg_cost), 0, raw_stddev_cost)
                AS species_stddev_cost,
            if(raw_stddev_duration <= 1e-9 * abs(species_avg_duration), 0, raw_stddev_duration)
                AS species_stddev_duration,
            if(raw_stddev_tokens <= 1e-9 * abs(species_avg_tokens), 0, raw_stddev_tokens)
                AS species_stddev_tokens
        FROM with_baselines
        WHERE created_at >= {start:DateTime}
    )
SELECT
    session_id,
    cascade_id,
    created_at,
    cell_name,
    species_hash,
    started_at,
    cost,
    duration_ms,
    tokens_in,
    tokens_out,
    total_tokens,
    message_count,
    error_count,
    run_total_cost,
    if(run_total_cost > 0, cost / run_total_cost, 0) AS cost_share,
    species_run_count,
    species_avg_cost,
    species_stddev_cost,
    species_avg_duration,
    species_stddev_duration,
    species_avg_tokens,
    species_stddev_tokens,
    if(species_stddev_cost = 0, 0, (cost - species_avg_cost) / species_stddev_cost)
        AS cost_z_score,
    if(species_stddev_duration = 0, 0,
       (duration_ms - species_avg_duration) / species_stddev_duration) AS duration_z_score,
    if(species_stddev_tokens = 0, 0, (total_tokens - species_avg_tokens) / species_stddev_tokens)
        AS tokens_z_score
FROM with_stddevs
