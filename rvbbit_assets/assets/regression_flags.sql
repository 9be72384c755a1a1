{%- from "earlier_runs_moments.sql" import exact -%}
{#- The mean of `value` over the window `frame` of `runs` rows, summed exactly (decimals):
    ClickHouse adds a sliding frame's floats in an order that follows its blocks and threads,
    so a float average's last digits differed for a day computed alone and in a backfill. -#}
{%- macro frame_mean(value, frame, runs) -%}
    toFloat64(sum({{ exact(value) }}) OVER {{ frame }}) / {{ runs }}
{%- endmacro -%}
-- The design's _detect_regression for each run in [{start}, {end}), set-based: over the
-- species' prior runs, most recent first, recent = the 10 latest, historical = the 10 before
-- those (or recent when there are none); needs at least 10 prior runs.
SELECT
    session_id,
    cascade_id,
    created_at,
    species_hash_primary,
    species_prior_runs,
    recent_avg_cost,
    historical_avg_cost,
    recent_avg_duration,
    historical_avg_duration,
    vs_recent_avg_cost,
    vs_recent_avg_duration,
    is_regression,
    multiIf(NOT is_regression, 'none',
            vs_recent_avg_cost > 50 OR vs_recent_avg_duration > 50, 'critical',
            vs_recent_avg_cost > 35 OR vs_recent_avg_duration > 40, 'major',
            'minor') AS regression_severity
FROM
(
    SELECT
        session_id,
        cascade_id,
        created_at,
        species_hash_primary,
        species_prior_runs,
        recent_avg_cost,
        historical_avg_cost,
        recent_avg_duration,
        historical_avg_duration,
        if(historical_avg_cost > 0,
           (recent_avg_cost - historical_avg_cost) / historical_avg_cost * 100, 0)
            AS vs_recent_avg_cost,
        if(historical_avg_duration > 0,
           (recent_avg_duration - historical_avg_duration) / historical_avg_duration * 100, 0)
            AS vs_recent_avg_duration,
        vs_recent_avg_cost > 20 OR vs_recent_avg_duration > 30 AS is_regression
    FROM
    (
        SELECT
            session_id,
            cascade_id,
            created_at,
            species_hash_primary,
            if(species_hash_primary IS NULL, 0, count() OVER last_20_before) AS species_prior_runs,
            species_prior_runs >= 10 AS enough_history,
            count() OVER last_10_before AS recent_runs,
            count() OVER the_10_before_those AS historical_runs,
            if(enough_history, {{ frame_mean("total_cost", "last_10_before", "recent_runs") }}, 0)
                AS recent_avg_cost,
            if(enough_history,
               {{ frame_mean("total_duration_ms", "last_10_before", "recent_runs") }}, 0)
                AS recent_avg_duration,
            if(enough_history AND historical_runs > 0,
               {{ frame_mean("total_cost", "the_10_before_those", "historical_runs") }},
               recent_avg_cost) AS historical_avg_cost,
            if(enough_history AND historical_runs > 0,
               {{ frame_mean("total_duration_ms", "the_10_before_those", "historical_runs") }},
               recent_avg_duration) AS historical_avg_duration
        FROM history
        WINDOW
            last_20_before AS (PARTITION BY species_hash_primary ORDER BY created_at, session_id
                               ROWS BETWEEN 20 PRECEDING AND 1 PRECEDING),
            last_10_before AS (PARTITION BY species_hash_primary ORDER BY created_at, session_id
                               ROWS BETWEEN 10 PRECEDING AND 1 PRECEDING),
            the_10_before_those AS (PARTITION BY species_hash_primary
                                    ORDER BY created_at, session_id
                                    ROWS BETWEEN 20 PRECEDING AND 11 PRECEDING)
    )
    WHERE created_at >= {start:DateTime}
)
