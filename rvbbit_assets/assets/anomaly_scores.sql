{#- A Jinja template (rendered once, then run with bound parameters): the number formats of
    the explanation are macros. -#}
{%- macro times(ratio) -%}
    concat(if({{ ratio }} < 10, toDecimalString({{ ratio }}, 1), toString(round({{ ratio }}))), '×')
{%- endmacro -%}
{%- macro dollars(usd, signed=false) -%}
    concat({{ "if(" ~ usd ~ " < 0, '-', '+')," if signed else "" }} '$$',
           if(abs({{ usd }}) >= 0.1, toDecimalString(abs({{ usd }}), 2),
              toDecimalString(abs({{ usd }}), 4)))
{%- endmacro -%}
-- z = (value - cluster avg) / cluster stddev, 0 when the stddev is 0; outliers |z| > 2.
-- An error outlier (the design's) has errors while under 5% of its cascade's earlier runs had
-- any. A rate of 0 out of 3 runs says little, so it also needs
-- {error_outlier_min_prior_runs} earlier runs (RVBBIT_ERROR_OUTLIER_MIN_PRIOR_RUNS), kept in
-- the row beside the flag.
--
-- The recommended flags, beside the design's, from priced_runs.sql and robust_baselines.sql:
--   expected cost = the baseline's median canonical cost (usual prices, usual calls)
--                   x the run's routine calls (a retry is expected, a loop is not)
--                   x the run's routine price ratio: its models at their usual prices (a
--                     routine fallback is expected; a model the cell never uses, or a model
--                     billing far more per token than it usually does, is not)
--   whole_cost_z  = log(cost / expected) in robust sigmas of the baseline's log canonical
--                   cost, floored at {min_log_sigma} and widened by sqrt(1 + (pi/2) / n) for
--                   a median of n runs;
--   cost_robust_z = the larger of that and the z of any factor that alone doubles the cost
--                   (below); an anomaly above {threshold}.
-- log(cost / expected) is the sum of four factors, and the driver of a flagged run is the
-- largest: extra calls (beyond routine), input tokens, output tokens (canonical input and
-- output cost against the baseline's), and the price (of models its cells never use, or per
-- token above the models' usual: hidden reasoning tokens, a price change).
SELECT
    f.session_id AS session_id,
    f.cascade_id AS cascade_id,
    f.created_at AS created_at,
    if(b.cluster_stddev_cost = 0, 0,
       (f.total_cost - b.cluster_avg_cost) / b.cluster_stddev_cost) AS cost_z_score,
    if(b.cluster_stddev_duration = 0, 0,
       (f.total_duration_ms - b.cluster_avg_duration) / b.cluster_stddev_duration)
        AS duration_z_score,
    if(b.cluster_stddev_tokens = 0, 0,
       (toFloat64(f.total_tokens_in + f.total_tokens_out) - b.cluster_avg_tokens)
           / b.cluster_stddev_tokens) AS tokens_z_score,
    abs(cost_z_score) > 2 AS is_cost_outlier,
    abs(duration_z_score) > 2 AS is_duration_outlier,
    abs(tokens_z_score) > 2 AS is_tokens_outlier,
    f.error_count > 0
        AND b.global_run_count >= {error_outlier_min_prior_runs:UInt32}
        AND b.global_runs_with_errors < 0.05 * b.global_run_count AS is_error_outlier,
    {error_outlier_min_prior_runs:UInt32} AS error_outlier_min_prior_runs,
    if(f.message_count = 0, 0, f.total_cost / f.message_count) AS cost_per_message,
    if(f.total_tokens_out = 0, 0, f.total_cost / f.total_tokens_out) AS cost_per_output_token,
    if(f.message_count = 0, 0, f.total_duration_ms / f.message_count) AS duration_per_message,
    if(f.message_count = 0, 0, (f.total_tokens_in + f.total_tokens_out) / f.message_count)
        AS tokens_per_message,

    p.canonical_input_cost + p.canonical_output_cost AS canonical_cost,
    b.robust_baseline != '' AND f.total_cost > 0 AND canonical_cost > 0
        AND p.routine_calls_cost > 0 AND p.routine_price_cost > 0 AS is_scored,
    if(is_scored, exp(b.expected_log_canonical_cost) * p.routine_calls_cost / canonical_cost
                  * p.routine_price_cost / p.usual_price_cost, 0) AS expected_cost,
    sqrt(1 + pi() / 2 / greatest(b.robust_baseline_runs, 1)) AS small_sample_widening,
    if(is_scored, log(f.total_cost / expected_cost)
                  / (greatest(b.log_canonical_cost_sigma, {min_log_sigma:Float64})
                     * small_sample_widening), 0) AS whole_cost_z,
    if(b.robust_baseline != '', (log1p(f.total_duration_ms) - b.expected_log_duration)
                                / (greatest(b.log_duration_sigma, {min_log_sigma:Float64})
                                   * small_sample_widening), 0) AS duration_robust_z,
    b.expected_canonical_input_cost + b.expected_canonical_output_cost AS expected_canonical,
    -- log(cost with only this factor changed / expected), in the order of the names below.
    if(is_scored AND expected_canonical > 0,
       [log(p.usual_price_cost / p.routine_calls_cost),
        log((p.canonical_input_cost + b.expected_canonical_output_cost) / expected_canonical),
        log((b.expected_canonical_input_cost + p.canonical_output_cost) / expected_canonical),
        log(f.total_cost / p.routine_price_cost)],
       [0., 0., 0., 0.]) AS excess_by_factor,
    -- A factor that alone raises the cost {min_factor_ratio} times is also judged against its
    -- own noise,
    -- which is small where the cost is structural: calls beyond routine and a model the
    -- cells never use have none (the floor), input tokens vary as much as their share of
    -- cost times their spread. So a context blow-up stands out even where noisy answers
    -- dominate cost. Output tokens are that dominant noise; the whole cost judges them.
    arrayMap(x -> x * small_sample_widening,
             [{min_log_sigma:Float64},
              greatest(b.expected_canonical_input_cost / expected_canonical
                       * b.log_canonical_input_cost_sigma, {min_factor_sigma:Float64}),
              inf,
              {min_log_sigma:Float64}]) AS factor_sigma,
    arrayMap((excess, sigma) -> if(excess >= log({min_factor_ratio:Float64}), excess / sigma, 0),
             excess_by_factor, factor_sigma) AS factor_z,
    greatest(whole_cost_z, arrayMax(factor_z)) AS cost_robust_z,
    cost_robust_z > {threshold:Float64} AS is_cost_anomaly,
    duration_robust_z > {threshold:Float64} AS is_duration_anomaly,
    arrayFirstIndex(x -> x = arrayMax(excess_by_factor), excess_by_factor) AS driver_index,
    if(is_cost_anomaly,
       ['extra_calls', 'input_tokens', 'output_tokens', 'model_price'][driver_index], '')
        AS cost_anomaly_driver,
    greatest(f.llm_calls, 1) AS calls,
    -- The driver's value over its usual value: calls, tokens per call, or price.
    if(is_cost_anomaly,
       [f.llm_calls / greatest(p.usual_calls, 1),
        f.total_tokens_in / calls / greatest(b.expected_tokens_in_per_call, 1e-9),
        f.total_tokens_out / calls / greatest(b.expected_tokens_out_per_call, 1e-9),
        f.total_cost / p.routine_price_cost][driver_index], 0) AS cost_anomaly_driver_ratio,
    if(is_scored, f.total_cost - expected_cost, 0) AS cost_anomaly_impact_usd,
    -- What a person reads: "Cost 9.4× expected (+$$0.21): output tokens 11× usual".
    if(is_cost_anomaly,
       concat('Cost ', {{ times("f.total_cost / expected_cost") }}, ' expected (',
              {{ dollars("cost_anomaly_impact_usd", signed=true) }}, '): ',
              multiIf(cost_anomaly_driver = 'input_tokens', 'input tokens',
                      cost_anomaly_driver = 'output_tokens', 'output tokens',
                      cost_anomaly_driver = 'extra_calls', 'LLM calls',
                      empty(p.unusual_models), 'price per token',
                      concat('price of ', arrayStringConcat(p.unusual_models, ', '),
                             ', a model its cells do not use,')),
              ' ', {{ times("cost_anomaly_driver_ratio") }}, ' usual'),
       '') AS cost_anomaly_explanation,
    b.robust_baseline AS cost_anomaly_baseline,
    b.robust_baseline_runs AS cost_anomaly_baseline_runs,
    p.unusual_models AS unusual_models
FROM ${analytics}.session_facts AS f
INNER JOIN
(
    SELECT *
    FROM ${analytics}.baselines
    WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
) AS b ON b.session_id = f.session_id
INNER JOIN
(
    SELECT *
    FROM ${analytics}.priced_runs
    WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
) AS p ON p.session_id = f.session_id
WHERE f.created_at >= {start:DateTime} AND f.created_at < {end:DateTime}
