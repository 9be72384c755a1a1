-- The training window of the version starting {version} (cost_model.training_window): the
-- runs of [{window_start}, {version}) (cost_features.sql's runs), at most {max_runs} of them,
-- those of smallest session-id hash, each with its hash of (session_id, total_cost). The
-- hashes are pandas' hash_pandas_object (sql_macros/pandas_hash.sql); the two columns
-- combine as pandas combines them.
{%- from "pandas_hash.sql" import pandas_text_hash, pandas_float_hash %}
SELECT
    f.session_id AS session_id,
    f.created_at AS created_at,
    {{ pandas_text_hash('f.session_id', 'id') }} AS id_hash,
    {{ pandas_float_hash('f.total_cost', 'cost') }} AS cost_hash,
    (bitXor((bitXor(toUInt64(0x345678), id_hash) * 1000003), cost_hash) * 1082527)
        + 97531 AS run_hash
FROM ${analytics}.session_facts AS f
INNER JOIN
(
    SELECT session_id FROM ${analytics}.input_clusters
    WHERE created_at >= {window_start:DateTime} AND created_at < {version:DateTime}
) AS c ON c.session_id = f.session_id
WHERE f.created_at >= {window_start:DateTime} AND f.created_at < {version:DateTime}
ORDER BY id_hash
LIMIT {max_runs:UInt64}
