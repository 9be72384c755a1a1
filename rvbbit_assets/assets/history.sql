-- Every analysed run that started before {end}: the population that baselines and
-- regression windows look back over, whatever day partition a run belongs to.
SELECT
    f.session_id AS session_id,
    f.cascade_id AS cascade_id,
    f.created_at AS created_at,
    f.total_cost AS total_cost,
    f.total_duration_ms AS total_duration_ms,
    toFloat64(f.total_tokens_in + f.total_tokens_out) AS total_tokens,
    f.error_count AS error_count,
    f.total_tokens_in AS total_tokens_in,
    f.total_tokens_out AS total_tokens_out,
    f.llm_calls AS llm_calls,
    f.species_hash_primary AS species_hash_primary,
    f.input_hash AS input_hash,
    c.input_category AS input_category,
    c.estimated_tokens AS estimated_tokens
FROM ${analytics}.session_facts AS f
INNER JOIN
(
    SELECT session_id, input_category, estimated_tokens
    FROM ${analytics}.input_clusters
    WHERE created_at < {end:DateTime}
) AS c ON c.session_id = f.session_id
WHERE f.created_at < {end:DateTime}
