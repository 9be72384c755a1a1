{%- from "exact_sum.sql" import exact_sum -%}
-- Facts of every finished run that started in [{start}, {end}), from the run's own log rows.
-- A run is finished when it logged cascade_completed / cascade_error, or abandoned when its
-- last row is older than {abandoned_before} without one. Columns follow session_facts (their
-- comments in the migrations define them).
--
-- A take is one (cell, take_index) of the run's rows: take 1 of cell A and take 1 of cell B
-- are two candidates. Take rows without a cell are the parent's side of cascade-level takes,
-- which RVBBIT runs as child sessions ({sid}_take_{i}) and which are counted as those.
-- The CTEs read more than once are MATERIALIZED: computed once, not at every reference
-- (see the SETTINGS at the end).
WITH
    range_sessions AS MATERIALIZED
    (
        -- A session the source holds more than once is analysed once, from its earliest row;
        -- rows started at the same time are told apart by their values, so the row chosen
        -- does not depend on which was written first. Grouped, not sorted (LIMIT 1 BY): the
        -- sort of 200k ids cost 0.4 s of 0.9. The input's hash and the origin are computed
        -- on every row, as the input texts themselves are too big to carry.
        SELECT
            session_id,
            earliest.1 AS created_at,
            earliest.2 AS cascade_id,
            earliest.3 AS input_hash,
            earliest.4 AS parent_session_id,
            earliest.5 AS depth,
            earliest.6 AS caller_id,
            earliest.7 AS origin
        FROM
        (
            SELECT
                session_id,
                min((
                    created_at,
                    cascade_id,
                    cityHash64(input_data),
                    nullIf(parent_session_id, ''),
                    depth,
                    caller_id,
                    if(JSONExtractString(invocation_metadata_json, 'origin') = '', 'unknown',
                       JSONExtractString(invocation_metadata_json, 'origin'))
                )) AS earliest
            FROM ${source}.cascade_sessions
            WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
            GROUP BY session_id
        )
    ),
    range_logs AS MATERIALIZED
    (
        -- A NaN/infinite cost or a negative token count is a broken log value: it counts
        -- as unknown (NULL), as a cost not filled in yet does, so that one such row can
        -- neither poison the cascade's baselines nor wrap an unsigned total.
        SELECT
            session_id, timestamp, message_id, node_type, role, model, cell_name,
            species_hash, take_index, is_winner, winning_take_index, reforge_step,
            if(isFinite(cost), cost, NULL) AS cost,
            if(tokens_in >= 0, tokens_in, NULL) AS tokens_in,
            if(tokens_out >= 0, tokens_out, NULL) AS tokens_out
        FROM ${source}.unified_logs
        WHERE session_id IN (SELECT session_id FROM range_sessions)
    ),
    log_totals AS
    (
        SELECT
            session_id,
            {{ exact_sum("ifNull(cost, 0)") }} AS total_cost,
            countIf(cost IS NULL AND role = 'assistant') AS null_cost_rows,
            dateDiff('microsecond', min(timestamp), max(timestamp)) / 1000. AS total_duration_ms,
            sum(ifNull(tokens_in, 0)) AS total_tokens_in,
            sum(ifNull(tokens_out, 0)) AS total_tokens_out,
            count() AS message_count,
            uniqExact(cell_name) AS cell_count,
            countIf(position(node_type, 'error') > 0) AS error_count,
            ifNull(max(reforge_step), 0) AS reforge_depth,
            countIf(node_type IN ('cascade_completed', 'cascade_error')) > 0 AS has_completion,
            argMaxIf(node_type, timestamp, node_type IN ('cascade_completed', 'cascade_error'))
                AS completion_type,
            maxIf(timestamp, node_type IN ('cascade_completed', 'cascade_error')) AS completed_at,
            max(timestamp) AS last_logged_at,
            -- Assistant rows in time order (message_id breaks timestamp ties) for switches.
            arrayMap(r -> r.3, arraySort(groupArrayIf(
                (timestamp, message_id, assumeNotNull(model)),
                role = 'assistant' AND ifNull(model, '') != ''))) AS assistant_models
        FROM range_logs
        GROUP BY session_id
    ),
    llm_usage AS
    (
        -- Each run's LLM calls per (cell, model): what the recommended detection prices.
        SELECT
            session_id,
            sum(calls) AS llm_calls,
            arraySort(groupArray((cell_name, model, calls, tokens_in, tokens_out, cost)))
                AS llm_usage,
            -- Each model's calls over its cells, most used first; the name breaks ties so
            -- the order is deterministic.
            arrayMap(m -> m.2, arraySort(m -> (-m.1, m.2),
                arrayZip((sumMap([model], [calls]) AS uses_by_model).2, uses_by_model.1)))
                AS models_used
        FROM
        (
            SELECT
                session_id,
                ifNull(cell_name, '') AS cell_name,
                assumeNotNull(model) AS model,
                toUInt32(count()) AS calls,
                sum(toUInt64(ifNull(tokens_in, 0))) AS tokens_in,
                sum(toUInt64(ifNull(tokens_out, 0))) AS tokens_out,
                {{ exact_sum("ifNull(cost, 0)") }} AS cost
            FROM range_logs
            WHERE role = 'assistant' AND ifNull(model, '') != ''
            GROUP BY session_id, cell_name, model
        )
        GROUP BY session_id
    ),
    primary_species AS
    (
        -- Most frequent species; a tie goes to the species logged last.
        SELECT session_id, argMax(species_hash, (uses, last_logged_at)) AS species_hash_primary
        FROM
        (
            SELECT session_id, species_hash, count() AS uses, max(timestamp) AS last_logged_at
            FROM range_logs
            WHERE species_hash IS NOT NULL
              AND species_hash NOT IN ('', 'unknown_species')
            GROUP BY session_id, species_hash
        )
        GROUP BY session_id
    ),
    take_groups AS MATERIALIZED
    (
        -- Each take's rows, and (take_index NULL) the cell's other rows that log a winning
        -- take index: the cells' takes and logged winners in one pass over the logs.
        SELECT
            session_id,
            assumeNotNull(cell_name) AS take_cell,
            take_index,
            {{ exact_sum("ifNull(cost, 0)") }} AS take_cost,
            max(ifNull(is_winner, false)) AS won,
            maxIf(timestamp, ifNull(is_winner, false)) AS won_at,
            max(timestamp) AS last_take_row_at,
            max(winning_take_index) AS logged_winner
        FROM range_logs
        WHERE ifNull(cell_name, '') != ''
          AND (take_index IS NOT NULL OR winning_take_index IS NOT NULL)
        GROUP BY session_id, take_cell, take_index
    ),
    take_costs AS
    (
        SELECT session_id, take_cell, take_index, take_cost
        FROM take_groups
        WHERE take_index IS NOT NULL
    ),
    cell_winners AS
    (
        -- Each cell's winner: the take flagged is_winner (the latest flag if several), else
        -- the winning_take_index the cell logged (on its takes_result row). A cell without
        -- either is undecided: its takes are neither winners nor losers.
        SELECT
            session_id,
            take_cell,
            maxIf(last_take_row_at, take_index IS NOT NULL) AS last_take_at,
            coalesce(
                if(countIf(won AND take_index IS NOT NULL) > 0,
                   argMaxIf(take_index, won_at, won AND take_index IS NOT NULL), NULL),
                max(logged_winner)) AS winner_index
        FROM take_groups
        GROUP BY session_id, take_cell
        HAVING countIf(take_index IS NOT NULL) > 0
    ),
    take_summary AS
    (
        SELECT
            t.session_id AS session_id,
            -- The last cell that ran takes (its latest take row; the name breaks ties).
            -- A tuple, as argMax skips a NULL value: that cell may have no winner.
            argMax(tuple(w.winner_index), (w.last_take_at, w.take_cell)).1
                AS winner_candidate_index,
            count() AS cell_take_count,  -- one take_costs row per (cell, take_index)
            countIf(w.winner_index IS NOT NULL) > 0 AS any_winner,
            sumIf(t.take_cost, t.take_index = w.winner_index) AS winner_take_cost,
            countIf(t.take_index != w.winner_index) AS loser_takes,
            {{ exact_sum("if(t.take_index != w.winner_index, t.take_cost, NULL)") }}
                / loser_takes AS loser_take_avg
        FROM take_costs AS t
        INNER JOIN cell_winners AS w
            ON w.session_id = t.session_id AND w.take_cell = t.take_cell
        GROUP BY t.session_id
    ),
    evaluator_scores AS
    (
        SELECT session_id, max(evaluator_score) AS evaluator_score
        FROM ${source}.prompt_lineage
        WHERE is_winner AND session_id IN (SELECT session_id FROM range_sessions)
        GROUP BY session_id
    ),
    child_sessions AS MATERIALIZED
    (
        SELECT DISTINCT
            session_id,
            parent_session_id,
            -- RVBBIT names a child after its parent: {sid}_take_{i} for a cascade-level take,
            -- {sid}_reforge{step}_{i} for a reforge refinement; any other child is a
            -- sub-cascade (RVBBIT's {sid}_sub...).
            if(startsWith(session_id, parent_session_id),
               substring(session_id, length(parent_session_id) + 1), '') AS name_suffix,
            multiIf(match(name_suffix, '^_take_[0-9]+$$'), 'take',
                    match(name_suffix, '^_reforge[0-9]+_[0-9]+$$'), 'reforge',
                    'sub_cascade') AS child_kind
        FROM ${source}.cascade_sessions
        WHERE parent_session_id IN (SELECT session_id FROM range_sessions)
    ),
    sub_cascade_trees AS MATERIALIZED
    (
        -- Every session below each run's sub-cascades (their own takes and sub-cascades
        -- too), by parent links; `path` stops a cycle in hostile parent links.
        WITH RECURSIVE tree AS
        (
            SELECT parent_session_id AS root, session_id, [session_id] AS path
            FROM child_sessions
            WHERE child_kind = 'sub_cascade'
            UNION ALL
            SELECT t.root, c.session_id, arrayPushBack(t.path, c.session_id)
            FROM
            (
                SELECT DISTINCT session_id, parent_session_id
                FROM ${source}.cascade_sessions
                WHERE parent_session_id != ''
            ) AS c
            INNER JOIN tree AS t ON c.parent_session_id = t.session_id
            WHERE NOT has(t.path, c.session_id)
        )
        SELECT DISTINCT root, session_id FROM tree
    ),
    children AS
    (
        SELECT
            t.root AS session_id,
            uniqExactIf(t.session_id, c.child_kind = 'sub_cascade') AS child_session_count,
            {{ exact_sum("ifNull(k.descendant_cost, 0)") }} AS child_total_cost
        FROM sub_cascade_trees AS t
        LEFT JOIN child_sessions AS c
            ON c.parent_session_id = t.root AND c.session_id = t.session_id
        LEFT JOIN
        (
            SELECT session_id, {{ exact_sum("if(isFinite(cost), cost, 0)") }} AS descendant_cost
            FROM ${source}.unified_logs
            WHERE session_id IN (SELECT session_id FROM sub_cascade_trees)
            GROUP BY session_id
        ) AS k ON k.session_id = t.session_id
        GROUP BY t.root
    ),
    take_children AS
    (
        SELECT parent_session_id AS session_id, count() AS take_child_count
        FROM child_sessions
        WHERE child_kind = 'take'
        GROUP BY parent_session_id
    )
SELECT
    s.session_id AS session_id,
    s.cascade_id AS cascade_id,
    s.created_at AS created_at,
    multiIf(l.has_completion AND l.completion_type = 'cascade_error', 'error',
            l.has_completion, 'completed',
            'abandoned') AS run_status,
    if(l.has_completion, l.completed_at, l.last_logged_at) AS finished_at,
    s.input_hash AS input_hash,
    l.total_cost AS total_cost,
    l.null_cost_rows AS null_cost_rows,
    l.null_cost_rows = 0 AS cost_complete,
    l.total_duration_ms AS total_duration_ms,
    l.total_tokens_in AS total_tokens_in,
    l.total_tokens_out AS total_tokens_out,
    l.message_count AS message_count,
    l.cell_count AS cell_count,
    l.error_count AS error_count,
    ifNull(t.cell_take_count, 0) + ifNull(tc.take_child_count, 0) AS candidate_count,
    l.reforge_depth AS reforge_depth,
    u.models_used AS models_used,
    u.models_used[1] AS primary_model,
    length(arrayFilter((model, previous) -> model != previous,
        arrayPopFront(l.assistant_models), arrayPopBack(l.assistant_models))) AS model_switches,
    p.species_hash_primary AS species_hash_primary,
    ifNull(u.llm_calls, 0) AS llm_calls,
    ifNull(u.llm_usage, []) AS llm_usage,
    t.winner_candidate_index AS winner_candidate_index,
    if(t.any_winner, t.winner_take_cost, NULL) AS winner_cost,
    if(t.loser_takes > 0, t.loser_take_avg, NULL) AS loser_avg_cost,
    e.evaluator_score AS evaluator_score,
    s.parent_session_id AS parent_session_id,
    s.depth AS depth,
    ifNull(c.child_session_count, 0) AS child_session_count,
    ifNull(c.child_total_cost, 0) AS child_total_cost,
    s.caller_id AS caller_id,
    s.origin AS origin,
    toHour(s.created_at) AS hour_of_day,
    toDayOfWeek(s.created_at) - 1 AS day_of_week,
    toDayOfWeek(s.created_at) >= 6 AS is_weekend
FROM range_sessions AS s
INNER JOIN log_totals AS l ON l.session_id = s.session_id
LEFT JOIN primary_species AS p ON p.session_id = s.session_id
LEFT JOIN llm_usage AS u ON u.session_id = s.session_id
LEFT JOIN take_summary AS t ON t.session_id = s.session_id
LEFT JOIN evaluator_scores AS e ON e.session_id = s.session_id
LEFT JOIN children AS c ON c.session_id = s.session_id
LEFT JOIN take_children AS tc ON tc.session_id = s.session_id
WHERE l.has_completion OR l.last_logged_at < {abandoned_before:DateTime64(6)}
-- Without enable_materialized_cte ClickHouse ignores MATERIALIZED and runs such a CTE again
-- at every reference.
SETTINGS join_use_nulls = 1, enable_materialized_cte = 1
