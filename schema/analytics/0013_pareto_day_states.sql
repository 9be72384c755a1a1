-- pareto_frontier's sums per day: the decided takes of the runs session_facts holds for the
-- day, summed per (species, cascade, cell, model). The frontier adds up these states and the
-- takes of runs session_facts does not hold, so a new day reads only its own runs' logs. A
-- day's state is rewritten whenever session_facts rewrote the day after it (day_writes).
CREATE TABLE IF NOT EXISTS ${analytics}.pareto_day_states
(
    day Date,                               -- the UTC day of the runs' created_at
    species_hash String,
    cascade_id String,
    cell_name String,
    model String,
    take_count UInt64,                      -- decided takes
    run_count UInt64,                       -- distinct runs of those takes
    cost_takes UInt64,                      -- takes with a cost
    cost_sum Float64,                       -- USD, over cost_takes
    won_takes UInt64,
    scored_takes UInt64,                    -- takes with an evaluator_score in prompt_lineage
    score_sum Float64                       -- over scored_takes
)
ENGINE = MergeTree()
PARTITION BY day
ORDER BY (species_hash, cascade_id, cell_name, model);
