-- The training window of the version starting {version} (cost_model.training_window): the
-- runs of [{window_start}, {version}) (cost_features.sql's runs), at most {max_runs} of them,
-- those of smallest session-id hash, each with its hash of (session_id, total_cost). The
-- hashes are pandas' hash_pandas_object: SipHash-2-4 of the text under pandas' default key,
-- then its 64-bit mixer; a cost's hash is of its bits, with -0.0 as 0 and one NaN; the two
-- columns combine as pandas combines them.
{#- pandas' 64-bit mixer of {name}_raw, as {name}_hash -#}
{% macro mixed(name) -%}
    bitXor({{ name }}_raw, bitShiftRight({{ name }}_raw, 30)) * 0xBF58476D1CE4E5B9 AS {{ name }}_1,
    bitXor({{ name }}_1, bitShiftRight({{ name }}_1, 27)) * 0x94D049BB133111EB AS {{ name }}_2,
    bitXor({{ name }}_2, bitShiftRight({{ name }}_2, 31)) AS {{ name }}_hash,
{%- endmacro %}
SELECT
    f.session_id AS session_id,
    f.created_at AS created_at,
    sipHash64Keyed((3978425819141910832, 3906085646303836472), f.session_id) AS id_raw,
    {{ mixed('id') }}
    multiIf(isNaN(f.total_cost), toUInt64(0x7FF8000000000000),
            f.total_cost = 0, toUInt64(0),
            reinterpretAsUInt64(toFloat64(f.total_cost))) AS cost_raw,
    {{ mixed('cost') }}
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
