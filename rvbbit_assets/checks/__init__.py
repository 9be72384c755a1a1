"""Data-quality checks on the per-run assets (add `pipeline_checks` to the Definitions)."""

from rvbbit_assets.checks.per_run_checks import pipeline_checks

__all__ = ["pipeline_checks"]
