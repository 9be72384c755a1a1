{%- from "exact_sum.sql" import exact_sum -%}
{%- from "earlier_runs_moments.sql" import both_parts, mean, moment_sums, stddev_pop, sum_columns -%}
{%- set measures = ["cost", "duration", "tokens"] -%}
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
    earlier_cells AS
    (
        -- The earlier cells of the species the range's cells compare with: this table's
        -- earlier days, and those of {log_days} rebuilt from the logs.
        SELECT species_hash, cost, duration_ms, total_tokens
        FROM computed_cells
        WHERE created_at < {start:DateTime}
          AND species_hash IN (SELECT species_hash FROM range_species)
        UNION ALL
        SELECT species_hash, cost, duration_ms, total_tokens
        FROM ${analytics}.cell_analytics
        WHERE created_at < {start:DateTime}
          AND toDate(created_at) NOT IN {log_days:Array(Date)}
          AND species_hash IN (SELECT species_hash FROM range_species)
    ),
    species_before AS
    (
        SELECT
            species_hash,
            count() AS cells,
            {{ moment_sums("cost", "cost") }},
            {{ moment_sums("duration_ms", "duration") }},
            {{ moment_sums("total_tokens", "tokens") }}
        FROM earlier_cells
        GROUP BY species_hash
    ),
    range_cells AS
    (
        SELECT
            *,
            -- Position of the run in (created_at, session_id) order within its species: the
            -- window below needs one number to take "strictly earlier runs" as a RANGE (all
            -- cells of one run share it, so a run never counts as its own history).
            dense_rank() OVER (PARTITION BY species_hash ORDER BY created_at, session_id)
                AS run_order
        FROM computed_cells
        WHERE created_at >= {start:DateTime}
    ),
    range_sums AS
    (
        SELECT
            *,
            count() OVER earlier_in_species AS cells,
            {{ moment_sums("cost", "cost", "OVER earlier_in_species") }},
            {{ moment_sums("duration_ms", "duration", "OVER earlier_in_species") }},
            {{ moment_sums("total_tokens", "tokens", "OVER earlier_in_species") }}
        FROM range_cells
        WINDOW earlier_in_species AS (PARTITION BY species_hash ORDER BY run_order
                                      RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
    ),
    with_sums AS
    (
        -- A cell without a species has no history: the join leaves its earlier part at 0.
        SELECT
            r.* EXCEPT (cells, {{ sum_columns(measures) }}),
            if(r.species_hash IS NULL, 0, r.cells + b.cells) AS species_run_count,
            {{ both_parts("cost", "r", "b") }},
            {{ both_parts("duration", "r", "b") }},
            {{ both_parts("tokens", "r", "b") }}
        FROM range_sums AS r
        LEFT JOIN species_before AS b ON b.species_hash = r.species_hash
    ),
    with_baselines AS
    (
        SELECT
            * EXCEPT ({{ sum_columns(measures) }}),
            if(species_run_count = 0, 0, {{ mean("cost", "species_run_count") }})
                AS species_avg_cost,
            if(species_run_count = 0, 0, {{ stddev_pop("cost", "species_run_count") }})
                AS raw_stddev_cost,
            if(species_run_count = 0, 0, {{ mean("duration", "species_run_count") }})
                AS species_avg_duration,
            if(species_run_count = 0, 0, {{ stddev_pop("duration", "species_run_count") }})
                AS raw_stddev_duration,
            if(species_run_count = 0, 0, {{ mean("tokens", "species_run_count") }})
                AS species_avg_tokens,
            if(species_run_count = 0, 0, {{ stddev_pop("tokens", "species_run_count") }})
                AS raw_stddev_tokens
        FROM with_sums
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
