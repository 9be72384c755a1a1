-- The days before {start} whose cells cell_analytics has not written since session_facts last
-- wrote the day (never, or a run that stopped between the two): their stored cells may not
-- be those of the day's analysed runs, so they are rebuilt from the logs.
SELECT day
FROM ${analytics}.day_writes
WHERE stage IN ('session_facts', 'cell_analytics') AND day < toDate({start:DateTime})
GROUP BY day
HAVING maxIf(written_at, stage = 'cell_analytics') < maxIf(written_at, stage = 'session_facts')
ORDER BY day
