{%- from "exact_sum.sql" import exact_sum -%}
{%- from "priced_macros.sql" import run_calls -%}
{#- A Jinja template (the price fit is a macro), run with bound parameters. -#}
{%- macro token_prices(m) -%}
    {#- (input, output) price per token from the sums of squares and products of `m`: the
        least-squares fit of cost = tokens_in x input + tokens_out x output, when the mix of
        the two varies enough to tell them apart and both come out non-negative. -#}
    if({{ m }}sum_in_in * {{ m }}sum_out_out - {{ m }}sum_in_out * {{ m }}sum_in_out
           > 1e-6 * {{ m }}sum_in_in * {{ m }}sum_out_out
       AND {{ m }}sum_in_cost * {{ m }}sum_out_out - {{ m }}sum_out_cost * {{ m }}sum_in_out >= 0
       AND {{ m }}sum_out_cost * {{ m }}sum_in_in - {{ m }}sum_in_cost * {{ m }}sum_in_out >= 0,
       (({{ m }}sum_in_cost * {{ m }}sum_out_out - {{ m }}sum_out_cost * {{ m }}sum_in_out)
            / ({{ m }}sum_in_in * {{ m }}sum_out_out - {{ m }}sum_in_out * {{ m }}sum_in_out),
        ({{ m }}sum_out_cost * {{ m }}sum_in_in - {{ m }}sum_in_cost * {{ m }}sum_in_out)
            / ({{ m }}sum_in_in * {{ m }}sum_out_out - {{ m }}sum_in_out * {{ m }}sum_in_out)),
       ({{ m }}sum_cost / {{ m }}sum_weighted, {output_weight:Float64} * {{ m }}sum_cost / {{ m }}sum_weighted))
{%- endmacro -%}
{%- set sums = ["sum_weighted", "sum_cost", "sum_in_in", "sum_in_out", "sum_out_out",
                 "sum_in_cost", "sum_out_cost"] -%}
-- Each run of [{start}, {end}) priced the way its cells usually run and pay, from its LLM
-- calls (session_facts.llm_usage) and what each (cascade, cell) did on the {lookback_days}
-- days before the run's day (so a day is priced the same whether analysed alone or in a
-- range). Per cell, from those days:
--   * a model is routine when it answered in at least {routine_share} of the cell's runs (in
--     a young cell: in any earlier run);
--   * the usual prices of input and of output tokens: of each model (least squares of cost
--     on its tokens), and of the cell, over its main models (those answering in at least
--     {main_model_share} as many runs as its most used one: every model of a take set, not a
--     fallback); where the tokens cannot tell input from output prices apart (always the
--     same mix), the cost per weighted token (input + {output_weight} x output);
--   * the usual number of calls per run (median) and the routine most ({routine_calls_quantile}
--     quantile: a retry or another tool round is routine, a loop is not).
-- A cell without earlier runs is taken as it is: its own price, calls and models. What each
-- day's runs did is stored per day (priced_day_models, priced_day_cells): the look-back's runs
-- are not read again.
-- Per run, from its cells:
--   usual_*_cost           its tokens at the usual prices (a routine fallback does not move it)
--   routine_price_cost     its tokens at the usual price of each model it used: a routine
--                          model's own (a fallback costs what it usually costs), the cell's
--                          for a model the cell does not use
--   canonical_*_cost       its usual-price cost per call in each cell, times the cell's usual
--                          calls: its cost level whatever retries, tool rounds or loops it had
--   routine_calls_cost     its usual-price cost with each cell's calls capped at the routine
--                          most: what its calls explain
WITH
run_calls AS
(
    {{ run_calls("created_at >= {start:DateTime} AND created_at < {end:DateTime}") }}
),
daily_models AS
(
    -- What each (cascade, cell, model) answered each day of the look-back and the range
    -- (priced_day_models.sql, kept up to date before this runs).
    SELECT day, cascade_id, cell_name, model, model_runs, sum_weighted, sum_cost, sum_in_in,
           sum_in_out, sum_out_out, sum_in_cost, sum_out_cost
    FROM ${analytics}.priced_day_models
    WHERE day >= toDate({start:DateTime}) - {lookback_days:UInt16} AND day < toDate({end:DateTime})
),
daily_cells AS
(
    -- Each (cascade, cell) each day: its runs, and how many of them made how many calls
    -- (priced_day_cells.sql).
    SELECT day, cascade_id, cell_name, run_cell_calls, runs
    FROM ${analytics}.priced_day_cells
    WHERE day >= toDate({start:DateTime}) - {lookback_days:UInt16} AND day < toDate({end:DateTime})
),
scored_days AS
(
    SELECT DISTINCT day FROM run_calls
),
cell_models AS
(
    -- The days before each scored day, within the look-back, summed.
    SELECT
        d.day AS scored_day,
        m.cascade_id AS cascade_id,
        m.cell_name AS cell_name,
        m.model AS model,
        sum(m.model_runs) AS model_runs,
        {%- for name in sums %}
        {{ exact_sum("m." ~ name) }} AS {{ name }},
        {%- endfor %}
        {{ token_prices("") }} AS model_prices
    FROM daily_models AS m
    CROSS JOIN scored_days AS d
    WHERE m.day < d.day AND m.day >= d.day - {lookback_days:UInt16}
    GROUP BY scored_day, cascade_id, cell_name, model
),
cells AS
(
    -- Per scored day and cell: its runs, usual calls, routine most calls and usual price.
    SELECT
        c.scored_day AS scored_day,
        c.cascade_id AS cascade_id,
        c.cell_name AS cell_name,
        c.cell_runs AS cell_runs,
        c.usual_calls AS usual_calls,
        c.routine_calls AS routine_calls,
        m.usual_prices AS usual_prices
    FROM
    (
        SELECT
            d.day AS scored_day,
            c.cascade_id AS cascade_id,
            c.cell_name AS cell_name,
            sum(c.runs) AS cell_runs,
            quantileExactWeighted(0.5)(c.run_cell_calls, c.runs) AS usual_calls,
            quantileExactWeighted({routine_calls_quantile:Float64})(c.run_cell_calls, c.runs)
                AS routine_calls
        FROM daily_cells AS c
        CROSS JOIN scored_days AS d
        WHERE c.day < d.day AND c.day >= d.day - {lookback_days:UInt16}
        GROUP BY scored_day, cascade_id, cell_name
    ) AS c
    INNER JOIN
    (
        SELECT
            scored_day,
            cascade_id,
            cell_name,
            {%- for name in sums %}
            {{ exact_sum("if(is_main, " ~ name ~ ", 0)") }} AS main_{{ name }},
            {%- endfor %}
            {{ token_prices("main_") }} AS usual_prices
        FROM
        (
            SELECT
                *,
                model_runs >= {main_model_share:Float64} * max(model_runs)
                    OVER (PARTITION BY scored_day, cascade_id, cell_name) AS is_main
            FROM cell_models
        )
        GROUP BY scored_day, cascade_id, cell_name
        HAVING main_sum_weighted > 0
    ) AS m
        ON m.scored_day = c.scored_day AND m.cascade_id = c.cascade_id
           AND m.cell_name = c.cell_name
),
priced_calls AS
(
    SELECT
        c.session_id AS session_id,
        c.cell_name AS cell_name,
        c.model AS model,
        c.calls AS calls,
        c.cost AS cost,
        c.tokens_in + {output_weight:Float64} * c.tokens_out AS weighted_tokens,
        -- A cell with no earlier calls is priced at what its calls cost.
        ifNull(r.usual_prices, if(weighted_tokens > 0,
            (c.cost / weighted_tokens, {output_weight:Float64} * c.cost / weighted_tokens),
            (0., 0.))) AS prices,
        c.tokens_in * prices.1 AS usual_input_cost,
        c.tokens_out * prices.2 AS usual_output_cost,
        -- A model no earlier run of an established cell used is not routine there.
        r.cell_name IS NULL
            OR ifNull(m.model_runs, 0) >= greatest(1, {routine_share:Float64} * r.cell_runs)
            AS is_routine,
        -- What the call would cost at the model's usual price in the cell (a routine model),
        -- or at the cell's (a model the cell does not use); a new cell: what it cost.
        if(is_routine AND ifNull(m.sum_weighted, 0) > 0,
           c.tokens_in * m.model_prices.1 + c.tokens_out * m.model_prices.2,
           usual_input_cost + usual_output_cost) AS expected_price_cost,
        r.usual_calls AS usual_calls,
        r.routine_calls AS routine_calls
    FROM run_calls AS c
    LEFT JOIN cells AS r
        ON r.scored_day = c.day AND r.cascade_id = c.cascade_id AND r.cell_name = c.cell_name
    LEFT JOIN cell_models AS m
        ON m.scored_day = c.day AND m.cascade_id = c.cascade_id
           AND m.cell_name = c.cell_name AND m.model = c.model
    SETTINGS join_use_nulls = 1
),
run_cells AS
(
    SELECT
        session_id,
        cell_name,
        sum(calls) AS cell_calls,
        {{ exact_sum("usual_input_cost") }} AS cell_usual_input_cost,
        {{ exact_sum("usual_output_cost") }} AS cell_usual_output_cost,
        {{ exact_sum("expected_price_cost") }} AS cell_routine_price_cost,
        groupUniqArrayIf(model, NOT is_routine) AS cell_unusual_models,
        ifNull(any(usual_calls), cell_calls) AS cell_usual_calls,
        ifNull(any(routine_calls), cell_calls) AS cell_routine_calls
    FROM priced_calls
    GROUP BY session_id, cell_name
),
run_prices AS
(
    SELECT
        session_id,
        {{ exact_sum("cell_usual_input_cost") }} AS run_usual_input_cost,
        {{ exact_sum("cell_usual_output_cost") }} AS run_usual_output_cost,
        {{ exact_sum("cell_routine_price_cost") }} AS run_routine_price_cost,
        arraySort(groupUniqArrayArray(cell_unusual_models)) AS run_unusual_models,
        sum(cell_calls) AS run_calls,
        sum(cell_usual_calls) AS run_usual_calls,
        {{ exact_sum("cell_usual_input_cost / cell_calls * cell_usual_calls") }}
            AS run_canonical_input_cost,
        {{ exact_sum("cell_usual_output_cost / cell_calls * cell_usual_calls") }}
            AS run_canonical_output_cost,
        {{ exact_sum("(cell_usual_input_cost + cell_usual_output_cost) / cell_calls"
                     " * least(cell_calls, greatest(cell_routine_calls, cell_usual_calls))") }}
            AS run_routine_calls_cost
    FROM run_cells
    WHERE cell_calls > 0
    GROUP BY session_id
)
SELECT
    f.session_id AS session_id,
    f.cascade_id AS cascade_id,
    f.created_at AS created_at,
    ifNull(r.run_usual_input_cost, 0) AS usual_input_cost,
    ifNull(r.run_usual_output_cost, 0) AS usual_output_cost,
    usual_input_cost + usual_output_cost AS usual_price_cost,
    ifNull(r.run_routine_price_cost, 0) AS routine_price_cost,
    ifNull(r.run_unusual_models, []) AS unusual_models,
    toUInt32(ifNull(r.run_usual_calls, 0)) AS usual_calls,
    ifNull(r.run_canonical_input_cost, 0) AS canonical_input_cost,
    ifNull(r.run_canonical_output_cost, 0) AS canonical_output_cost,
    ifNull(r.run_routine_calls_cost, 0) AS routine_calls_cost
FROM ${analytics}.session_facts AS f
LEFT JOIN run_prices AS r ON r.session_id = f.session_id
WHERE f.created_at >= {start:DateTime} AND f.created_at < {end:DateTime}
SETTINGS join_use_nulls = 1
