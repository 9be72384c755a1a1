-- The design's winning n-gram mining, set-based over every species at once: which 2- to
-- 4-word phrases winning base prompts (generation 0) contain more often than losing ones.
--
-- A prompt counts an n-gram once however often it repeats it (arrayDistinct), so winner_freq
-- and loser_freq are shares of prompts. Identical prompt texts are tokenized once and carry
-- their winner/loser counts: RVBBIT reruns the same templates on the same inputs a lot.
WITH
    base_prompts AS
    (
        SELECT species_hash, cascade_id, cell_name, is_winner, full_prompt_text
        FROM ${source}.prompt_lineage
        -- Mutations (generation > 0) inherit the phrases of their parent prompt.
        WHERE generation = 0 AND species_hash NOT IN ('', 'unknown_species')
    ),
    species AS
    (
        -- A species is one cell template on one input, so its prompts share one cell; min()
        -- only picks deterministically if two cascades share the template.
        SELECT
            species_hash,
            min(cascade_id) AS species_cascade,
            min(cell_name) AS species_cell,
            countIf(is_winner) AS winner_prompts,
            countIf(NOT is_winner) AS loser_prompts
        FROM base_prompts
        GROUP BY species_hash
        HAVING winner_prompts >= {min_prompts:UInt64} AND loser_prompts >= {min_prompts:UInt64}
    ),
    distinct_prompts AS
    (
        SELECT
            species_hash,
            any(full_prompt_text) AS prompt_text,
            countIf(is_winner) AS winners,
            countIf(NOT is_winner) AS losers
        FROM base_prompts
        WHERE species_hash IN (SELECT species_hash FROM species)
        GROUP BY species_hash, cityHash64(full_prompt_text)
    ),
    ngram_counts AS
    (
        -- Words are lower-case runs of letters/digits (splitByNonAlpha), within one sentence:
        -- a phrase does not run across a full stop or a line break. An n-gram that starts or
        -- ends with a stop word ('by', 'the', the 's' of "let's") is a fragment of a longer
        -- phrase with the same counts, not a phrase of its own.
        SELECT species_hash, ngram, sum(winners) AS winner_count, sum(losers) AS loser_count
        FROM distinct_prompts
        ARRAY JOIN arrayDistinct(arrayFlatten(arrayMap(
            words -> arrayMap(
                n -> arrayMap(
                    gram -> arrayStringConcat(gram, ' '),
                    arrayFilter(
                        gram -> NOT has({stop_words:Array(String)}, gram[1])
                            AND NOT has({stop_words:Array(String)}, gram[-1]),
                        arrayMap(start -> arraySlice(words, start, n),
                                 range(1, toUInt64(greatest(length(words) + 2 - n, 1)))))),
                range({min_words:UInt8}, {max_words:UInt8} + 1)),
            arrayMap(sentence -> splitByNonAlpha(sentence),
                     splitByRegexp('[.!?;:\\n]+', lowerUTF8(prompt_text)))))) AS ngram
        GROUP BY species_hash, ngram
    ),
    kept AS
    (
        SELECT
            n.species_hash AS species_hash,
            s.species_cascade AS cascade_id,
            s.species_cell AS cell_name,
            n.ngram AS ngram,
            toUInt8(length(splitByChar(' ', n.ngram))) AS ngram_words,
            n.winner_count AS winner_count,
            n.loser_count AS loser_count,
            s.winner_prompts AS winner_prompts,
            s.loser_prompts AS loser_prompts,
            winner_count / winner_prompts AS winner_freq,
            loser_count / loser_prompts AS loser_freq,
            winner_freq - loser_freq AS lift,
            (winner_count + loser_count) / (winner_prompts + loser_prompts) AS pooled_freq,
            -- Two-proportion z of the lift: with a few dozen prompts a phrase unrelated to
            -- winning clears the lift threshold by chance alone.
            if(pooled_freq * (1 - pooled_freq) = 0, 0,
               lift / sqrt(pooled_freq * (1 - pooled_freq)
                           * (1 / winner_prompts + 1 / loser_prompts))) AS z_score
        FROM ngram_counts AS n
        INNER JOIN species AS s ON s.species_hash = n.species_hash
        -- Rounded: 17/50 - 19/100 is 0.15 on paper but 0.15000000000000002 in floats.
        WHERE round(lift, 9) > {min_lift:Float64} AND z_score >= {min_z_score:Float64}
    ),
    closed AS
    (
        -- An n-gram inside a longer kept one with the same winner and loser counts occurs in
        -- exactly the same prompts ('step by step' in 'think step by step'): it adds nothing.
        SELECT *
        FROM
        (
            SELECT
                *,
                groupArray(ngram) OVER (PARTITION BY species_hash, winner_count, loser_count)
                    AS same_count_ngrams
            FROM kept
        )
        WHERE NOT arrayExists(
            longer -> longer != ngram
                AND position(concat(' ', longer, ' '), concat(' ', ngram, ' ')) > 0,
            same_count_ngrams)
    )
SELECT
    species_hash,
    cascade_id,
    cell_name,
    ngram,
    ngram_words,
    winner_count,
    loser_count,
    winner_prompts,
    loser_prompts,
    winner_freq,
    loser_freq,
    lift,
    z_score,
    toUInt32(row_number() OVER (PARTITION BY species_hash
                                ORDER BY lift DESC, ngram_words DESC, ngram)) AS pattern_rank,
    concat('Try adding ''', ngram, ''' to your prompt') AS recommendation
FROM closed
ORDER BY lift DESC, species_hash, pattern_rank
