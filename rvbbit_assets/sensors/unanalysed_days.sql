-- Days holding a finished run that is not in session_facts (the first tick's reconciliation).
SELECT DISTINCT toDate(created_at)
FROM ${source}.cascade_sessions
WHERE created_at >= {since:DateTime}
  AND session_id IN
  (
      SELECT session_id FROM ${source}.unified_logs
      WHERE node_type IN ('cascade_completed', 'cascade_error')
  )
  AND session_id NOT IN (SELECT session_id FROM ${analytics}.session_facts)
