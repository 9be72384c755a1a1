-- Each finished run of [{start}, {end}) that session_facts found, with the memoised
-- complexity of its input text (session_facts keeps the text's hash).
SELECT
    f.session_id AS session_id,
    f.cascade_id AS cascade_id,
    f.created_at AS created_at,
    f.input_hash AS input_hash,
    c.input_complexity_score AS input_complexity_score,
    c.input_category AS input_category,
    c.input_fingerprint AS input_fingerprint,
    c.char_count AS char_count,
    c.estimated_tokens AS estimated_tokens,
    c.is_valid_json AS is_valid_json
FROM
(
    SELECT session_id, cascade_id, created_at, input_hash
    FROM ${analytics}.session_facts
    WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
) AS f
INNER JOIN
(
    SELECT *
    FROM ${analytics}.input_complexity
    WHERE input_hash IN
    (
        SELECT input_hash FROM ${analytics}.session_facts
        WHERE created_at >= {start:DateTime} AND created_at < {end:DateTime}
    )
    LIMIT 1 BY input_hash
) AS c ON c.input_hash = f.input_hash
