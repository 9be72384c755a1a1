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
from rvbbit_assets.assets.per_run import reads_earlier_days
from rvbbit_assets.assets.priced_runs import priced_runs
from rvbbit_assets.assets.prompt_patterns import prompt_patterns
from rvbbit_assets.assets.regression_flags import regression_flags
from rvbbit_assets.assets.session_facts import session_facts

# The stages that read every earlier day's facts (run_stage_over_history) say so here.
per_run_assets = [
    session_facts,
    input_clusters,
    reads_earlier_days(priced_runs),
    reads_earlier_days(baselines),
    anomaly_scores,
    reads_earlier_days(regression_flags),
    reads_earlier_days(cost_prediction_model),
    cascade_analytics,
    alerts,
    reads_earlier_days(cell_analytics),
]

# Unpartitioned assets over all analysed runs, refreshed after each per-run materialization.
refreshed_after_runs = [forecasts, pareto_frontier, prompt_patterns]

# Every asset the pipeline writes to the store (one run at a time: orchestration/run_exclusion.py).
store_asset_keys = frozenset(a.key for a in [*per_run_assets, *refreshed_after_runs])
