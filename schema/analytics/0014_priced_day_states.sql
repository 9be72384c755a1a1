-- priced_runs' sums per day of session_facts' runs (the daily_models and daily_cells of
-- priced_runs.sql): a day is priced from the stored sums of its look-back days, not from
-- their runs again. A day's sums are rewritten whenever session_facts rewrote the day after
-- them (day_writes).

-- What each (cascade, cell, model) answered each day: in how many runs, at what cost.
CREATE TABLE IF NOT EXISTS ${analytics}.priced_day_models
(
    day Date,                               -- the UTC day of the runs' created_at
    cascade_id String,
    cell_name String,
    model String,
    output_weight Float64,                  -- the weight sum_weighted was summed with
    model_runs UInt64,
    sum_weighted Float64,                   -- tokens_in + output_weight x tokens_out
    sum_cost Float64,
    sum_in_in Float64,
    sum_in_out Float64,
    sum_out_out Float64,
    sum_in_cost Float64,
    sum_out_cost Float64
)
ENGINE = MergeTree()
PARTITION BY day
ORDER BY (cascade_id, cell_name, model);

-- Each (cascade, cell) each day: how many of its runs made how many calls.
CREATE TABLE IF NOT EXISTS ${analytics}.priced_day_cells
(
    day Date,
    cascade_id String,
    cell_name String,
    run_cell_calls Float64,                 -- calls of one run in the cell
    runs UInt64
)
ENGINE = MergeTree()
PARTITION BY day
ORDER BY (cascade_id, cell_name, run_cell_calls);
