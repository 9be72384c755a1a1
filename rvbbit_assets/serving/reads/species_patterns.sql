-- The stored patterns grouped by species for people (API, page): species with a significant
-- pattern first, then by their best lift; within each, the first {per_species} by pattern_rank
-- (significant first). One cascade's, or every cascade's when {cascade_id} is NULL.
WITH
    chosen AS
    (
        SELECT *
        FROM ${analytics}.prompt_patterns
        WHERE {cascade_id:Nullable(String)} IS NULL OR cascade_id = {cascade_id:Nullable(String)}
    ),
    species AS
    (
        SELECT
            species_hash,
            count() AS pattern_count,
            countIf(significant) AS significant_count,
            row_number() OVER (ORDER BY max(significant) DESC, max(lift) DESC, species_hash)
                AS species_order,
            count() OVER () AS species_count
        FROM chosen
        GROUP BY species_hash
    )
SELECT
    p.species_hash AS species_hash,
    p.cascade_id AS cascade_id,
    p.cell_name AS cell_name,
    p.winner_prompts AS winner_prompts,
    p.loser_prompts AS loser_prompts,
    s.pattern_count AS pattern_count,
    s.significant_count AS significant_count,
    s.species_count AS species_count,
    p.ngram AS ngram,
    p.winner_count AS winner_count,
    p.loser_count AS loser_count,
    p.winner_freq AS winner_freq,
    p.loser_freq AS loser_freq,
    p.lift AS lift,
    p.z_score AS z_score,
    p.significant AS significant,
    p.pattern_rank AS pattern_rank,
    p.recommendation AS recommendation
FROM chosen AS p
INNER JOIN species AS s ON s.species_hash = p.species_hash
WHERE s.species_order <= {species_limit:UInt32} AND p.pattern_rank <= {per_species:UInt32}
ORDER BY s.species_order, p.pattern_rank
