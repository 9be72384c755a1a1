"""The query of robust_detection: the same statistics for cost and for duration, so the
per-metric SQL is built once from one template instead of being written out twice.

Every run of [{start}, {end}) is compared only with runs that started before it, in
(created_at, session_id) order, within {lookback_days}:

* Robust z = (value - median) / (1.4826 * MAD) over the last 100 prior runs of "inputs like
  this one": the same input when it has at least {min_prior_runs} of them (a frequent input
  can cost twice its category's median, every time), else the design's cluster (cascade x
  input category). When the history shows weekdays and weekends differ (both have at least
  {min_prior_runs} runs and their medians are more than one robust sigma apart), only runs of
  the same day type form the baseline. Below {min_prior_runs} runs the score is 0. The scale
  is floored at 20% of the median: near-identical priors (MAD 0) give large but finite scores
  for real changes and 0 for the usual value, and at the default threshold a run must cost
  70% more than usual to be flagged (smaller deviations are not worth a page; with a 1% floor
  the demo's ordinary runs were flagged at 1.2-1.5%, above the 1% target).
* Regression: Pettitt's change-point test (Mann-Whitney U at the best split) for a rise within
  the species' last 150 prior runs, for cost and for duration, with at least
  2 x {min_prior_runs} runs; the p-value is the smaller of the two, Bonferroni-corrected. It
  is significant below {alpha} only when at least 5 runs came after the change and the
  effect is at least the design's +20% cost or +30% duration (ratio of medians), so tiny but
  consistent shifts page no one. Unlike "last 10 against the 10 before", a rise stays
  flagged while the lookback still holds runs from before it.
"""

from __future__ import annotations

from string import Template

from rvbbit_assets.assets.history import with_history

MAD_TO_SIGMA = 1.4826  # MAD x this estimates the standard deviation of normal data
BASELINE_PRIOR_RUNS = 100  # of the same input, or of the cluster
SPECIES_PRIOR_RUNS = 150
MIN_SHIFTED_RUNS = 5  # a change seen in fewer runs is not yet a regression
MIN_RELATIVE_SCALE = 0.2  # the robust sigma is at least this share of the median
METRICS = {"cost": ("total_cost", 2, 0.20), "duration": ("total_duration_ms", 3, 0.30)}
KEYS = {
    "input_baseline": ("cascade_id, input_hash", BASELINE_PRIOR_RUNS, "true"),
    "cluster_baseline": ("cascade_id, input_category", BASELINE_PRIOR_RUNS, "true"),
    "species_history": ("species_hash_primary", SPECIES_PRIOR_RUNS,
                     "species_hash_primary IS NOT NULL"),
}

# Per key (an input, a cluster, a species): each run of [start, end) with the up to $limit
# runs before it (in (created_at, session_id) order) within the lookback. The key's runs are
# sorted once and cut into sliding windows of $limit + 1 runs (arrayShingles) ending at each
# run to score; the front is padded with runs older than any lookback, so every window is
# full. Only the scored runs get a window: memory follows them, not the history read.
_PRIORS_BY_KEY = """
$name AS (
    SELECT
        window[$limit + 1].2 AS session_id,
        window[$limit + 1].1 - toIntervalDay({lookback_days:UInt16}) AS oldest_prior,
        arrayMap(r -> (r.1, r.3, r.4, r.5),
                 arrayFilter(r -> r.1 >= oldest_prior, arraySlice(window, 1, $limit)))
            AS priors
    FROM
    (
        SELECT
            arraySort(r -> (r.1, r.2),
                      groupArray((created_at, session_id, total_cost, total_duration_ms,
                                  is_weekend))) AS sorted,
            arrayFirstIndex(r -> r.1 >= {start:DateTime}, sorted) AS first_scored,
            arrayShingles(
                arrayConcat(arrayWithConstant($limit, (toDateTime(0), '', 0., 0., false)),
                            arraySlice(sorted, greatest(1, first_scored - $limit))),
                $limit + 1) AS windows
        FROM recent
        WHERE $key_present
        GROUP BY $key
        HAVING first_scored > 0
    )
    ARRAY JOIN windows AS window
    WHERE window[$limit + 1].1 >= {start:DateTime}
)"""

_PRIORS = """
WITH
recent AS (
    SELECT *, toDayOfWeek(created_at) >= 6 AS is_weekend
    FROM history
    WHERE created_at >= {start:DateTime} - toIntervalDay({lookback_days:UInt16})
),$by_key
SELECT
    t.session_id AS session_id, t.cascade_id AS cascade_id, t.created_at AS created_at,
    t.total_cost AS total_cost, t.total_duration_ms AS total_duration_ms,
    t.is_weekend AS is_weekend,
    input_baseline.priors AS input_priors,
    cluster_baseline.priors AS cluster_priors,
    species_history.priors AS species_priors  -- [] for a run without a species
FROM recent AS t
INNER JOIN input_baseline ON input_baseline.session_id = t.session_id
INNER JOIN cluster_baseline ON cluster_baseline.session_id = t.session_id
LEFT JOIN species_history ON species_history.session_id = t.session_id
WHERE t.created_at >= {start:DateTime}
"""

# Prior runs are (created_at, total_cost, total_duration_ms, is_weekend) tuples.
# Per metric: the baseline (pooled or same day type), its median and robust sigma, the score.
_ROBUST_Z = """
    arrayMap(r -> r.$field, baseline_priors) AS ${metric}_priors,
    arrayMap(r -> r.$field, arrayFilter(r -> r.4 = is_weekend, baseline_priors))
        AS ${metric}_same_day_type,
    arrayMap(r -> r.$field, arrayFilter(r -> r.4 != is_weekend, baseline_priors))
        AS ${metric}_other_day_type,
    arrayReduce('median', ${metric}_priors) AS ${metric}_pooled_median,
    $sigma * arrayReduce('median', arrayMap(x -> abs(x - ${metric}_pooled_median),
                                            ${metric}_priors)) AS ${metric}_pooled_sigma,
    length(${metric}_same_day_type) >= {min_prior_runs:UInt32}
        AND length(${metric}_other_day_type) >= {min_prior_runs:UInt32}
        AND abs(arrayReduce('median', ${metric}_same_day_type)
                - arrayReduce('median', ${metric}_other_day_type)) > ${metric}_pooled_sigma
        AS ${metric}_by_day_type,
    if(${metric}_by_day_type, ${metric}_same_day_type, ${metric}_priors) AS ${metric}_baseline,
    arrayReduce('median', ${metric}_baseline) AS ${metric}_median,
    greatest($sigma * arrayReduce('median', arrayMap(x -> abs(x - ${metric}_median),
                                                     ${metric}_baseline)),
             $floor * abs(${metric}_median)) AS ${metric}_robust_sigma,
    if(length(${metric}_baseline) < {min_prior_runs:UInt32} OR ${metric}_robust_sigma = 0, 0,
       ($column - ${metric}_median) / ${metric}_robust_sigma) AS ${metric}_robust_z,"""

# Per metric: Pettitt's change-point test for a rise within the species' prior runs. With
# r_i the ranks of the n runs, U_t = t(n + 1) - 2 * sum(r_1..r_t) is the Mann-Whitney
# statistic of runs after t against runs up to t; K = max U_t, p ~ exp(-6K^2 / (n^3 + n^2)).
_REGRESSION_TEST = """
    arrayMap(r -> r.$field, species_priors) AS ${metric}_series,
    arraySort((i, x) -> x, arrayEnumerate(${metric}_series), ${metric}_series)
        AS ${metric}_by_value,
    arraySort((rank, i) -> i, arrayEnumerate(${metric}_by_value), ${metric}_by_value)
        AS ${metric}_ranks,
    arrayMap((t, rank_sum) -> toInt64(t * (species_runs + 1)) - toInt64(2 * rank_sum),
             arrayEnumerate(${metric}_ranks), arrayCumSum(${metric}_ranks)) AS ${metric}_rise,
    arrayMax(${metric}_rise) AS ${metric}_k,
    arrayFirstIndex(u -> u = ${metric}_k, ${metric}_rise) AS ${metric}_change_after,
    if(${metric}_k <= 0, 1,
       exp(-6 * pow(${metric}_k, 2) / (pow(species_runs, 3) + pow(species_runs, 2))))
        AS ${metric}_p_value,
    species_runs - ${metric}_change_after >= $min_shifted_runs
        AND arrayReduce('median', arraySlice(${metric}_series, ${metric}_change_after + 1))
            >= (1 + $effect_floor)
               * arrayReduce('median', arraySlice(${metric}_series, 1, ${metric}_change_after))
        AS ${metric}_shifted,"""

_SELECT = """
SELECT
    session_id,
    cascade_id,
    created_at,
    toFloat32(cost_robust_z) AS cost_robust_z,
    toFloat32(duration_robust_z) AS duration_robust_z,
    cost_robust_z > {threshold:Float64} AS is_cost_anomaly,
    duration_robust_z > {threshold:Float64} AS is_duration_anomaly,
    if(baseline_is_same_input, 'input', 'cluster') AS baseline_kind,
    toUInt32(length(cost_baseline)) AS baseline_runs,
    cost_by_day_type OR duration_by_day_type AS baseline_by_day_type,
    toFloat32(cost_median) AS baseline_median_cost,
    toFloat32(duration_median) AS baseline_median_duration,
    species_runs >= 2 * {min_prior_runs:UInt32} AS enough_species_history,
    if(enough_species_history,
       toFloat32(least(1, 2 * least(cost_p_value, duration_p_value))), NULL)
        AS regression_p_value,
    enough_species_history
        AND ((2 * cost_p_value < {alpha:Float64} AND cost_shifted)
             OR (2 * duration_p_value < {alpha:Float64} AND duration_shifted))
        AS is_regression_significant
FROM
(
    SELECT
        *,
        length(input_priors) >= {min_prior_runs:UInt32} AS baseline_is_same_input,
        if(baseline_is_same_input, input_priors, cluster_priors) AS baseline_priors,
        length(species_priors) AS species_runs,$columns
    FROM ($priors)
)
-- Every run carries a few dozen arrays of up to 150 earlier runs through this query: small
-- blocks keep that within memory whatever the number of runs scored.
SETTINGS max_block_size = 4096
"""


def robust_detection_sql() -> str:
    """The stage query; bound parameters: start, end, lookback_days, min_prior_runs,
    threshold, alpha (the settings of robust_detection.py)."""
    columns = "".join(
        Template(part).substitute(
            metric=metric, column=column, field=field, effect_floor=floor,
            sigma=MAD_TO_SIGMA, floor=MIN_RELATIVE_SCALE, min_shifted_runs=MIN_SHIFTED_RUNS,
        )
        for metric, (column, field, floor) in METRICS.items()
        for part in (_ROBUST_Z, _REGRESSION_TEST)
    ).removesuffix(",")  # each part ends its columns with a comma, ready for the next
    by_key = ",".join(
        Template(_PRIORS_BY_KEY).substitute(name=name, key=key, limit=limit, key_present=present)
        for name, (key, limit, present) in KEYS.items()
    )
    priors = Template(_PRIORS).substitute(by_key=by_key)
    query = Template(_SELECT).substitute(columns=columns, priors=priors)
    return with_history(query)
