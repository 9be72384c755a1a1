-- Cost forecasts (the design's "Time-Series Forecasting"): the `forecasts` asset.
--
-- All three tables are recomputed whole from cascade_analytics on each materialization and
-- swapped in with REPLACE PARTITION tuple() (unpartitioned tables), so readers see the
-- previous or the new forecast of a table, never a mix. cascade_id '*' is the total of all
-- cascades; every money value is USD.

-- Daily cost for the 7 days after history_end (the last complete UTC day with data).
CREATE TABLE IF NOT EXISTS ${analytics}.forecasts
(
    cascade_id String,                      -- '*' is all cascades together
    day Date,                               -- UTC day forecast
    predicted_cost Float64,                 -- USD
    lower_bound Float64,                    -- 80% prediction interval (forecast_weekly.coverage)
    upper_bound Float64,
    trend LowCardinality(String),           -- increasing | decreasing (significant slope) | flat
    r_squared Float64,                      -- in-sample fit of the model to the daily history
    history_start Date,                     -- the fitted days: at most 30, zero-cost days included
    history_end Date,                       -- the last complete UTC day with analysed runs
    generated_at DateTime                   -- when the forecast was computed (UTC)
)
ENGINE = MergeTree()
ORDER BY (cascade_id, day);

-- The 7-day total of each forecast with its ± ("Projected weekly cost: 12.50 USD ± 2.30").
-- Kept apart because the ± of a sum is not a function of the daily bounds: the estimated
-- level is shared by all seven days, so their errors are correlated.
CREATE TABLE IF NOT EXISTS ${analytics}.forecast_weekly
(
    cascade_id String,
    first_day Date,
    last_day Date,
    projected_cost Float64,
    plus_minus Float64,                     -- half-width of the interval of the 7-day total
    coverage Float64,                       -- nominal coverage of every interval, e.g. 0.8
    generated_at DateTime
)
ENGINE = MergeTree()
ORDER BY cascade_id;

-- Rolling-origin backtest: origins at history_end - 7k (k = 1..8, while at least 14 days of
-- history precede them); each fold fits on the 30 days up to its origin, forecasts the 7 days
-- after it, and is compared with the naive "same day last week" forecast. One row per series
-- with at least one fold.
CREATE TABLE IF NOT EXISTS ${analytics}.forecast_backtest
(
    cascade_id String,
    folds UInt16,
    held_out_days UInt32,                   -- 7 per fold
    first_origin Date,
    last_origin Date,
    mean_daily_cost Float64,                -- of the held-out days, to read the MAEs against
    mae Float64,                            -- mean absolute daily error of our forecast
    naive_mae Float64,                      -- ... of "same as the same weekday last week"
    interval_coverage Float64,              -- share of held-out days inside the daily interval
    weekly_interval_coverage Float64,       -- share of folds whose 7-day total is inside its ±
    coverage_target Float64,
    generated_at DateTime
)
ENGINE = MergeTree()
ORDER BY cascade_id;
