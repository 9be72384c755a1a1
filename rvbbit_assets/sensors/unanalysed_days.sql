-- Per day of [{since}, {until}): the finished runs (a completion row, or silent since before
-- {abandoned_before}) that have no cascade_analytics row. The periodic reconciliation.
WITH candidates AS
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
SELECT toDate(s.created_at) AS day, count() AS runs
FROM
(
    SELECT session_id, min(created_at) AS created_at
    FROM ${source}.cascade_sessions
    WHERE session_id IN candidates
    GROUP BY session_id
) AS s
INNER JOIN
(
    SELECT session_id
    FROM ${source}.unified_logs
    WHERE session_id IN candidates
    GROUP BY session_id
    HAVING countIf(node_type IN ('cascade_completed', 'cascade_error')) > 0
        OR max(timestamp) < {abandoned_before:DateTime64(6)}
) AS l ON l.session_id = s.session_id
GROUP BY day
