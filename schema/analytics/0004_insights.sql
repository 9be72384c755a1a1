-- Insights: the design's "Advanced Features" (Pareto frontier of models, winning prompt
-- n-grams) and RVBBIT's per-cell view of a run.
--
-- pareto_frontier and prompt_patterns are recomputed whole from all history on each
-- materialization and swapped in with REPLACE PARTITION tuple() (unpartitioned tables), so
-- readers see the previous or the new result, never a mix. cell_analytics is per run, like
-- the pipeline stages: partitioned by the UTC day of the run's created_at and rewritten a
-- day at a time.

-- One row per (species, cascade, cell, model) with enough takes to compare.
CREATE TABLE IF NOT EXISTS ${analytics}.pareto_frontier
(
    species_hash String,
    cascade_id String,
    cell_name String,
    model String,
    take_count UInt64,                      -- decided takes of this model in this species/cell
    run_count UInt64,                       -- distinct runs those takes belong to
    avg_cost Float64,                       -- USD per take
    win_rate Float64,                       -- share of its takes the evaluator picked
    scored_takes UInt64,                    -- takes with an evaluator_score in prompt_lineage
    avg_evaluator_score Nullable(Float64),  -- NULL when none of its takes was scored
    quality_metric LowCardinality(String),  -- evaluator_score | win_rate (one per species/cell)
    avg_quality Float64,                    -- the value of quality_metric
    models_compared UInt32,                 -- models with enough takes in this species/cell
    is_pareto Bool,
    recommended_model Nullable(String),     -- cheaper frontier model of similar quality
    cost_saving Nullable(Float64),          -- 1 - its avg_cost / this avg_cost
    recommendation String                   -- '' when there is nothing to recommend
)
ENGINE = MergeTree()
ORDER BY (species_hash, cascade_id, cell_name, model);

-- One row per (species, n-gram) that winning base prompts use clearly more than losing ones.
CREATE TABLE IF NOT EXISTS ${analytics}.prompt_patterns
(
    species_hash String,
    cascade_id String,
    cell_name String,
    ngram String,                           -- lower-case words joined by single spaces
    ngram_words UInt8,                      -- 2 to 4
    winner_count UInt64,                    -- winner prompts containing the n-gram
    loser_count UInt64,                     -- loser prompts containing the n-gram
    winner_prompts UInt64,                  -- winner base prompts of the species
    loser_prompts UInt64,                   -- loser base prompts of the species
    winner_freq Float64,                    -- winner_count / winner_prompts
    loser_freq Float64,                     -- loser_count / loser_prompts
    lift Float64,                           -- winner_freq - loser_freq
    z_score Float64,                        -- two-proportion z of the lift
    pattern_rank UInt32,                    -- 1 = highest lift within the species
    recommendation String
)
ENGINE = MergeTree()
ORDER BY (species_hash, pattern_rank);

-- One row per (analysed run, cell), against the cell's species over strictly earlier runs.
CREATE TABLE IF NOT EXISTS ${analytics}.cell_analytics
(
    session_id String,
    cascade_id String,
    created_at DateTime,                    -- the run's, for partitioning and history order
    cell_name String,
    species_hash Nullable(String),          -- NULL when the cell logged no species
    started_at DateTime64(6),               -- first row of the cell (execution order)
    cost Float64,
    duration_ms Float64,                    -- last row of the cell minus its first
    tokens_in UInt64,
    tokens_out UInt64,
    total_tokens UInt64,
    message_count UInt32,
    error_count UInt32,
    run_total_cost Float64,                 -- session_facts.total_cost of the run
    cost_share Float64,                     -- cost / run_total_cost, 0 for a free run
    species_run_count UInt64,               -- earlier runs with a cell of this species
    species_avg_cost Float64,               -- baselines are 0 without earlier runs
    species_stddev_cost Float64,
    species_avg_duration Float64,
    species_stddev_duration Float64,
    species_avg_tokens Float64,
    species_stddev_tokens Float64,
    cost_z_score Float64,                   -- 0 when the stddev is 0
    duration_z_score Float64,
    tokens_z_score Float64
)
ENGINE = MergeTree()
PARTITION BY toDate(created_at)
ORDER BY (cascade_id, created_at, session_id, cell_name);
