-- The design's winning n-gram mining, set-based over every species at once: the trigrams
-- that winning base prompts (generation 0) contain more often than losing ones, every one
-- with lift > {min_lift} as the design returns them, each with its sample sizes, z-score and
-- `significant` flag (enough prompts of each outcome and a z-score that chance rarely gives).
--
-- A prompt counts an n-gram once however often it repeats it (arrayDistinct), so winner_freq
-- and loser_freq are shares of prompts. Identical prompt texts are counted once and carry
-- their winner/loser counts (RVBBIT reruns the same templates on the same inputs a lot); each
-- text is tokenized once ever, into prompt_ngrams (prompt_ngrams.sql).
WITH
    prompt_texts AS MATERIALIZED
    (
        -- Per species, each distinct base prompt text with its winner and loser prompts.
        SELECT
            species_hash,
            cityHash64(full_prompt_text) AS prompt_hash,
            min(cascade_id) AS text_cascade,
            min(cell_name) AS text_cell,
            countIf(is_winner) AS winners,
            countIf(NOT is_winner) AS losers
        FROM ${source}.prompt_lineage
        -- Mutations (generation > 0) inherit the phrases of their parent prompt.
        WHERE generation = 0 AND species_hash NOT IN ('', 'unknown_species')
        GROUP BY species_hash, prompt_hash
    ),
    species AS MATERIALIZED
    (
        -- A species is one cell template on one input, so its prompts share one cell; min()
        -- only picks deterministically if two cascades share the template.
        SELECT
            species_hash,
            min(text_cascade) AS species_cascade,
            min(text_cell) AS species_cell,
            sum(winners) AS winner_prompts,
            sum(losers) AS loser_prompts
        FROM prompt_texts
        GROUP BY species_hash
        -- The design divides by both counts: a species needs a winner and a loser.
        HAVING winner_prompts > 0 AND loser_prompts > 0
    ),
    distinct_prompts AS
    (
        SELECT species_hash, prompt_hash, winners, losers
        FROM prompt_texts
        WHERE species_hash IN (SELECT species_hash FROM species)
    ),
    ngram_counts AS
    (
        -- Each text's n-grams, as prompt_ngrams.sql tokenized them into the memo.
        SELECT species_hash, ngram, sum(winners) AS winner_count, sum(losers) AS loser_count
        FROM distinct_prompts AS p
        INNER JOIN
        (
            SELECT prompt_hash, ngrams
            FROM ${analytics}.prompt_ngrams
            WHERE tokenizer = {tokenizer:UInt64}
            LIMIT 1 BY prompt_hash  -- a text two runs tokenized at once
        ) AS m ON m.prompt_hash = p.prompt_hash
        ARRAY JOIN m.ngrams AS ngram
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
-- Without enable_materialized_cte ClickHouse ignores MATERIALIZED and runs such a CTE again
-- at every reference.
SETTINGS enable_materialized_cte = 1
