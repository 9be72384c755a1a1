-- Days since {since} with a stage computed before the history it reads was last rewritten:
-- for a pair ({readers}[i], {read}[i]), the reader's day D was written before the read
-- table's day D or an earlier day. With the latest such earlier day and when it was written
-- (times from day_writes).
WITH
    writes AS
    (
        SELECT stage, day, max(written_at) AS written_at
        FROM ${analytics}.day_writes
        WHERE day >= {since:Date}
        GROUP BY stage, day
    ),
    -- Per history table and day: the newest rewrite of that day or of any earlier one.
    history_upto AS
    (
        SELECT
            stage AS history,
            day,
            max(written_at) OVER upto AS newest,
            argMax(day, written_at) OVER upto AS newest_day
        FROM writes
        WHERE stage IN {read:Array(String)}
        WINDOW upto AS (PARTITION BY stage ORDER BY day
                        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    ),
    reads AS
    (
        SELECT tupleElement(pair, 1) AS stage, tupleElement(pair, 2) AS history
        FROM (SELECT arrayJoin(arrayZip({readers:Array(String)}, {read:Array(String)})) AS pair)
    )
SELECT s.day AS day, max(h.newest_day) AS rewritten_day, toString(max(h.newest)) AS history_at
FROM writes AS s
INNER JOIN reads AS r ON r.stage = s.stage
ASOF INNER JOIN history_upto AS h ON h.history = r.history AND h.day <= s.day
WHERE h.newest > s.written_at
GROUP BY s.day
