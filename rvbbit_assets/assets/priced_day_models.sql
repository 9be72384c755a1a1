{%- from "exact_sum.sql" import exact_sum -%}
{%- from "priced_macros.sql" import run_calls -%}
-- What each (cascade, cell, model) answered on each of the days {days}: in how many runs, at
-- what cost (priced_runs.sql sums them over each day's look-back).
SELECT
    day,
    cascade_id,
    cell_name,
    model,
    {output_weight:Float64} AS output_weight,
    count() AS model_runs,  -- llm_usage has one entry per (run, cell, model)
    {{ exact_sum("tokens_in + {output_weight:Float64} * tokens_out") }} AS sum_weighted,
    {{ exact_sum("cost") }} AS sum_cost,
    {{ exact_sum("tokens_in * tokens_in") }} AS sum_in_in,
    {{ exact_sum("tokens_in * tokens_out") }} AS sum_in_out,
    {{ exact_sum("tokens_out * tokens_out") }} AS sum_out_out,
    {{ exact_sum("tokens_in * cost") }} AS sum_in_cost,
    {{ exact_sum("tokens_out * cost") }} AS sum_out_cost
FROM ({{ run_calls("toDate(created_at) IN {days:Array(Date)}") }})
GROUP BY day, cascade_id, cell_name, model
