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
            -- with no cost at all is NULL, and avg() below skips it. A NaN/infinite cost is
            -- a broken value and counts as not arrived.
            sum(if(isFinite(cost), cost, NULL)) AS take_cost,
            max(ifNull(is_winner, false)) AS take_won,
            avgOrNull(evaluator_score) AS lineage_score
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
            UNION ALL
            SELECT session_id, cell_name, take_index, '', NULL, NULL, NULL, '', NULL, NULL,
                   evaluator_score
            FROM ${source}.prompt_lineage
            WHERE evaluator_score IS NOT NULL
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
    ),
    model_stats AS
    (
        SELECT
            take_species AS species_hash,
            take_cascade AS cascade_id,
            take_cell AS cell_name,
            take_model AS model,
            count() AS take_count,
            uniqExact(session_id) AS run_count,
            avg(take_cost) AS avg_cost,
            avg(take_won) AS win_rate,
            count(lineage_score) AS scored_takes,
            avg(lineage_score) AS avg_evaluator_score
        FROM decided_takes
        GROUP BY species_hash, cascade_id, cell_name, model
        HAVING avg_cost IS NOT NULL
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
