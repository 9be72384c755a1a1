-- The training fingerprint of the version starting {version} (cost_model.training_fingerprint
-- of its training window), computed here so that no run leaves the store: SHA-256 of
-- {features}, {estimator_settings} and each run's hash in (created_at, session_id) order.
SELECT
    count() AS runs,
    -- each hash's 8 bytes, little-endian as numpy's: in hex (a cast to text would drop
    -- trailing zero bytes), turned back into bytes whole
    lower(substring(hex(SHA256(concat({features:String}, {estimator_settings:String},
                                        unhex(arrayStringConcat(arrayMap(
        run -> hex(reinterpretAsFixedString(run.3)),
        arraySort(run -> (run.1, run.2), groupArray((created_at, session_id, run_hash)))
    )))))), 1, 16)) AS fingerprint
FROM
(
{% include 'cost_training_sample.sql' %}
)
