"""Synthetic RVBBIT runs for the embedded store: `generate_demo(session, days, ...)`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rvbbit_assets.demo.generate import DemoSummary, default_ground_truth_path, generate_demo

__all__ = ["DemoSummary", "default_ground_truth_path", "generate_demo"]


def __getattr__(name: str) -> Any:
    """The generator, imported when first asked for: the command line reads worlds.py for
    its options without importing the generator (and the store, Dagster and pandas)."""
    if name in __all__:
        from rvbbit_assets.demo import generate

        return getattr(generate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
