-- Every finished run of [{start}, {end}) (its session_facts row) has exactly one
-- cascade_analytics row on its own day, and no run of these days has a row on another day
-- too. Rows are matched by (session_id, day), so a row on the wrong day of the range counts
-- as missing on one day and unexpected on the other, as it does when each day is checked alone.
-- Samples are the first 10 session ids in sorted order.
WITH
    pairs AS MATERIALIZED
    (
        -- Each (session id, day) of the range: its session_facts and cascade_analytics rows,
        -- counted in one GROUP BY (not a set of each table's pairs per question).
        SELECT session_id, day, sum(is_fact) AS facts, sum(NOT is_fact) AS analysed
        FROM
        (
            SELECT session_id, toDate(created_at) AS day, true AS is_fact
            FROM ${analytics}.session_facts
            WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
            UNION ALL
            SELECT session_id, toDate(created_at) AS day, false AS is_fact
            FROM ${analytics}.cascade_analytics
            WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
        )
        GROUP BY session_id, day
    ),
    elsewhere AS
    (
        SELECT DISTINCT session_id
        FROM ${analytics}.cascade_analytics
        WHERE (created_at < {start:DateTime} OR created_at >= {end:DateTime})
          AND session_id IN (SELECT session_id FROM pairs WHERE facts > 0)
    )
SELECT
    sum(facts) AS finished_runs,
    sum(analysed) AS analysed_rows,
    countIf(facts > 0 AND analysed = 0) AS missing,
    arraySlice(arraySort(groupArrayIf(session_id, facts > 0 AND analysed = 0)), 1, 10)
        AS missing_sample,
    countIf(analysed > 0 AND facts = 0) AS unexpected,
    arraySlice(arraySort(groupArrayIf(session_id, analysed > 0 AND facts = 0)), 1, 10)
        AS unexpected_sample,
    countIf(analysed > 1) AS duplicated,
    arraySlice(arraySort(groupArrayIf(session_id, analysed > 1)), 1, 10) AS duplicated_sample,
    (SELECT count() FROM (SELECT session_id FROM pairs GROUP BY session_id HAVING sum(facts) > 1))
        AS duplicated_facts,
    (SELECT count() FROM elsewhere) AS on_other_days,
    (SELECT arraySlice(arraySort(groupArray(session_id)), 1, 10) FROM elsewhere)
        AS on_other_days_sample
FROM pairs
-- Without enable_materialized_cte ClickHouse ignores MATERIALIZED and runs such a CTE again
-- at every reference.
SETTINGS enable_materialized_cte = 1
