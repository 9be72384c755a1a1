{%- from "exact_sum.sql" import exact_sum -%}
{%- from "pareto_takes.sql" import decided_takes, take_sums -%}
-- The design's Pareto frontier of models, set-based over every species and cell at once.
--
-- Takes come from unified_logs, not prompt_lineage: RVBBIT always logs a take's rows
-- (take_index, model, cost, is_winner), while it fills prompt_lineage only when lineage
-- tracking is on, and sometimes not at all. prompt_lineage adds what the log lacks, the
-- take's evaluator_score, matched on (session_id, cell_name, take_index).
--
-- Every model with a decided take is compared, as in the design's SQL; a model with at
-- least {min_takes} decided takes is `significant`. The frontier is the design's, over all
-- models; a second one over the significant models only is where a significant model's
-- recommendation comes from when it has one, so that one lucky model with three takes does
-- not hide well-measured advice (the lucky one is still shown, flagged not significant).
--
-- Quality is the average evaluator score when every compared model of the species/cell has a
-- score for at least half of its takes, else the win rate: one metric per comparison, since
-- a score and a win rate cannot be compared with each other.
WITH
    -- The takes of the runs session_facts does not hold (not finished, not analysed yet,
    -- without a cascade_sessions row) or holds on a day up to {log_horizon}, whose logs the
    -- source's TTL may have begun to delete; those of the later days' runs are summed per day
    -- in pareto_day_states, kept up to date before this runs.
    -- Only sessions with take rows in the logs can have a decided take (a prompt_lineage row
    -- of no logged take has no model), so those are anti-joined with the held runs: a hash
    -- join's probe, cheaper than a NOT IN set of every held run probed by every take row.
    unheld_take_sessions AS
    (
        SELECT logged.session_id
        FROM
        (
            SELECT DISTINCT session_id
            FROM ${source}.unified_logs
            WHERE take_index IS NOT NULL AND ifNull(cell_name, '') != ''
        ) AS logged
        LEFT ANTI JOIN
        (
            SELECT session_id
            FROM ${analytics}.session_facts
            WHERE toDate(created_at) > {log_horizon:Date}
        ) AS held ON held.session_id = logged.session_id
    ),
    {{ decided_takes("session_id IN (SELECT session_id FROM unheld_take_sessions)") }},
    model_stats AS
    (
        SELECT
            species_hash,
            cascade_id,
            cell_name,
            model,
            sum(part.take_count) AS take_count,
            sum(part.run_count) AS run_count,  -- a run's takes are in one part
            sum(part.cost_takes) AS cost_takes,
            {{ exact_sum("part.cost_sum") }} / cost_takes AS avg_cost,
            sum(part.won_takes) / take_count AS win_rate,
            sum(part.scored_takes) AS scored_takes,
            if(scored_takes = 0, NULL, {{ exact_sum("part.score_sum") }} / scored_takes)
                AS avg_evaluator_score
        FROM
        (
            SELECT species_hash, cascade_id, cell_name, model, take_count, run_count,
                   cost_takes, cost_sum, won_takes, scored_takes, score_sum
            FROM ${analytics}.pareto_day_states
            WHERE day > {log_horizon:Date}
            UNION ALL
            SELECT
                take_species AS species_hash,
                take_cascade AS cascade_id,
                take_cell AS cell_name,
                take_model AS model,
                {{ take_sums() }}
            FROM decided_takes
            GROUP BY species_hash, cascade_id, cell_name, model
        ) AS part
        GROUP BY species_hash, cascade_id, cell_name, model
        HAVING cost_takes > 0
    ),
    comparisons AS
    (
        -- Every species/cell, its models as parallel arrays (index i is one model).
        SELECT
            species_hash,
            cascade_id,
            cell_name,
            if(min(scored_takes * 2 >= take_count), 'evaluator_score', 'win_rate')
                AS quality_metric,
            groupArray(model) AS models,
            groupArray(take_count) AS take_counts,
            groupArray(run_count) AS run_counts,
            groupArray(avg_cost) AS costs,
            groupArray(win_rate) AS win_rates,
            groupArray(scored_takes) AS scored,
            groupArray(take_count >= {min_takes:UInt64}) AS significant_models,
            -- groupArray skips NULLs, which would misalign the arrays: 0 stands for "no
            -- score" here (scored_takes tells them apart).
            groupArray(ifNull(avg_evaluator_score, 0)) AS scores,
            arrayMap(i -> if(quality_metric = 'evaluator_score', scores[i], win_rates[i]),
                     arrayEnumerate(models)) AS qualities,
            -- Averages equal on paper can differ in their last bits with the summation
            -- order; compared at this precision such ties stay ties.
            arrayMap(c -> round(c, 12), costs) AS cost_keys,
            arrayMap(q -> round(q, 9), qualities) AS quality_keys,
            -- The design's NOT EXISTS: j dominates i when it is at least as cheap and at
            -- least as good and strictly better in one. Equal models dominate neither.
            arrayMap(i -> arrayMap(
                    j -> j != i
                        AND cost_keys[j] <= cost_keys[i] AND quality_keys[j] >= quality_keys[i]
                        AND (cost_keys[j] < cost_keys[i] OR quality_keys[j] > quality_keys[i]),
                    arrayEnumerate(models)),
                arrayEnumerate(models)) AS dominated_by,
            arrayMap(i -> NOT has(dominated_by[i], true), arrayEnumerate(models)) AS pareto_flags,
            -- The same among the significant models only.
            arrayMap(i -> significant_models[i] AND NOT arrayExists(
                    j -> dominated_by[i][j] AND significant_models[j], arrayEnumerate(models)),
                arrayEnumerate(models)) AS significant_pareto_flags
        FROM model_stats
        GROUP BY species_hash, cascade_id, cell_name
    ),
    recommended AS
    (
        SELECT
            species_hash,
            cascade_id,
            cell_name,
            quality_metric,
            models[i] AS model,
            take_counts[i] AS take_count,
            run_counts[i] AS run_count,
            costs[i] AS avg_cost,
            win_rates[i] AS win_rate,
            scored[i] AS scored_takes,
            if(scored_takes = 0, NULL, scores[i]) AS avg_evaluator_score,
            qualities[i] AS avg_quality,
            length(models) AS models_compared,
            pareto_flags[i] AS is_pareto,
            significant_pareto_flags[i] AS is_pareto_among_significant,
            -- The cheapest frontier model that saves at least {min_saving} of the cost and
            -- loses at most {quality_margin} of quality (the name breaks cost ties); 0 = none.
            -- A significant model looks on the significant frontier first.
            arrayMap(frontier -> arraySort(j -> (costs[j], models[j]), arrayFilter(
                    j -> frontier[j] AND j != i
                        AND costs[j] <= costs[i] * (1 - {min_saving:Float64})
                        AND qualities[j] >= qualities[i] - {quality_margin:Float64},
                    arrayEnumerate(models))),
                [if(significant_models[i], significant_pareto_flags,
                    arrayMap(m -> false, models)), pareto_flags]) AS cheaper_alternatives,
            arrayFirst(alternatives -> notEmpty(alternatives), cheaper_alternatives) AS chosen,
            if(empty(chosen), 0, chosen[1]) AS pick,
            significant_models[i] AND (pick = 0 OR significant_models[pick]) AS significant,
            models[pick] AS pick_model,
            costs[pick] AS pick_cost,
            win_rates[pick] AS pick_win_rate,
            scores[pick] AS pick_score
        FROM comparisons
        ARRAY JOIN arrayEnumerate(models) AS i
    )
SELECT
    species_hash,
    cascade_id,
    cell_name,
    model,
    take_count,
    run_count,
    avg_cost,
    win_rate,
    scored_takes,
    avg_evaluator_score,
    quality_metric,
    avg_quality,
    models_compared,
    is_pareto,
    significant,
    is_pareto_among_significant,
    if(pick = 0, NULL, pick_model) AS recommended_model,
    if(pick = 0, NULL, 1 - pick_cost / avg_cost) AS cost_saving,
    if(pick = 0, '', concat(
        'Consider ', pick_model,
        ': wins ', toString(toUInt32(round(pick_win_rate * 100))), '%',
        ' (vs ', toString(toUInt32(round(win_rate * 100))), '%)',
        if(quality_metric = 'evaluator_score',
           concat(', scores ', toDecimalString(pick_score, 2),
                  ' vs ', toDecimalString(assumeNotNull(avg_evaluator_score), 2)),
           ''),
        ', costs ', toString(toUInt32(round((1 - pick_cost / avg_cost) * 100))),
        '% less than ', model)) AS recommendation
FROM recommended
ORDER BY species_hash, cascade_id, cell_name, avg_cost, model
