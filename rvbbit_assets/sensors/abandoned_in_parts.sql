-- The runs with rows in the given log parts, old enough to be abandoned, that never logged a
-- completion row.
SELECT session_id
FROM ${source}.unified_logs
WHERE session_id IN
(
    SELECT DISTINCT session_id FROM ${source}.unified_logs WHERE _part IN {parts:Array(String)}
)
GROUP BY session_id
HAVING countIf(node_type IN ('cascade_completed', 'cascade_error')) = 0
   AND max(timestamp) < {abandoned_before:DateTime64(6)}
