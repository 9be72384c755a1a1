-- The days in [first, before) that have runs in the source but lack a write of one of the
-- stages: an earlier-day population without them would not be the one later days expect.
SELECT DISTINCT toDate(created_at) AS day
FROM ${source}.cascade_sessions
WHERE created_at >= {first:DateTime} AND created_at < {before:DateTime}
    AND day NOT IN (
        SELECT day
        FROM ${analytics}.day_writes
        WHERE stage IN {stages:Array(String)}
            AND day >= toDate({first:DateTime}) AND day < toDate({before:DateTime})
        GROUP BY day
        HAVING uniqExact(stage) = length({stages:Array(String)})
    )
ORDER BY day
