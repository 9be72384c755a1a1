{#- Significant regressions of each run's prompt species, for the runs of [{start}, {end}).

A Jinja template (the per-metric test is a macro), run with bound parameters. For each run:
its species' up to {species_runs} latest earlier runs within {lookback_days} days, leaving out
runs anomaly_scores flagged (one spike is not a regression), then the run itself (unless it
is flagged). On that series, for each metric (cost; cost at usual prices and calls, which
neither a routine fallback nor a retry moves; duration) and each recent window of the last k
runs (k = 5, 10, 20, 40, 80; with at least {min_earlier_runs} runs before it), a one-sided
Mann-Whitney test of the window against the runs before it (normal approximation, over
mid-ranks with the tie correction: runs of equal cost are common, one template on one input).
The p-value is the smallest, times the number of tests (Bonferroni). A run is a significant
regression when p < {alpha}, the series holds at least 2 x {min_prior_runs} runs, and for that
metric some window at least {min_shifted_runs} long is significant at {alpha} with a geometric
mean at least the design's +20% cost (+30% duration) above the earlier runs'. Unlike "last 10
against the 10 before", a rise stays flagged while the look-back still holds runs from before
it.
-#}
{#- (metric, its position in a series run, effect floor): the usual-price cost is the
    sensitive one (a routine fallback is noise to actual cost); actual cost is there for a
    rise of prices, which the usual-price cost does not see. -#}
{%- set metrics = [("cost", 2, 0.2), ("usual_cost", 3, 0.2), ("duration", 4, 0.3)] -%}
{%- set windows = [5, 10, 20, 40, 80] -%}
{%- macro window_tests(metric, floor) -%}
    {#- (p-value, effect, k, metric, effect floor) of the last k runs of `series` against the
        runs before them, for each window k, from the metric's running sums of mid-ranks and
        of values, and its ties; the effect is the ratio of their geometric means (the
        anomalies a mean would be sensitive to are left out of the series). Too few earlier
        runs, or every run equal: p = 1. One lambda over the windows: ClickHouse evaluates an
        expression holding a lambda (the ranks) again wherever it is referenced, but once for
        a lambda that captures it. -#}
    arrayMap(k -> (
        if(runs - k < {min_earlier_runs:UInt32}
               OR {{ metric }}_ties = runs * (runs * runs - 1), 1.,
           0.5 * erfc((runs * (runs + 1) / 2 - {{ metric }}_rank_sums[runs - k]
                       - k * (k + 1) / 2 - k * (runs - k) / 2)
                      / sqrt(k * (runs - k) / 12
                             * (runs + 1 - {{ metric }}_ties / (runs * (runs - 1))))
                      / sqrt(2))),
        exp(({{ metric }}_sums[runs] - {{ metric }}_sums[runs - k]) / k
            - {{ metric }}_sums[runs - k] / (runs - k)),
        k, '{{ metric }}', {{ floor }}), [{{ windows | join(", ") }}])
{%- endmacro -%}
WITH
species_runs AS
(
    SELECT
        h.session_id AS session_id,
        h.species_hash_primary AS species_hash_primary,
        h.created_at AS created_at,
        a.is_cost_anomaly AS is_cost_anomaly,
        -- (created_at, log cost, log usual cost, log duration)
        (h.created_at, log(h.total_cost + {cost_epsilon:Float64}),
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
    -- and cut into sliding windows (arrayShingles); only scored runs get a window. A window
    -- holds (anomaly, left out, run): no session ids, which would be copied into every
    -- window; the scored runs' ids come beside the windows.
    SELECT
        session_id,
        window[{species_runs:UInt32} + 1] AS scored,
        arrayMap(r -> r.3,
                 arrayFilter(r -> NOT r.2
                                  AND r.3.1 >= scored.3.1 - toIntervalDay({lookback_days:UInt16})
                                  AND NOT r.1,
                             arraySlice(window, 1, {species_runs:UInt32}))) AS earlier,
        arrayConcat(earlier, if(scored.1, [], [scored.3])) AS series
    FROM
    (
        SELECT
            arraySort(r -> (r.2.1, r.3), groupArray((is_cost_anomaly, run, session_id)))
                AS sorted,
            arrayFirstIndex(r -> r.2.1 >= {start:DateTime}, sorted) AS first_scored,
            arraySlice(sorted, greatest(1, first_scored - {species_runs:UInt32})) AS tail,
            -- A run without a session id is never an earlier run, nor is the padding.
            arrayShingles(
                arrayConcat(
                    arrayWithConstant({species_runs:UInt32},
                                      (false, true, (toDateTime(0), 0., 0., 0.))),
                    arrayMap(r -> (r.1, r.3 = '', r.2), tail)),
                {species_runs:UInt32} + 1) AS shingles,
            arrayMap(r -> r.3, tail) AS tail_sessions
        FROM species_runs
        GROUP BY species_hash_primary
        -- A species with fewer runs than a test needs, all told, has no run to test.
        HAVING first_scored > 0 AND count() >= 2 * {min_prior_runs:UInt32}
    )
    ARRAY JOIN shingles AS window, tail_sessions AS session_id
    WHERE window[{species_runs:UInt32} + 1].3.1 >= {start:DateTime}
),
ranked AS
(
    -- Each metric's values, their running sums, and (value, position) of each run sorted by
    -- value. Three levels (ranked, tied, tests), so that each array is computed once:
    -- ClickHouse evaluates an alias holding a lambda again at each reference within one
    -- SELECT.
    SELECT
        session_id,
        length(series) AS runs,
        {%- for metric, field, floor in metrics %}
        series.{{ field }} AS {{ metric }}_values,
        arrayCumSum({{ metric }}_values) AS {{ metric }}_sums,
        arraySort(run -> run.1, arrayZip({{ metric }}_values, arrayEnumerate(series)))
            AS {{ metric }}_by_value{{ "," if not loop.last }}
        {%- endfor %}
    FROM windows
),
tied AS
(
    -- Mid-ranks: runs of equal value share the mean of their ranks (ranked by position
    -- instead, the later runs of a constant metric ranked higher: a shift where there is
    -- none). Over the sorted values, the tie group of rank r spans ranks [first, last]: a
    -- value unlike its neighbour in a shifted copy starts (ends) a group, as the first
    -- (last) value does beside the NaN shifted in. Neighbours come from the copy, not by
    -- indexing the array within the lambda, which would copy the captured array once per
    -- element (quadratic in the series).
    SELECT
        *,
        {%- for metric, field, floor in metrics %}
        arrayFill((rank, x, previous) -> x != previous, arrayEnumerate({{ metric }}_by_value),
                  {{ metric }}_by_value.1, arrayShiftRight({{ metric }}_by_value.1, 1, nan))
            AS {{ metric }}_tie_first,
        arrayReverseFill((rank, x, next) -> x != next, arrayEnumerate({{ metric }}_by_value),
                         {{ metric }}_by_value.1, arrayShiftLeft({{ metric }}_by_value.1, 1, nan))
            AS {{ metric }}_tie_last{{ "," if not loop.last }}
        {%- endfor %}
    FROM ranked
),
tests AS
(
    SELECT
        session_id,
        runs,
        -- 0 for a series too short to test, as for a species with too few runs to compute.
        toUInt32(if(runs >= 2 * {min_prior_runs:UInt32}, runs, 0)) AS species_runs_tested,
        {%- for metric, field, floor in metrics %}
        {{ metric }}_sums,
        -- Position i holds the sum of the mid-ranks of runs 1..i.
        arrayCumSum(arraySort((rank, i) -> i, ({{ metric }}_tie_first + {{ metric }}_tie_last) / 2,
                              {{ metric }}_by_value.2)) AS {{ metric }}_rank_sums,
        -- The ties' share of the rank variance: the sum of t^3 - t over tie groups of t runs
        -- (t^2 - 1 at each of a group's t ranks).
        arraySum((first, last) -> (last - first + 1) * (last - first + 1) - 1,
                 {{ metric }}_tie_first, {{ metric }}_tie_last) AS {{ metric }}_ties,
        {%- endfor %}
        arrayConcat(
        {%- for metric, field, floor in metrics %}
            {{ window_tests(metric, floor) }}{{ "," if not loop.last }}
        {%- endfor %}
        ) AS window_tests
    FROM tied
)
SELECT
    session_id,
    species_runs_tested,
    species_runs_tested > 0 AS enough_history,
    if(enough_history, outcome.1, NULL) AS regression_p_value,
    enough_history AND notEmpty(outcome.2) AS is_regression_significant,
    -- The strongest window says what rose, since when, and how much.
    if(is_regression_significant, outcome.2[1], (1., 1., 0, '', 0.)) AS strongest,
    strongest.4 AS regression_metric,
    toUInt32(strongest.3) AS regression_runs_since_change,
    if(is_regression_significant, strongest.2, 0) AS regression_effect
FROM tests
-- The smallest p-value (times the number of tests), and the significant windows with a large
-- enough effect, the most significant first (the longer on a tie). One lambda over the tests,
-- so that they are computed once; and an ARRAY JOIN of its one outcome, so that the columns
-- reading the outcome read a column: ClickHouse would compute an alias holding a lambda again
-- for each column that reads it, wherever the caller does not select the alias itself (as
-- the INSERT of the table's columns does not), 2.3x the CPU of the whole query.
ARRAY JOIN arrayMap(tests -> (
    least(1., length(tests) * arrayMin(t -> t.1, tests)),
    arraySort(t -> (t.1, -t.3), arrayFilter(
        t -> t.3 >= {min_shifted_runs:UInt32} AND length(tests) * t.1 < {alpha:Float64}
             AND t.2 >= 1 + t.5, tests))), [window_tests]) AS outcome
-- Every run carries a series of up to {species_runs} earlier runs through this query: small
-- blocks keep that within memory whatever the number of runs scored.
SETTINGS max_block_size = 4096
