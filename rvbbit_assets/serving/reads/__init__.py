"""Read-side queries of the stored analytics tables, for the API, the page and the CLI.

Each takes an open StoreSession and only reads; SQL longer than a few lines is a `.sql` file
beside its module. The pipeline's assets write these tables and never import from here.

  forecasts.py      the stored daily forecast and weekly projection of a series
  cells.py          one run's cells against their species' earlier runs
  pareto.py         the stored Pareto frontier rows
  patterns.py       the stored winner patterns, by species
  cost_estimate.py  a run's cost before it runs, from the latest stored model version
"""
