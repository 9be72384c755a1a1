-- The design's winning n-gram mining, set-based over every species at once: the trigrams
-- that winning base prompts (generation 0) contain more often than losing ones, every one
-- with lift > {min_lift} as the design returns them, each with its sample sizes, z-score and
-- `significant` flag (enough prompts of each outcome and a z-score that chance rarely gives).
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
        -- The design divides by both counts: a species needs a winner and a loser.
        HAVING winner_prompts > 0 AND loser_prompts > 0
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
        -- a phrase does not run across a full stop or a line break. A trigram that starts or
        -- ends with a stop word ('by', 'the', the 's' of "let's") is a fragment of a phrase
        -- beside it with the same counts ("think step by" of "step by step"), not a phrase.
        SELECT species_hash, ngram, sum(winners) AS winner_count, sum(losers) AS loser_count
        FROM distinct_prompts
        ARRAY JOIN arrayDistinct(arrayFlatten(arrayMap(
            words -> arrayMap(
                gram -> arrayStringConcat(gram, ' '),
                arrayFilter(
                    gram -> NOT has({stop_words:Array(String)}, gram[1])
                        AND NOT has({stop_words:Array(String)}, gram[-1]),
                    arrayMap(start -> arraySlice(words, start, {ngram_words:UInt8}),
                             range(1, toUInt64(greatest(length(words) + 2 - {ngram_words:UInt8},
                                                        1)))))),
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
            {ngram_words:UInt8} AS ngram_words,
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
                           * (1 / winner_prompts + 1 / loser_prompts))) AS z_score,
            winner_prompts >= {min_prompts:UInt64} AND loser_prompts >= {min_prompts:UInt64}
                AND z_score >= {min_z_score:Float64} AS significant
        FROM ngram_counts AS n
        INNER JOIN species AS s ON s.species_hash = n.species_hash
        -- Rounded: 17/50 - 19/100 is 0.15 on paper but 0.15000000000000002 in floats.
        WHERE round(lift, 9) > {min_lift:Float64}
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
    significant,
    toUInt32(row_number() OVER (PARTITION BY species_hash
                                ORDER BY significant DESC, lift DESC, ngram)) AS pattern_rank,
    concat('Try adding ''', ngram, ''' to your prompt') AS recommendation
FROM kept
ORDER BY significant DESC, lift DESC, species_hash, pattern_rank
