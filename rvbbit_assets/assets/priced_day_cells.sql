{%- from "priced_macros.sql" import run_calls -%}
-- Each (cascade, cell) on each of the days {days}: how many of its runs made how many calls
-- (priced_runs.sql takes the usual and the routine most calls from them).
SELECT day, cascade_id, cell_name, run_cell_calls, count() AS runs
FROM
(
    SELECT day, cascade_id, cell_name, session_id, sum(calls) AS run_cell_calls
    FROM ({{ run_calls("toDate(created_at) IN {days:Array(Date)}") }})
    GROUP BY day, cascade_id, cell_name, session_id
)
GROUP BY day, cascade_id, cell_name, run_cell_calls
