-- The days of [{since}, {until}) whose stored states (the tables {states}, each a stage's sums
-- per day of session_facts' runs) are missing or older than session_facts' last rewrite of
-- the day: the days session_facts holds runs of or wrote (a day rewritten without runs has
-- its states dropped), without a write of every state since.
SELECT day
FROM
(
    SELECT day, stage, max(written_at) AS written_at
    FROM
    (
        SELECT day, stage, written_at
        FROM ${analytics}.day_writes
        WHERE stage IN arrayPushBack({states:Array(String)}, 'session_facts')
          AND day >= {since:Date} AND day < {until:Date}
        UNION ALL
        -- Days held without a write recorded (a store analysed before day_writes existed).
        SELECT DISTINCT toDate(created_at) AS held_day, 'session_facts', toDateTime64(0, 6)
        FROM ${analytics}.session_facts
        WHERE held_day >= {since:Date} AND held_day < {until:Date}
    )
    GROUP BY day, stage
)
GROUP BY day
HAVING countIf(stage != 'session_facts') < length({states:Array(String)})
    OR minIf(written_at, stage != 'session_facts') < maxIf(written_at, stage = 'session_facts')
ORDER BY day
