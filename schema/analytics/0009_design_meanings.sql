-- Every field means what the design says (issue 17). The definitions are column comments
-- (system.columns.comment, and the Dagster UI's column schema): a changed meaning is a
-- COMMENT COLUMN here, a new column an ADD COLUMN with its comment. Beside the design's
-- fields, the stricter rules we had are kept as flags of their own (significant,
-- trend_significant), never as filters that hide the design's rows.

-- Takes are counted per (cell, take_index): take 1 of cell A and take 1 of cell B are two
-- takes. A run whose cost has not fully arrived is marked, so it does not look cheap.
ALTER TABLE ${analytics}.session_facts
    ADD COLUMN IF NOT EXISTS cost_complete Bool DEFAULT (null_cost_rows = 0)
        COMMENT 'true when every assistant row has its cost, false while a late cost is missing (total_cost is then too low)'
        AFTER null_cost_rows,
    COMMENT COLUMN candidate_count 'takes run: distinct (cell, take_index) pairs of the run plus its cascade-level take child sessions (sid_take_i)',
    COMMENT COLUMN winner_candidate_index 'the winning take_index of the last cell that ran takes, NULL when that cell has no winner',
    COMMENT COLUMN winner_cost 'sum over the cells that picked a winner of the cost of the winning take',
    COMMENT COLUMN loser_avg_cost 'mean cost of the losing takes of all cells that picked a winner',
    COMMENT COLUMN child_session_count 'sub-cascades: child sessions that are not cascade-level takes (sid_take_i) or reforge refinements (sid_reforgeS_i)',
    COMMENT COLUMN child_total_cost 'cost of the sub-cascades and of every session below them (grandchildren included), not of take or reforge children';

ALTER TABLE ${analytics}.anomaly_scores
    ADD COLUMN IF NOT EXISTS error_outlier_min_prior_runs UInt32 DEFAULT 20
        COMMENT 'earlier runs of the cascade is_error_outlier required (RVBBIT_ERROR_OUTLIER_MIN_PRIOR_RUNS)'
        AFTER is_error_outlier,
    COMMENT COLUMN is_error_outlier 'errors while under 5 percent of the earlier runs of the cascade had any, given at least error_outlier_min_prior_runs earlier runs';

ALTER TABLE ${analytics}.cascade_analytics
    ADD COLUMN IF NOT EXISTS cost_complete Bool DEFAULT true
        COMMENT 'false while a late cost is missing: total_cost is then too low'
        AFTER total_cost,
    ADD COLUMN IF NOT EXISTS error_outlier_min_prior_runs UInt32 DEFAULT 20
        COMMENT 'earlier runs of the cascade is_error_outlier required (RVBBIT_ERROR_OUTLIER_MIN_PRIOR_RUNS)'
        AFTER is_error_outlier,
    COMMENT COLUMN is_error_outlier 'errors while under 5 percent of the earlier runs of the cascade had any, given at least error_outlier_min_prior_runs earlier runs',
    COMMENT COLUMN candidate_count 'takes run: distinct (cell, take_index) pairs of the run plus its cascade-level take child sessions (sid_take_i)',
    COMMENT COLUMN winner_candidate_index 'the winning take_index of the last cell that ran takes, NULL when that cell has no winner',
    COMMENT COLUMN winner_cost 'sum over the cells that picked a winner of the cost of the winning take',
    COMMENT COLUMN loser_avg_cost 'mean cost of the losing takes of all cells that picked a winner',
    COMMENT COLUMN child_session_count 'sub-cascades: child sessions that are not cascade-level takes (sid_take_i) or reforge refinements (sid_reforgeS_i)',
    COMMENT COLUMN child_total_cost 'cost of the sub-cascades and of every session below them (grandchildren included), not of take or reforge children';

-- The design's rows: every n-gram and every model, with the evidence beside each.
ALTER TABLE ${analytics}.prompt_patterns
    ADD COLUMN IF NOT EXISTS significant Bool DEFAULT false
        COMMENT 'at least 20 winner and 20 loser base prompts, and z_score of at least 3'
        AFTER z_score,
    COMMENT COLUMN ngram_words 'always 3: the design mines trigrams',
    COMMENT COLUMN pattern_rank '1 = first within the species: significant rows first, then highest lift';

ALTER TABLE ${analytics}.pareto_frontier
    ADD COLUMN IF NOT EXISTS significant Bool DEFAULT false
        COMMENT 'this model, and its recommended model if any, each have at least 20 decided takes'
        AFTER is_pareto,
    ADD COLUMN IF NOT EXISTS is_pareto_among_significant Bool DEFAULT false
        COMMENT 'on the frontier of the models with at least 20 decided takes (false for the others)'
        AFTER significant,
    COMMENT COLUMN take_count 'decided takes of this model in this species and cell (the sample size)',
    COMMENT COLUMN models_compared 'models with a decided take in this species and cell',
    COMMENT COLUMN is_pareto 'the design: no other model of the species and cell is as cheap and as good and better in one',
    COMMENT COLUMN recommended_model 'cheapest frontier model of similar quality saving at least 10 percent, from the significant frontier when this model is significant and one qualifies';

-- The design's trend (the sign of its line's slope, confidence = its R squared) and ours.
ALTER TABLE ${analytics}.forecasts
    ADD COLUMN IF NOT EXISTS trend_significant LowCardinality(String) DEFAULT 'flat'
        COMMENT 'increasing or decreasing when the deseasonalised slope is significant (p below 0.05), else flat'
        AFTER trend,
    ADD COLUMN IF NOT EXISTS confidence Float64 DEFAULT 0
        COMMENT 'the design: R squared of the straight line through the fitted daily costs'
        AFTER trend_significant,
    COMMENT COLUMN trend 'the design: increasing or decreasing by the sign of the slope of the straight line through the fitted daily costs, flat only without any slope';

-- The design's alert message stays as written; what it leaves out goes here.
ALTER TABLE ${analytics}.alerts
    ADD COLUMN IF NOT EXISTS detail String DEFAULT ''
        COMMENT 'more than the message says (empty when there is nothing more)'
        AFTER message,
    COMMENT COLUMN alert_type 'the rule that raised it: one of the rules of alert_rules.sql (alerts.ALERT_TYPES)';
