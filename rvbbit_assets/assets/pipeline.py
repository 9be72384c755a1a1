"""The assets in pipeline order (defined once; definitions, CLI and sensor use these lists)."""

from rvbbit_assets.assets.alerts import alerts
from rvbbit_assets.assets.anomaly_scores import anomaly_scores
from rvbbit_assets.assets.baselines import baselines
from rvbbit_assets.assets.cascade_analytics import cascade_analytics
from rvbbit_assets.assets.cell_analytics import cell_analytics
from rvbbit_assets.assets.cost_prediction_model import cost_prediction_model
from rvbbit_assets.assets.forecasts import forecasts
from rvbbit_assets.assets.input_clusters import input_clusters
from rvbbit_assets.assets.pareto_frontier import pareto_frontier
from rvbbit_assets.assets.priced_runs import priced_runs
from rvbbit_assets.assets.prompt_patterns import prompt_patterns
from rvbbit_assets.assets.regression_flags import regression_flags
from rvbbit_assets.assets.session_facts import session_facts

per_run_assets = [
    session_facts,
    input_clusters,
    priced_runs,
    baselines,
    anomaly_scores,
    regression_flags,
    cost_prediction_model,
    cascade_analytics,
    alerts,
    cell_analytics,
]

# Unpartitioned assets over all analysed runs, refreshed after each per-run materialization.
refreshed_after_runs = [forecasts, pareto_frontier, prompt_patterns]
