{#- What each run of [{start}, {end}) is expected to cost, for the recommended detection.

A Jinja template (its repeated fragments are macros), run with bound parameters. Each run is
compared with runs that started before it within {lookback_days} days, in this order of
"inputs like this one", the first with enough runs:
  input    the same input (at least {min_prior_runs} runs)
  cluster  the design's cluster (cascade x input category), inputs within a factor of two
           in size (at least {min_prior_runs} runs)
  cascade  the cascade's inputs within a factor of two in size (at least {min_cascade_runs})
The comparison runs are the latest {baseline_runs} of the look-back's earlier days, so a
day's expectation is the same whether it is analysed alone or in a range. A key without
enough of them (a new cascade, the first day of the history) is compared with its earlier
runs of the same day instead, and on a cascade's first day with the cascade's.
Over the baseline: quantiles of the log of each run's canonical cost (priced_runs.sql: at
usual prices and usual calls, so neither a routine fallback nor a retry widens them), of its
canonical input and output cost and of its log duration, and medians of its tokens per call,
against which a run's excess is attributed.

Expressions are materialized where they are read more than once: ClickHouse evaluates an
expression again at each reference otherwise, and these sort arrays.
-#}
{#- A run in a window: (created_at, session_id, day, log canonical cost, log canonical input
    cost, log canonical output cost, tokens in per call, tokens out per call, log duration). -#}
{%- macro window_statistics(window, first=4) -%}
    {#- Of the runs' fields from position `first` on (log canonical cost ...), in any order:
        exact quantiles depend on the values only. -#}
    length({{ window }}),
    arrayReduce('quantilesExactInclusive(0.25, 0.5, 0.75, 0.95)', {{ window }}.{{ first }}),
    arrayReduce('quantilesExactInclusive(0.25, 0.5, 0.75, 0.95)', {{ window }}.{{ first + 1 }}),
    arrayReduce('quantilesExactInclusive(0.25, 0.5, 0.75, 0.95)', {{ window }}.{{ first + 2 }}),
    arrayReduce('quantileExactInclusive(0.5)', {{ window }}.{{ first + 3 }}),
    arrayReduce('quantileExactInclusive(0.5)', {{ window }}.{{ first + 4 }}),
    arrayReduce('quantilesExactInclusive(0.25, 0.5, 0.75, 0.95)', {{ window }}.{{ first + 5 }})
{%- endmacro -%}
{%- set statistics = ["runs", "log_canonical_cost_quantiles",
                      "log_canonical_input_cost_quantiles",
                      "log_canonical_output_cost_quantiles", "tokens_in_per_call",
                      "tokens_out_per_call", "log_duration_quantiles"] -%}
{%- macro window_start() -%}
    {#- The first of the latest {baseline_runs} runs before scored_day, within the look-back. -#}
    greatest(arrayFirstIndex(d -> d >= scored_day - {lookback_days:UInt16}, key_runs.3),
             indexOf(key_runs.3, scored_day) - {baseline_runs:UInt32})
{%- endmacro -%}
{%- macro named_statistics(statistics_tuple, first_index) -%}
    {%- for name in statistics %}
    {{ statistics_tuple }}.{{ first_index + loop.index0 }} AS {{ name }}{{ "," if not loop.last }}
    {%- endfor %}
{%- endmacro -%}
{%- macro robust_sigma(quartiles_and_p95, runs) -%}
    {#- The larger of the core spread (interquartile range) and the tail's (95th percentile),
        each as the sigma of normal data: heavy tails widen the scale. -#}
    greatest(({{ quartiles_and_p95 }}[3] - {{ quartiles_and_p95 }}[1]) / 1.349,
             if({{ runs }} >= {tail_min_runs:UInt32},
                ({{ quartiles_and_p95 }}[4] - {{ quartiles_and_p95 }}[2]) / 1.645, 0))
{%- endmacro -%}
{%- macro level_keys(run) -%}
    [('input', concat('i', toString({{ run }}.input_hash))),
     ('cluster', concat('c', {{ run }}.input_category, '/', toString({{ run }}.size_octave))),
     ('cascade', concat('s', toString({{ run }}.size_octave))),
     ('whole', 'a')]
{%- endmacro -%}
WITH
runs AS MATERIALIZED
(
    SELECT
        h.session_id AS session_id,
        h.cascade_id AS cascade_id,
        h.created_at AS created_at,
        toDate(h.created_at) AS day,
        h.input_hash AS input_hash,
        h.input_category AS input_category,
        toUInt8(floor(log2(h.estimated_tokens + 1))) AS size_octave,
        (h.created_at, h.session_id, day,
         log(p.canonical_input_cost + p.canonical_output_cost + {cost_epsilon:Float64}),
         log(p.canonical_input_cost + {cost_epsilon:Float64}),
         log(p.canonical_output_cost + {cost_epsilon:Float64}),
         h.total_tokens_in / greatest(h.llm_calls, 1),
         h.total_tokens_out / greatest(h.llm_calls, 1),
         log1p(h.total_duration_ms)) AS run
    FROM history AS h
    INNER JOIN
    (
        SELECT session_id, canonical_input_cost, canonical_output_cost
        FROM ${analytics}.priced_runs
        WHERE created_at >= {start:DateTime} - toIntervalDay({lookback_days:UInt16})
          AND created_at < {end:DateTime}
    ) AS p ON p.session_id = h.session_id
    WHERE h.created_at >= {start:DateTime} - toIntervalDay({lookback_days:UInt16})
),
scored AS
(
    SELECT * FROM runs WHERE created_at >= {start:DateTime}
),
earlier_days_in_windows AS MATERIALIZED
(
    -- Per key, the days before the range whose runs can be in one of its windows: the
    -- latest days that hold its latest {baseline_runs} runs before {start}. A window is the
    -- latest {baseline_runs} runs of a scored day's earlier days, so the runs it takes from
    -- before the range are the latest of those; an older run is in no window, and leaving
    -- it out of the key's runs leaves every window as it is (a new day on a long look-back
    -- sorts a few hundred runs per key instead of all of them).
    SELECT cascade_id, level, key, day
    FROM
    (
        SELECT
            cascade_id,
            level,
            key,
            day,
            sum(day_runs) OVER (PARTITION BY cascade_id, level, key ORDER BY day DESC
                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS later_runs
        FROM
        (
            -- Counted per input and size first: a run is in four keys, an input's runs of a
            -- day in the same four.
            SELECT cascade_id, level_key.1 AS level, level_key.2 AS key, day,
                   sum(input_runs) AS day_runs
            FROM
            (
                SELECT cascade_id, input_hash, input_category, size_octave, day,
                       count() AS input_runs
                FROM runs
                WHERE day < toDate({start:DateTime})
                GROUP BY cascade_id, input_hash, input_category, size_octave, day
            ) AS input_days
            ARRAY JOIN {{ level_keys("input_days") }} AS level_key
            GROUP BY cascade_id, level, key, day
        )
    )
    WHERE later_runs < {baseline_runs:UInt32}
),
by_key AS
(
    -- Per key with runs to score: its runs of the range and those of the look-back that can
    -- be in its windows, in time order. Read once, so not MATERIALIZED, and aggregated in
    -- two levels: its keys stream into by_earlier_days' statistics as buckets, on every
    -- thread (stored, they were one block, which one thread mapped: 2.0 -> 1.2 s at 40k).
    SELECT
        cascade_id,
        level_key.1 AS level,
        level_key.2 AS key,
        arraySort(groupArray(run)) AS key_runs
    FROM runs
    ARRAY JOIN {{ level_keys("runs") }} AS level_key
    WHERE day >= toDate({start:DateTime})
       OR (cascade_id, level, key, day) IN (SELECT * FROM earlier_days_in_windows)
    GROUP BY cascade_id, level, key
    HAVING max(day) >= toDate({start:DateTime})
    SETTINGS group_by_two_level_threshold = 1
),
by_earlier_days AS MATERIALIZED
(
    -- Per key and scored day: the statistics of the latest {baseline_runs} runs of the
    -- earlier days. One row per key maps over its days, so the key's runs are never copied
    -- per day (a cascade's are many).
    SELECT
        cascade_id,
        level,
        key,
        day_baseline.1 AS scored_day,
        {{- named_statistics("day_baseline.2", 1) }}
    FROM by_key
    ARRAY JOIN arrayMap(
        scored_day -> (
            scored_day,
            arrayMap(window -> ({{ window_statistics("window") }}),
                     [arraySlice(key_runs, {{ window_start() }},
                                 indexOf(key_runs.3, scored_day) - {{ window_start() }})])[1]),
        arrayDistinct(arrayFilter(d -> d >= toDate({start:DateTime}), key_runs.3))
    ) AS day_baseline
),
candidates AS MATERIALIZED
(
    -- Each scored run with each level it could be compared at, and whether that baseline
    -- has enough runs (its statistics are read only for the level chosen).
    SELECT
        s.session_id AS session_id,
        b.level AS level,
        indexOf(['input', 'cluster', 'cascade', 'whole'], level) AS level_order,
        b.runs AS runs,
        b.level = 'input' AND b.runs >= {min_prior_runs:UInt32}
            OR b.level = 'cluster' AND b.runs >= {min_prior_runs:UInt32}
            OR b.level = 'cascade' AND b.runs >= {min_cascade_runs:UInt32} AS enough
    FROM scored AS s
    ARRAY JOIN {{ level_keys("s") }} AS level_key
    INNER JOIN by_earlier_days AS b
        ON b.scored_day = s.day AND b.cascade_id = s.cascade_id AND b.level = level_key.1
           AND b.key = level_key.2
),
earlier_levels AS MATERIALIZED
(
    -- Per scored run with baselines over earlier days: whether one has enough runs, the
    -- first that has (in level_keys' order), and whether the run has earlier runs at all.
    SELECT
        session_id,
        max(enough) AS has_enough,
        minIf(level_order, enough) AS chosen_order,
        max(level = 'whole' AND runs > 0) AS has_history
    FROM candidates
    GROUP BY session_id
),
from_earlier_days AS
(
    -- The statistics of the level chosen, for the runs with one.
    SELECT
        s.session_id AS session_id,
        tuple(b.level, {% for name in statistics %}b.{{ name }}{{ ", " if not loop.last }}{% endfor %}) AS baseline
    FROM
    (
        SELECT
            s.session_id AS session_id,
            s.cascade_id AS cascade_id,
            s.day AS day,
            {{ level_keys("s") }}[e.chosen_order] AS level_key
        FROM scored AS s
        INNER JOIN earlier_levels AS e ON e.session_id = s.session_id
        WHERE e.has_enough
    ) AS s
    INNER JOIN by_earlier_days AS b
        ON b.scored_day = s.day AND b.cascade_id = s.cascade_id AND b.level = s.level_key.1
           AND b.key = s.level_key.2
),
needs_same_day AS MATERIALIZED
(
    -- Runs with no such baseline (a new cascade or input size, the history's first day),
    -- with the levels they may be compared at on their day: their input, else their cascade
    -- and size, else, in a cascade's first day only, their cascade (better a thin comparison
    -- than none; an older cascade's first input of a new size is not compared with smaller
    -- ones).
    SELECT session_id, cascade_id, day, level_key
    FROM
    (
        -- A run without candidates is not in earlier_levels: the join's defaults (false) say
        -- it has no level with enough runs and no earlier runs.
        SELECT
            s.session_id AS session_id,
            s.cascade_id AS cascade_id,
            s.day AS day,
            NOT e.has_history AS is_new,
            {{ level_keys("s") }} AS level_keys
        FROM scored AS s
        LEFT JOIN earlier_levels AS e ON e.session_id = s.session_id
        WHERE NOT e.has_enough
    )
    ARRAY JOIN arrayFilter(k -> k.1 IN ('input', 'cascade') OR k.1 = 'whole' AND is_new,
                           level_keys) AS level_key
),
same_day AS
(
    -- Those runs against the latest {baseline_runs} earlier runs of their day at that level
    -- (a frame of a window: a day of a large cascade is never copied per run).
    SELECT
        session_id,
        10 + indexOf(['input', 'cluster', 'cascade', 'whole'], level) AS level_order,
        ({{ window_statistics("window", first=1) }}) AS window_baseline,
        {{- named_statistics("window_baseline", 1) }}
    FROM
    (
        SELECT
            session_id,
            level_key.1 AS level,
            -- The runs' statistics fields only, unsorted: they are all the statistics read.
            groupArrayLast({baseline_runs:UInt32})((run.4, run.5, run.6, run.7, run.8, run.9))
                OVER (PARTITION BY cascade_id, day, level_key
                      ORDER BY created_at, session_id
                      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS window
        FROM scored
        ARRAY JOIN {{ level_keys("scored") }} AS level_key
        WHERE (cascade_id, day, level_key) IN
            (SELECT cascade_id, day, level_key FROM needs_same_day)
    )
    WHERE (session_id, level) IN (SELECT session_id, level_key.1 FROM needs_same_day)
),
chosen AS
(
    -- A run's earlier-days baseline, else its first same-day level with enough runs (none:
    -- the type's defaults, as for a run without either).
    SELECT session_id, baseline FROM from_earlier_days
    UNION ALL
    SELECT session_id, argMinIf(baseline, level_order, enough) AS baseline
    FROM
    (
        SELECT
            session_id,
            level_order,
            level_order = 11 AND runs >= {min_prior_runs:UInt32}
                OR level_order IN (13, 14) AND runs >= {min_cascade_runs:UInt32} AS enough,
            tuple(if(level_order = 11, 'input', 'cascade'),
                  {{ statistics | join(", ") }}) AS baseline
        FROM same_day
    )
    GROUP BY session_id
)
SELECT
    s.session_id AS session_id,
    c.baseline.1 AS robust_baseline,
    toUInt32(c.baseline.2) AS robust_baseline_runs,
    c.baseline.3[2] AS expected_log_canonical_cost,
    {{ robust_sigma("c.baseline.3", "c.baseline.2") }} AS log_canonical_cost_sigma,
    exp(c.baseline.4[2]) AS expected_canonical_input_cost,
    {{ robust_sigma("c.baseline.4", "c.baseline.2") }} AS log_canonical_input_cost_sigma,
    exp(c.baseline.5[2]) AS expected_canonical_output_cost,
    {{ robust_sigma("c.baseline.5", "c.baseline.2") }} AS log_canonical_output_cost_sigma,
    c.baseline.6 AS expected_tokens_in_per_call,
    c.baseline.7 AS expected_tokens_out_per_call,
    c.baseline.8[2] AS expected_log_duration,
    {{ robust_sigma("c.baseline.8", "c.baseline.2") }} AS log_duration_sigma
FROM scored AS s
LEFT JOIN chosen AS c ON c.session_id = s.session_id
-- Without it ClickHouse ignores MATERIALIZED and runs such a CTE again at every reference.
SETTINGS enable_materialized_cte = 1
