-- The runs that logged a completion row in the given (newly written) log parts.
SELECT session_id
FROM ${source}.unified_logs
WHERE _part IN {parts:Array(String)}
  AND node_type IN ('cascade_completed', 'cascade_error')
