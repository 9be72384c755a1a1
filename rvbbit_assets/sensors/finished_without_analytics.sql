-- The runs of [{since}, {until}) that finished (a completion row, or silent since before
-- {abandoned_before}) and have no cascade_analytics row: the periodic reconciliation.
SELECT session_id
FROM ${source}.unified_logs
WHERE session_id IN
(
    SELECT session_id
    FROM ${source}.cascade_sessions
    WHERE created_at >= {since:DateTime} AND created_at < {until:DateTime}
      AND session_id NOT IN
      (
          SELECT session_id FROM ${analytics}.cascade_analytics
          WHERE created_at >= {since:DateTime}
      )
)
GROUP BY session_id
HAVING countIf(node_type IN ('cascade_completed', 'cascade_error')) > 0
    OR max(timestamp) < {abandoned_before:DateTime64(6)}
