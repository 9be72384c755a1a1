"""Synthetic RVBBIT runs for the embedded store: `generate_demo(session, days, ...)`."""

from rvbbit_assets.demo.generate import DemoSummary, default_ground_truth_path, generate_demo

__all__ = ["DemoSummary", "default_ground_truth_path", "generate_demo"]
