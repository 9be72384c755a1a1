{%- from "exact_sum.sql" import exact_sum -%}
{#- The decided takes of pareto_frontier.sql, as macros: the frontier reads those of the runs
    session_facts does not hold, and pareto_day_states.sql those of given days' runs. -#}
{%- macro decided_takes(sessions) -%}
    {#- The `takes` and `decided_takes` CTEs over the runs whose session_id passes `sessions`
        (a condition on session_id). -#}
    takes AS
    (
        -- One row per take. A take may log several rows (turns, tool calls): its cost is
        -- their sum, its model the last assistant model, its species the last one logged.
        -- Its prompt_lineage rows are grouped with its log rows (they carry only a score;
        -- a lineage row of no logged take makes a group without a model, dropped below):
        -- one GROUP BY instead of a second one and a hash join on the take's key.
        SELECT
            session_id,
            take_cell,
            take_number,
            max(cascade) AS take_cascade,
            argMaxIf(assumeNotNull(species_hash), (timestamp, assumeNotNull(species_hash)),
                     ifNull(species_hash, '') NOT IN ('', 'unknown_species')) AS take_species,
            argMaxIf(assumeNotNull(model), (timestamp, assumeNotNull(model)),
                     role = 'assistant' AND ifNull(model, '') != '') AS take_model,
            -- sum() skips a cost that has not arrived yet (RVBBIT fills some late); a take
            -- with no cost at all is NULL, and the average cost leaves it out. A
            -- NaN/infinite cost is a broken value and counts as not arrived.
            if(countIf(isFinite(cost)) = 0, NULL,
               {{ exact_sum("if(isFinite(cost), cost, NULL)") }}) AS take_cost,
            max(ifNull(is_winner, false)) AS take_won,
            if(count(evaluator_score) = 0, NULL,
               {{ exact_sum("toFloat64(evaluator_score)") }} / count(evaluator_score))
                AS lineage_score
        FROM
        (
            SELECT
                session_id,
                assumeNotNull(cell_name) AS take_cell,
                assumeNotNull(take_index) AS take_number,
                ifNull(cascade_id, '') AS cascade,
                species_hash,
                timestamp,
                model,
                role,
                cost,
                is_winner,
                CAST(NULL, 'Nullable(Float32)') AS evaluator_score
            FROM ${source}.unified_logs
            WHERE take_index IS NOT NULL AND ifNull(cell_name, '') != ''
              AND {{ sessions }}
            UNION ALL
            SELECT session_id, cell_name, take_index, '', NULL, NULL, NULL, '', NULL, NULL,
                   evaluator_score
            FROM ${source}.prompt_lineage
            WHERE evaluator_score IS NOT NULL AND {{ sessions }}
        )
        GROUP BY session_id, take_cell, take_number
        -- A take without a model failed before answering; without a species it has no
        -- comparison group.
        HAVING take_model != '' AND take_species != ''
    ),
    decided_takes AS
    (
        -- A take set without a winner is still being evaluated or failed as a whole: its
        -- takes are not losses, so they are left out. (Grouped and unfolded again: cheaper
        -- than a set of the decided take sets and an IN over every take.)
        SELECT
            session_id,
            take_cell,
            take.1 AS take_cascade,
            take.2 AS take_species,
            take.3 AS take_model,
            take.4 AS take_cost,
            take.5 AS take_won,
            take.6 AS lineage_score
        FROM
        (
            SELECT
                session_id,
                take_cell,
                groupArray((take_cascade, take_species, take_model, take_cost, take_won,
                            lineage_score)) AS set_takes
            FROM takes
            GROUP BY session_id, take_cell
            HAVING countIf(take_won) > 0
        )
        ARRAY JOIN set_takes AS take
    )
{%- endmacro -%}
{%- macro take_sums() -%}
    {#- Per group of `decided_takes`: what the frontier's averages are made of, so that sums
        over days and over the rest add up to the whole history's. -#}
            count() AS take_count,
            uniqExact(session_id) AS run_count,
            count(take_cost) AS cost_takes,
            {{ exact_sum("ifNull(take_cost, 0)") }} AS cost_sum,
            countIf(take_won) AS won_takes,
            count(lineage_score) AS scored_takes,
            {{ exact_sum("ifNull(lineage_score, 0)") }} AS score_sum
{%- endmacro -%}
