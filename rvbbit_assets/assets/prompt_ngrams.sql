-- The n-grams of the distinct base prompt texts that prompt_ngrams has not seen under this
-- tokenizer ({tokenizer}: prompt_patterns.tokenizer_key), for the memo: prompt_patterns.sql
-- counts them.
--
-- Words are lower-case runs of letters/digits (splitByNonAlpha), within one sentence:
-- a phrase does not run across a full stop or a line break. A trigram that starts or
-- ends with a stop word ('by', 'the', the 's' of "let's") is a fragment of a phrase
-- beside it with the same counts ("think step by" of "step by step"), not a phrase.
SELECT
    {tokenizer:UInt64} AS tokenizer,
    prompt_hash,
    arrayDistinct(arrayFlatten(arrayMap(
        words -> arrayMap(
            gram -> arrayStringConcat(gram, ' '),
            arrayFilter(
                gram -> NOT has({stop_words:Array(String)}, gram[1])
                    AND NOT has({stop_words:Array(String)}, gram[-1]),
                arrayMap(start -> arraySlice(words, start, {ngram_words:UInt8}),
                         range(1, toUInt64(greatest(length(words) + 2 - {ngram_words:UInt8},
                                                    1)))))),
        arrayMap(sentence -> splitByNonAlpha(sentence),
                 splitByRegexp('[.!?;:\\n]+', lowerUTF8(prompt_text)))))) AS ngrams
FROM
(
    SELECT cityHash64(full_prompt_text) AS prompt_hash, any(full_prompt_text) AS prompt_text
    FROM ${source}.prompt_lineage
    WHERE generation = 0 AND species_hash NOT IN ('', 'unknown_species')
      AND prompt_hash NOT IN
      (
          SELECT prompt_hash FROM ${analytics}.prompt_ngrams
          WHERE tokenizer = {tokenizer:UInt64}
      )
    GROUP BY prompt_hash
)
