{%- from "exact_sum.sql" import exact_sum -%}
-- Per run and cell, for the analysed runs that started in [{start}, {end}): the cell's cost,
-- duration and tokens against the same species' cells in strictly earlier runs, with
-- z-scores and the cell's share of the run's cost.
--
-- The range's cells come from the source logs of its runs in session_facts. Earlier cells
-- are read from this table's earlier days, which hold the same facts, computed from the same
-- logs when those days were analysed (the history stages of session_facts' earlier days
-- ensure every one was): a new day reads only its own logs. An earlier day in {log_days},
-- one cell_analytics has not written since session_facts last did, has its cells rebuilt
-- from the logs too, so the history is the cells of every run in session_facts before {end},
-- whatever order days were materialized in.
WITH
    computed_runs AS MATERIALIZED
    (
        SELECT session_id, cascade_id, created_at, total_cost AS run_total_cost
        FROM ${analytics}.session_facts
        WHERE created_at < {end:DateTime}
          AND (created_at >= {start:DateTime} OR toDate(created_at) IN {log_days:Array(Date)})
    ),
    log_cells AS
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
            {{ exact_sum("if(isFinite(cost), cost, 0)") }} AS cell_cost,
            dateDiff('microsecond', min(timestamp), max(timestamp)) / 1000. AS cell_duration_ms,
            sum(greatest(ifNull(tokens_in, 0), 0)) AS cell_tokens_in,
            sum(greatest(ifNull(tokens_out, 0), 0)) AS cell_tokens_out,
            count() AS cell_messages,
            countIf(position(node_type, 'error') > 0) AS cell_errors
        FROM ${source}.unified_logs
        WHERE session_id IN (SELECT session_id FROM computed_runs)
          AND ifNull(cell_name, '') != ''
        GROUP BY session_id, cell
    ),
    computed_cells AS MATERIALIZED
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
            toUInt64(c.cell_tokens_in) AS tokens_in,
            toUInt64(c.cell_tokens_out) AS tokens_out,
            tokens_in + tokens_out AS total_tokens,
            toUInt32(c.cell_messages) AS message_count,
            toUInt32(c.cell_errors) AS error_count,
            r.run_total_cost AS run_total_cost
        FROM log_cells AS c
        INNER JOIN computed_runs AS r ON r.session_id = c.session_id
    ),
    range_species AS MATERIALIZED
    (
        SELECT DISTINCT species_hash
        FROM computed_cells
        WHERE created_at >= {start:DateTime} AND species_hash IS NOT NULL
    ),
    window_cells AS
    (
        -- What the window reads: the range's cells, with the columns written (carried
        -- through the window rather than joined back after it, a join of every cell of the
        -- range), and the earlier cells of the species they compare with, whose other
        -- columns are not read.
        SELECT
            session_id, cell_name, created_at, species_hash, cost, duration_ms, total_tokens,
            cascade_id, started_at, tokens_in, tokens_out, message_count, error_count,
            run_total_cost
        FROM computed_cells
        WHERE created_at >= {start:DateTime}
           OR species_hash IN (SELECT species_hash FROM range_species)
        UNION ALL
        SELECT
            session_id, cell_name, created_at, species_hash, cost, duration_ms, total_tokens,
            '', toDateTime64(0, 6), toUInt64(0), toUInt64(0), toUInt32(0), toUInt32(0), 0.
        FROM ${analytics}.cell_analytics
        WHERE created_at < {start:DateTime}
          AND toDate(created_at) NOT IN {log_days:Array(Date)}
          AND species_hash IN (SELECT species_hash FROM range_species)
    ),
    ordered_cells AS
    (
        SELECT
            *,
            -- Position of the run in (created_at, session_id) order within its species: the
            -- window below needs one number to take "strictly earlier runs" as a RANGE (all
            -- cells of one run share it, so a run never counts as its own history). Ranked
            -- per species, as the window reads it, the species are sorted apart in parallel.
            dense_rank() OVER (PARTITION BY species_hash ORDER BY created_at, session_id)
                AS run_order
        FROM window_cells
    ),
    with_baselines AS
    (
        SELECT
            session_id,
            cell_name,
            created_at,
            species_hash,
            cost,
            duration_ms,
            total_tokens,
            cascade_id,
            started_at,
            tokens_in,
            tokens_out,
            message_count,
            error_count,
            run_total_cost,
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
        FROM ordered_cells
        WINDOW earlier_in_species AS (PARTITION BY species_hash ORDER BY run_order
                                      RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
    ),
    with_stddevs AS
    (
        -- A stddev within floating-point noise of zero is 0, as in baselines.sql.
        SELECT
            * EXCEPT (raw_stddev_cost, raw_stddev_duration, raw_stddev_tokens),
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
-- Without enable_materialized_cte ClickHouse ignores MATERIALIZED and runs such a CTE again
-- at every reference.
SETTINGS enable_materialized_cte = 1
