-- The detection scores over `marked_runs` (marked_runs.sql).
SELECT
    countIf(is_spike) AS spikes,
    countIf(is_spike AND is_cost_outlier) / spikes AS design_spike_recall,
    countIf(is_spike AND is_cost_anomaly) / spikes AS robust_spike_recall,
    countIf(is_spike AND is_cost_anomaly AND cost_anomaly_driver = cause)
        / countIf(is_spike AND is_cost_anomaly) AS robust_driver_accuracy,
    countIf(is_ordinary) AS ordinary_runs,
    countIf(is_ordinary AND is_cost_outlier) / ordinary_runs AS design_cost_false_flags,
    countIf(is_ordinary AND is_cost_anomaly) / ordinary_runs AS robust_cost_false_flags,
    countIf(is_ordinary AND is_duration_outlier) / ordinary_runs AS design_duration_false_flags,
    countIf(is_ordinary AND is_duration_anomaly) / ordinary_runs AS robust_duration_false_flags,
    countIf(is_ordinary AND is_cost_anomaly AND input_category = 'huge')
        / countIf(is_ordinary AND input_category = 'huge') AS robust_huge_false_flags,
    countIf(is_regressed) AS regressed_runs,
    countIf(is_regressed AND is_regression) / regressed_runs AS design_regression_recall,
    countIf(is_regressed AND is_regression_significant) / regressed_runs
        AS robust_regression_recall,
    countIf(is_other_species) AS other_species_runs,
    countIf(is_other_species AND is_regression) / other_species_runs
        AS design_regression_false_flags,
    countIf(is_other_species AND is_regression_significant) / other_species_runs
        AS robust_regression_false_flags
FROM marked_runs
