-- Distinct input texts of [{start}, {end}) that the complexity memo has not seen yet.
SELECT input_hash, any(input_data) AS input_data
FROM
(
    SELECT cityHash64(input_data) AS input_hash, input_data
    FROM ${source}.cascade_sessions
    WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
)
WHERE input_hash NOT IN (SELECT input_hash FROM ${analytics}.input_complexity)
GROUP BY input_hash
