{%- from "exact_sum.sql" import exact_sum -%}
-- Spend per cascade and UTC day of the runs that started in [{start}, {end}); days without
-- runs have no row (the caller fills the calendar with zeros).
-- The sum does not depend on the order in which parallel threads add the runs up: the same
-- data gives bit-identical daily totals.
SELECT
    cascade_id,
    toDate(created_at) AS day,
    {{ exact_sum("total_cost") }} AS cost
FROM ${analytics}.cascade_analytics
WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
GROUP BY cascade_id, day
ORDER BY cascade_id, day
