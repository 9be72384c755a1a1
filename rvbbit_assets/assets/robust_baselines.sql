{#- What each run of [{start}, {end}) is expected to cost, for the recommended detection.

A Jinja template (its repeated fragments are macros), run with bound parameters. Each run is
compared with runs that started before it within {lookback_days} days, in this order of
"inputs like this one", the first with enough runs:
  input    the same input (at least {min_prior_runs} runs)
  cluster  the design's cluster (cascade x input category), inputs within a factor of two
           in size (at least {min_prior_runs} runs)
  cascade  the cascade's inputs within a factor of two in size (at least {min_cascade_runs})
The comparison runs are those of the earlier days of the look-back, so a day's expectation
is the same whether it is analysed alone or in a range; a key without enough of them (a new
cascade, the first day of the history) is compared with its earlier runs of the same day
instead.
Over the baseline: quantiles of the log of each run's canonical cost (priced_runs.sql: at
usual prices and usual calls, so neither a routine fallback nor a retry widens them) and of
its log duration, and medians of its canonical input and output cost and tokens per call,
against which a run's excess is attributed.
-#}
{%- set statistics = [
    ("runs", "count()"),
    ("log_canonical_cost_quantiles",
     "quantilesExactInclusive(0.25, 0.5, 0.75, 0.95)(log_canonical_cost)"),
    ("log_canonical_input_cost_quantiles",
     "quantilesExactInclusive(0.25, 0.5, 0.75, 0.95)(log(canonical_input_cost + {cost_epsilon:Float64}))"),
    ("log_canonical_output_cost_quantiles",
     "quantilesExactInclusive(0.25, 0.5, 0.75, 0.95)(log(canonical_output_cost + {cost_epsilon:Float64}))"),
    ("tokens_in_per_call", "quantileExactInclusive(0.5)(tokens_in_per_call)"),
    ("tokens_out_per_call", "quantileExactInclusive(0.5)(tokens_out_per_call)"),
    ("log_duration_quantiles", "quantilesExactInclusive(0.25, 0.5, 0.75, 0.95)(log_duration)"),
] -%}
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
runs AS
(
    SELECT
        h.session_id AS session_id,
        h.cascade_id AS cascade_id,
        h.created_at AS created_at,
        toDate(h.created_at) AS day,
        h.input_hash AS input_hash,
        h.input_category AS input_category,
        toUInt8(floor(log2(h.estimated_tokens + 1))) AS size_octave,
        p.canonical_input_cost AS canonical_input_cost,
        p.canonical_output_cost AS canonical_output_cost,
        log(canonical_input_cost + canonical_output_cost + {cost_epsilon:Float64})
            AS log_canonical_cost,
        h.total_tokens_in / greatest(h.llm_calls, 1) AS tokens_in_per_call,
        h.total_tokens_out / greatest(h.llm_calls, 1) AS tokens_out_per_call,
        log1p(h.total_duration_ms) AS log_duration
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
by_earlier_days AS
(
    -- Per scored day and key: the runs of the look-back's earlier days.
    SELECT
        d.day AS scored_day,
        r.cascade_id AS cascade_id,
        level_key.1 AS level,
        level_key.2 AS key,
        {%- for name, aggregate in statistics %}
        {{ aggregate }} AS {{ name }}{{ "," if not loop.last }}
        {%- endfor %}
    FROM runs AS r
    CROSS JOIN (SELECT DISTINCT day FROM scored) AS d
    ARRAY JOIN {{ level_keys("r") }} AS level_key
    WHERE r.day < d.day AND r.day >= d.day - {lookback_days:UInt16}
    GROUP BY scored_day, cascade_id, level, key
),
candidates AS
(
    -- Each scored run with each level it could be compared at.
    SELECT
        s.session_id AS session_id,
        level_key.1 AS level,
        indexOf(['input', 'cluster', 'cascade', 'whole'], level) AS level_order,
        b.runs AS runs,
        {%- for name, aggregate in statistics[1:] %}
        b.{{ name }} AS {{ name }}{{ "," if not loop.last }}
        {%- endfor %}
    FROM scored AS s
    ARRAY JOIN {{ level_keys("s") }} AS level_key
    INNER JOIN by_earlier_days AS b
        ON b.scored_day = s.day AND b.cascade_id = s.cascade_id AND b.level = level_key.1
           AND b.key = level_key.2
),
qualifies AS
(
    SELECT
        session_id,
        level_order,
        level = 'input' AND runs >= {min_prior_runs:UInt32}
            OR level = 'cluster' AND runs >= {min_prior_runs:UInt32}
            OR level = 'cascade' AND runs >= {min_cascade_runs:UInt32} AS enough,
        tuple(level, {{ statistics | map(attribute=0) | join(", ") }}) AS baseline
    FROM candidates
),
same_day AS
(
    -- Runs with no such baseline (a new cascade or input size, the history's first day):
    -- the earlier runs of the same day of their input, else of their cascade and size, else,
    -- in a cascade's first day only, of their cascade (better a thin comparison than none;
    -- an older cascade's first input of a new size is not compared with smaller ones).
    SELECT
        n.scored_session AS session_id,
        n.level_key.1 AS level,
        10 + indexOf(['input', 'cluster', 'cascade', 'whole'], level) AS level_order,
        {%- for name, aggregate in statistics %}
        {{ aggregate }} AS {{ name }}{{ "," if not loop.last }}
        {%- endfor %}
    FROM
    (
        SELECT
            session_id AS scored_session,
            created_at AS scored_at,
            day AS scored_day,
            cascade_id AS scored_cascade,
            session_id NOT IN (SELECT session_id FROM candidates WHERE level = 'whole') AS is_new,
            level_key
        FROM scored
        ARRAY JOIN arrayFilter(k -> k.1 IN ('input', 'cascade') OR k.1 = 'whole' AND is_new,
                               {{ level_keys("scored") }}) AS level_key
        WHERE session_id NOT IN (SELECT session_id FROM qualifies WHERE enough)
    ) AS n
    INNER JOIN
    (
        SELECT *, run_key
        FROM scored
        ARRAY JOIN {{ level_keys("scored") }} AS run_key
    ) AS r
        ON r.day = n.scored_day AND r.cascade_id = n.scored_cascade AND r.run_key = n.level_key
    WHERE (r.created_at, r.session_id) < (n.scored_at, n.scored_session)
    GROUP BY session_id, level
),
chosen AS
(
    SELECT
        session_id,
        argMinIf(baseline, level_order, enough) AS baseline
    FROM
    (
        SELECT session_id, level_order, enough, baseline FROM qualifies
        UNION ALL
        SELECT
            session_id,
            level_order,
            level = 'input' AND runs >= {min_prior_runs:UInt32}
                OR level IN ('cascade', 'whole') AND runs >= {min_cascade_runs:UInt32},
            tuple(if(level = 'whole', 'cascade', level),
                  {{ statistics | map(attribute=0) | join(", ") }})
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
