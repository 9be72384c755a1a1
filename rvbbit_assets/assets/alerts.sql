-- The alerts of the runs analysed in [{start}, {end}) (the rules of analysis/alert_rules.sql,
-- over the `raised` CTE the module prepends), with the run's finish time (the send window is measured
-- from it) and the time each alert was first detected, kept across rewrites of the day.
SELECT
    r.session_id AS session_id,
    r.alert_type AS alert_type,
    r.cascade_id AS cascade_id,
    r.created_at AS created_at,
    greatest(toDateTime64(r.created_at, 6), f.finished_at) AS run_finished_at,
    r.severity AS severity,
    r.message AS message,
    r.detail AS detail,
    r.metric AS metric,
    if(p.detected_at > toDateTime(0), p.detected_at, now()) AS detected_at
FROM raised AS r
LEFT JOIN
(
    SELECT session_id, finished_at
    FROM ${analytics}.session_facts
    WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
    ORDER BY session_id
    LIMIT 1 BY session_id
) AS f ON f.session_id = r.session_id
LEFT JOIN
(
    SELECT session_id, alert_type, min(detected_at) AS detected_at
    FROM ${analytics}.alerts
    WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
    GROUP BY session_id, alert_type
) AS p ON p.session_id = r.session_id AND p.alert_type = r.alert_type
