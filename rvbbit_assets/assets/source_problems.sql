-- What the source holds for [{start}, {end}) that is not analysed, for the run's report:
-- sessions without any log row, runs still going, and log rows of sessions with no
-- cascade_sessions row (counted by the day of their first row).
WITH
    range_sessions AS MATERIALIZED
    (
        SELECT DISTINCT session_id
        FROM ${source}.cascade_sessions
        WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
    ),
    logged AS MATERIALIZED
    (
        SELECT
            session_id,
            countIf(node_type IN ('cascade_completed', 'cascade_error')) > 0 AS has_completion,
            max(timestamp) AS last_logged_at
        FROM ${source}.unified_logs
        WHERE session_id IN (SELECT session_id FROM range_sessions)
        GROUP BY session_id
    ),
    range_log_sessions AS MATERIALIZED
    (
        -- The sessions that logged in the range. Only those are looked up in
        -- cascade_sessions: a set of a day's sessions, not of every session ever.
        SELECT DISTINCT session_id
        FROM ${source}.unified_logs
        WHERE timestamp >= {start:DateTime} AND timestamp < {end:DateTime}
    )
SELECT
    (SELECT count() FROM range_sessions) AS sessions,
    (SELECT count() FROM range_sessions WHERE session_id NOT IN (SELECT session_id FROM logged))
        AS sessions_without_logs,
    (SELECT count() FROM logged
     WHERE NOT has_completion AND last_logged_at >= {abandoned_before:DateTime64(6)})
        AS runs_still_going,
    (SELECT count() FROM range_log_sessions
     WHERE session_id NOT IN (SELECT session_id FROM ${source}.cascade_sessions
                              WHERE session_id IN (SELECT session_id FROM range_log_sessions)))
        AS orphan_log_sessions
-- Without enable_materialized_cte ClickHouse ignores MATERIALIZED and runs such a CTE again
-- at every reference.
SETTINGS enable_materialized_cte = 1
