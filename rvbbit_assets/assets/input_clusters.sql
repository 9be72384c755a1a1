-- Each session of [{start}, {end}) with the memoised complexity of its input text.
SELECT
    s.session_id AS session_id,
    s.cascade_id AS cascade_id,
    s.created_at AS created_at,
    s.input_hash AS input_hash,
    c.input_complexity_score AS input_complexity_score,
    c.input_category AS input_category,
    c.input_fingerprint AS input_fingerprint,
    c.char_count AS char_count,
    c.estimated_tokens AS estimated_tokens,
    c.is_valid_json AS is_valid_json
FROM
(
    SELECT session_id, cascade_id, created_at, cityHash64(input_data) AS input_hash
    FROM ${source}.cascade_sessions
    WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
    ORDER BY session_id, created_at
    LIMIT 1 BY session_id
) AS s
INNER JOIN
(
    SELECT *
    FROM ${analytics}.input_complexity
    WHERE input_hash IN
    (
        SELECT cityHash64(input_data) FROM ${source}.cascade_sessions
        WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
    )
    LIMIT 1 BY input_hash
) AS c ON c.input_hash = s.input_hash
