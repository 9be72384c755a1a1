-- The analysed runs that started in [{start}, {end}) (cost_features.sql's runs), with only
-- what identifies a training window: enough to tell whether a stored version is still
-- current without reading the runs' features.
SELECT f.session_id AS session_id, f.created_at AS created_at, f.total_cost AS total_cost
FROM ${analytics}.session_facts AS f
INNER JOIN
(
    SELECT session_id FROM ${analytics}.input_clusters
    WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
) AS c ON c.session_id = f.session_id
WHERE f.created_at >= {start:DateTime} AND f.created_at < {end:DateTime}
ORDER BY created_at, session_id
