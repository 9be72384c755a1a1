{#- Significant regressions of each run's prompt species, for the runs of [{start}, {end}).

A Jinja template (the per-metric test is a macro), run with bound parameters. For each run:
its species' up to {species_runs} latest earlier runs within {lookback_days} days, leaving out
runs anomaly_scores flagged (one spike is not a regression), then the run itself (unless it
is flagged). On that series, for each metric (cost at usual prices and calls, which neither
a routine fallback nor a retry moves; duration) and each recent window of the last k runs
(k = 5, 10, 20, 40, 80; with at least {min_earlier_runs} runs before it), a one-sided Mann-Whitney test of the window against the runs before it
(normal approximation). The p-value is the smallest, times the number of tests (Bonferroni).
A run is a significant regression when p < {alpha}, the series holds at least
2 x {min_prior_runs} runs, and for that metric some window at least {min_shifted_runs} long
is significant at {alpha} with a median at least the design's +20% cost (+30% duration)
above the earlier runs'. Unlike "last 10 against the 10 before", a rise stays flagged while
the look-back still holds runs from before it.
-#}
{#- (metric, its position in a series run, effect floor); actual cost adds a test but no
    power: its fallbacks are noise the usual-price cost does not have. -#}
{%- set metrics = [("usual_cost", 3, 0.2), ("duration", 4, 0.3)] -%}
{%- set windows = [5, 10, 20, 40, 80] -%}
{%- macro window_test(metric, field, floor, k) -%}
    {#- (p-value, effect, k, metric, effect floor) of the last k runs of `series` against the
        runs before them; the effect is the ratio of their medians. -#}
    if(length(series) - {{ k }} < {min_earlier_runs:UInt32}, (1., 1., {{ k }}, '{{ metric }}', {{ floor }}),
       (0.5 * erfc(
            (arraySum(arraySlice({{ metric }}_ranks, -{{ k }})) - {{ k }} * ({{ k }} + 1) / 2
             - {{ k }} * (length(series) - {{ k }}) / 2)
            / sqrt({{ k }} * (length(series) - {{ k }}) * (length(series) + 1) / 12) / sqrt(2)),
        exp(arrayReduce('quantileExactInclusive(0.5)',
                        arrayMap(r -> r.{{ field }}, arraySlice(series, -{{ k }})))
            - arrayReduce('quantileExactInclusive(0.5)',
                          arrayMap(r -> r.{{ field }},
                                   arraySlice(series, 1, length(series) - {{ k }})))),
        {{ k }}, '{{ metric }}', {{ floor }}))
{%- endmacro -%}
WITH
species_runs AS
(
    SELECT
        h.session_id AS session_id,
        h.species_hash_primary AS species_hash_primary,
        h.created_at AS created_at,
        a.is_cost_anomaly AS is_cost_anomaly,
        -- (created_at, session_id, log usual cost, log duration)
        (h.created_at, h.session_id,
         log(p.canonical_input_cost + p.canonical_output_cost + {cost_epsilon:Float64}),
         log1p(h.total_duration_ms)) AS run
    FROM history AS h
    INNER JOIN
    (
        SELECT session_id, canonical_input_cost, canonical_output_cost
        FROM ${analytics}.priced_runs
        WHERE created_at >= {start:DateTime} - toIntervalDay({lookback_days:UInt16})
          AND created_at < {end:DateTime}
    ) AS p ON p.session_id = h.session_id
    INNER JOIN
    (
        SELECT session_id, is_cost_anomaly
        FROM ${analytics}.anomaly_scores
        WHERE created_at >= {start:DateTime} - toIntervalDay({lookback_days:UInt16})
          AND created_at < {end:DateTime}
    ) AS a ON a.session_id = h.session_id
    WHERE h.created_at >= {start:DateTime} - toIntervalDay({lookback_days:UInt16})
      AND h.species_hash_primary IS NOT NULL
),
windows AS
(
    -- Per species: each scored run with the up to {species_runs} runs before it, sorted once
    -- and cut into sliding windows (arrayShingles); only scored runs get a window.
    SELECT
        window[{species_runs:UInt32} + 1] AS scored,
        arrayMap(r -> r.2,
                 arrayFilter(r -> r.2.2 != ''
                                  AND r.2.1 >= scored.2.1 - toIntervalDay({lookback_days:UInt16})
                                  AND NOT r.1,
                             arraySlice(window, 1, {species_runs:UInt32}))) AS earlier,
        arrayConcat(earlier, if(scored.1, [], [scored.2])) AS series
    FROM
    (
        SELECT
            arraySort(r -> (r.2.1, r.2.2), groupArray((is_cost_anomaly, run))) AS sorted,
            arrayFirstIndex(r -> r.2.1 >= {start:DateTime}, sorted) AS first_scored,
            arrayShingles(
                arrayConcat(
                    arrayWithConstant({species_runs:UInt32},
                                      (false, (toDateTime(0), '', 0., 0.))),
                    arraySlice(sorted, greatest(1, first_scored - {species_runs:UInt32}))),
                {species_runs:UInt32} + 1) AS shingles
        FROM species_runs
        GROUP BY species_hash_primary
        HAVING first_scored > 0
    )
    ARRAY JOIN shingles AS window
    WHERE window[{species_runs:UInt32} + 1].2.1 >= {start:DateTime}
),
tests AS
(
    SELECT
        scored.2.2 AS session_id,
        toUInt32(length(series)) AS species_runs_tested,
        {%- for metric, field, floor in metrics %}
        -- Ranks of the series by {{ metric }}: position i holds the rank of run i.
        arraySort((i, r) -> r.{{ field }}, arrayEnumerate(series), series) AS {{ metric }}_order,
        arraySort((rank, i) -> i, arrayEnumerate({{ metric }}_order), {{ metric }}_order)
            AS {{ metric }}_ranks,
        {%- endfor %}
        -- (p, effect, k, metric, effect floor) of every window test.
        [
        {%- for metric, field, floor in metrics %}
            {%- for k in windows %}
            {{ window_test(metric, field, floor, k) }}{{ "," if not loop.last }}
            {%- endfor %}{{ "," if not loop.last }}
        {%- endfor %}
        ] AS window_tests
    FROM windows
)
SELECT
    session_id,
    species_runs_tested,
    species_runs_tested >= 2 * {min_prior_runs:UInt32} AS enough_history,
    length(window_tests) AS test_count,
    if(enough_history, least(1., test_count * arrayMin(t -> t.1, window_tests)), NULL)
        AS regression_p_value,
    arrayFilter(t -> t.3 >= {min_shifted_runs:UInt32} AND test_count * t.1 < {alpha:Float64}
                     AND t.2 >= 1 + t.5, window_tests) AS significant_windows,
    enough_history AND notEmpty(significant_windows) AS is_regression_significant,
    -- The most significant window (the longer on a tie) says what rose, since when, how much.
    arraySort(t -> (t.1, -t.3), significant_windows)[1] AS strongest,
    if(is_regression_significant, strongest.4, '') AS regression_metric,
    toUInt32(if(is_regression_significant, strongest.3, 0)) AS regression_runs_since_change,
    if(is_regression_significant, strongest.2, 0) AS regression_effect
FROM tests
-- Every run carries a series of up to {species_runs} earlier runs through this query: small
-- blocks keep that within memory whatever the number of runs scored.
SETTINGS max_block_size = 4096
