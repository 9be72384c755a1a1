"""Pure models, rules and thresholds: no Dagster and no store (tests/test_layout.py).

The pipeline's assets fit and apply them; the API and the page word their results.

  forecasting.py       the daily cost forecast, its backtest and the projection sentence
  cost_model.py        the per-run cost model (features, candidates, a trained version)
  cost_training.py     training several model versions, over worker processes if worth it
  input_complexity.py  the design's input complexity score, exact and fast
  alert_rules.py       the alert rules (SQL) and their parameters
  pareto.py            the Pareto frontier's significance and advice thresholds
  worker_pool.py       the process pool those two share, started only when worth it
"""
