-- Each analysed run, marked with what the demo planted in it (bound from the ground truth).
SELECT
    *,
    transform(session_id, {spikes:Array(String)}, {causes:Array(String)}, '') AS cause,
    cause != '' AS is_spike,
    ifNull(species_hash_primary = {species:String}, false) AS of_regressed_species,
    of_regressed_species AND toDate(created_at) >= {regression_day:Date} AS is_regressed,
    NOT is_spike AND NOT is_regressed AS is_ordinary,
    species_hash_primary IS NOT NULL AND NOT of_regressed_species AS is_other_species
FROM ${analytics}.cascade_analytics
