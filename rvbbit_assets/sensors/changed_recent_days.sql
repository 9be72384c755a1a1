-- Recent days whose source rows changed after they were analysed: a run's cost or row count
-- in unified_logs no longer matches session_facts (late costs arrive by ALTER ... UPDATE).
-- `evidence` describes the changed source rows, so a later, different change is told apart.
SELECT
    toDate(f.created_at) AS day,
    concat(toString(count()), ' runs, cost ', toString(sum(s.source_cost)), ', ',
           toString(sum(s.source_rows)), ' rows') AS evidence
FROM ${analytics}.session_facts AS f
INNER JOIN
(
    -- Non-finite costs count as 0, as session_facts counts them, or they would always differ.
    SELECT session_id, sum(if(isFinite(cost), cost, 0)) AS source_cost, count() AS source_rows
    FROM ${source}.unified_logs
    WHERE session_id IN
    (
        SELECT session_id FROM ${analytics}.session_facts WHERE created_at >= {since:DateTime}
    )
    GROUP BY session_id
) AS s ON s.session_id = f.session_id
WHERE f.created_at >= {since:DateTime}
  AND (s.source_rows != f.message_count
       OR abs(s.source_cost - f.total_cost) > 1e-9 * greatest(abs(s.source_cost), 1e-9))
GROUP BY day
