-- The day of each candidate run (the `candidates` CTE of session ids the sensor prepends).
SELECT session_id, toDate(min(created_at)) AS day
FROM ${source}.cascade_sessions
WHERE session_id IN candidates
GROUP BY session_id
