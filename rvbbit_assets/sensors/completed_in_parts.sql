-- Days of the runs that logged a completion row in the given (newly written) log parts.
SELECT DISTINCT toDate(created_at)
FROM ${source}.cascade_sessions
WHERE session_id IN
(
    SELECT session_id
    FROM ${source}.unified_logs
    WHERE _part IN {parts:Array(String)}
      AND node_type IN ('cascade_completed', 'cascade_error')
)
