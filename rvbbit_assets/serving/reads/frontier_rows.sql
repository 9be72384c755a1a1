-- Stored frontier rows for people (API, page): significant ones first, then the largest
-- evidence; one cascade's or all (NULL), only rows with advice when {advised_only}.
-- `total_rows` counts every matching row, before the limit.
SELECT
    species_hash, cascade_id, cell_name, model, take_count, run_count, avg_cost, win_rate,
    quality_metric, avg_quality, models_compared, is_pareto, significant,
    is_pareto_among_significant, recommended_model, cost_saving, recommendation,
    count() OVER () AS total_rows
FROM ${analytics}.pareto_frontier
WHERE ({cascade_id:Nullable(String)} IS NULL OR cascade_id = {cascade_id:Nullable(String)})
  AND (NOT {advised_only:Bool} OR recommendation != '')
ORDER BY significant DESC, take_count DESC, cost_saving DESC, species_hash, cascade_id,
         cell_name, model
LIMIT {limit:UInt32}
