"""The versioned migrations, shipped inside the package as `rvbbit_assets.migrations`.

pyproject.toml maps this folder to that package (`package-dir`), so a wheel carries the
`.sql` files and `rvbbit_assets/store/migrations.py` finds them through importlib.resources, in an
editable install and a wheel alike. `source/` holds RVBBIT's tables, `analytics/` ours.
"""
