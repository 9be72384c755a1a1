-- Every finished run of [{start}, {end}) (its session_facts row) has exactly one
-- cascade_analytics row on its own day, and no run of these days has a row on another day
-- too. Rows are matched by (session_id, day), so a row on the wrong day of the range counts
-- as missing on one day and unexpected on the other, as it does when each day is checked alone.
-- Samples are the first 10 session ids in sorted order.
WITH
    facts AS MATERIALIZED
    (
        SELECT session_id, toDate(created_at) AS day, count() AS n
        FROM ${analytics}.session_facts
        WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
        GROUP BY session_id, day
    ),
    analysed AS MATERIALIZED
    (
        SELECT session_id, toDate(created_at) AS day, count() AS n
        FROM ${analytics}.cascade_analytics
        WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
        GROUP BY session_id, day
    ),
    elsewhere AS
    (
        SELECT DISTINCT session_id
        FROM ${analytics}.cascade_analytics
        WHERE (created_at < {start:DateTime} OR created_at >= {end:DateTime})
          AND session_id IN (SELECT session_id FROM facts)
    )
SELECT
    (SELECT sum(n) FROM facts) AS finished_runs,
    (SELECT sum(n) FROM analysed) AS analysed_rows,
    (SELECT count() FROM facts WHERE (session_id, day) NOT IN (SELECT session_id, day FROM analysed))
        AS missing,
    (SELECT arraySlice(arraySort(groupArray(session_id)), 1, 10) FROM facts
     WHERE (session_id, day) NOT IN (SELECT session_id, day FROM analysed)) AS missing_sample,
    (SELECT count() FROM analysed WHERE (session_id, day) NOT IN (SELECT session_id, day FROM facts))
        AS unexpected,
    (SELECT arraySlice(arraySort(groupArray(session_id)), 1, 10) FROM analysed
     WHERE (session_id, day) NOT IN (SELECT session_id, day FROM facts)) AS unexpected_sample,
    (SELECT count() FROM analysed WHERE n > 1) AS duplicated,
    (SELECT arraySlice(arraySort(groupArray(session_id)), 1, 10) FROM analysed WHERE n > 1)
        AS duplicated_sample,
    (SELECT count() FROM (SELECT session_id FROM facts GROUP BY session_id HAVING sum(n) > 1))
        AS duplicated_facts,
    (SELECT count() FROM elsewhere) AS on_other_days,
    (SELECT arraySlice(arraySort(groupArray(session_id)), 1, 10) FROM elsewhere)
        AS on_other_days_sample
-- Without enable_materialized_cte ClickHouse ignores MATERIALIZED and runs such a CTE again
-- at every reference.
SETTINGS enable_materialized_cte = 1
