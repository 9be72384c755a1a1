{%- from "exact_sum.sql" import exact_sum -%}
-- Per day of [{since}, {until}], the candidate runs (the `candidates` and `candidate_days`
-- CTEs that the sensor prepends) that are not analysed as they are logged now: `unanalysed`, not in session_facts;
-- `changed`, logged with other rows or another cost than when analysed (late costs by ALTER
-- ... UPDATE, late or repeated rows). `evidence` describes the changed runs' source rows, so
-- a later, different change is told apart. A run analysed exactly as it is logged counts in
-- neither: a merge that rewrites old log rows into a new part is not new work.
SELECT
    s.day AS day,
    countIf(f.session_id = '') AS unanalysed,
    countIf((f.session_id != ''
             AND (l.source_rows != f.message_count
                  OR abs(l.source_cost - f.total_cost)
                     > 1e-9 * greatest(abs(l.source_cost), 1e-9))) AS differs) AS changed,
    -- Exact sums: the evidence of one change must read the same at every tick.
    concat(toString(changed), ' runs, cost ',
           toString({{ exact_sum("if(differs, l.source_cost, NULL)") }}), ', ',
           toString(sumIf(l.source_rows, differs)), ' rows') AS evidence
FROM candidate_days AS s
INNER JOIN
(
    -- Non-finite costs count as 0, as session_facts counts them, or they would always differ.
    SELECT session_id, count() AS source_rows,
           {{ exact_sum("if(isFinite(cost), cost, 0)") }} AS source_cost
    FROM ${source}.unified_logs
    WHERE session_id IN candidates
    GROUP BY session_id
) AS l ON l.session_id = s.session_id
LEFT JOIN
(
    SELECT session_id, message_count, total_cost
    FROM ${analytics}.session_facts
    WHERE session_id IN candidates
) AS f ON f.session_id = s.session_id
WHERE s.day >= {since:Date} AND s.day <= {until:Date}
GROUP BY day
HAVING unanalysed + changed > 0
