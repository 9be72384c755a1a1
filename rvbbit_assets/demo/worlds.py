"""Worlds: the shape of a demo load's costs, so detection is measured on more than one.

Production LLM cost is not one tidy bell curve. A share of calls falls back to a pricier
model the cascade uses routinely (a second cost mode), completion lengths vary by a factor of
several between runs of the same prompt (heavy tails), retries add calls, and cascades
appear in the middle of the history (sparse early baselines). A world sets how much of each
a load has; the catalog (what runs) and the planted effects (what to find) are the same in
every world.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class World:
    name: str
    description: str
    fallback_rate: float  # share of LLM calls answered by the cell's pricier fallback model
    output_sigma: float  # log-sd of completion length between calls of the same prompt
    # Degrees of freedom of that noise (Student's t in log space, scaled to output_sigma);
    # None for log-normal. Completions stop at max_tokens, so the noise is capped.
    output_tail_df: float | None
    input_sigma: float  # log-sd of prompt tokens around the template plus the input
    retry_rate: float  # share of runs in which one cell fails once and is called again
    extra_tool_round_rate: float  # share of tool calls that need another round (one more call)
    late_cascade: bool  # a cascade that starts in the middle of the history
    regression_through: str  # "output_tokens" (longer answers) or "all_tokens"

    def completion_noise(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """Multiplicative noise of completion lengths, capped at 4 sigma (max_tokens)."""
        if self.output_tail_df is None:
            z = rng.standard_normal(shape)
        else:
            df = self.output_tail_df
            z = rng.standard_t(df, shape) * np.sqrt((df - 2) / df)  # unit variance
        return np.exp(self.output_sigma * np.clip(z, -4.0, 4.0))


WORLDS: dict[str, World] = {
    world.name: world
    for world in (
        World(
            "classic",
            "The first demo's shape: one model per cell, tidy completion lengths, rare retries; "
            "the regression makes every token of its runs dearer.",
            fallback_rate=0.0,
            output_sigma=0.2,
            output_tail_df=None,
            input_sigma=0.08,
            retry_rate=0.01,
            extra_tool_round_rate=0.0,
            late_cascade=False,
            regression_through="all_tokens",
        ),
        World(
            "production",
            "What production looks like (the default): 8% of calls fall back to a pricier "
            "model, completions vary by a factor of several, retries and extra tool rounds "
            "add calls, a cascade starts mid-history, and the regression comes through longer "
            "answers.",
            fallback_rate=0.08,
            output_sigma=0.4,
            output_tail_df=6.0,
            input_sigma=0.12,
            retry_rate=0.04,
            extra_tool_round_rate=0.15,
            late_cascade=True,
            regression_through="output_tokens",
        ),
        World(
            "heavy",
            "Heavier tails and more fallbacks than production: 14% of calls fall back, "
            "completion noise is wider with a fatter tail, retries are twice as common.",
            fallback_rate=0.14,
            output_sigma=0.5,
            output_tail_df=5.0,
            input_sigma=0.18,
            retry_rate=0.08,
            extra_tool_round_rate=0.3,
            late_cascade=True,
            regression_through="output_tokens",
        ),
    )
}
DEFAULT_WORLD = "production"
