-- The n-grams of each distinct base prompt text, tokenized once ever: prompt_patterns counts
-- them on every run instead of tokenizing every prompt again. A row belongs to one tokenizer
-- (a hash of the n-gram length and the stop words), so other settings tokenize anew. A text
-- tokenized twice by runs at the same time gives the same row twice: readers take one.
CREATE TABLE IF NOT EXISTS ${analytics}.prompt_ngrams
(
    tokenizer UInt64,                       -- cityHash64(n-gram length, stop words)
    prompt_hash UInt64,                     -- cityHash64(full_prompt_text)
    ngrams Array(String)                    -- the text's distinct n-grams
)
ENGINE = ReplacingMergeTree()
ORDER BY (tokenizer, prompt_hash);
