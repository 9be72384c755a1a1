"""What the demo RVBBIT installation runs: models with their prices, cascades, cells, and
the rates and planted effects the generator draws from.

Everything here is static; the generator only draws random numbers against it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Model:
    """An LLM as OpenRouter bills it: USD per million tokens, plus a typical speed."""

    name: str
    input_per_million: float
    output_per_million: float
    seconds_per_output_token: float
    quality: float  # mean evaluator score of its takes


# List prices of the models, per million tokens.
MODELS: tuple[Model, ...] = (
    Model("openai/gpt-4o-mini", 0.15, 0.60, 0.012, 0.62),
    Model("openai/gpt-4o", 2.50, 10.00, 0.015, 0.76),
    Model("openai/gpt-4.1", 2.00, 8.00, 0.014, 0.80),
    Model("openai/o4-mini", 1.10, 4.40, 0.020, 0.80),
    Model("anthropic/claude-sonnet-4", 3.00, 15.00, 0.018, 0.78),
    Model("anthropic/claude-3.5-haiku", 0.80, 4.00, 0.010, 0.66),
    Model("google/gemini-2.5-flash", 0.30, 2.50, 0.006, 0.70),
    Model("google/gemini-2.0-flash-001", 0.10, 0.40, 0.005, 0.60),
    # Premium models: no cascade is configured for them; a planted spike routes a run there.
    Model("anthropic/claude-opus-4", 15.00, 75.00, 0.030, 0.84),
    Model("openai/o1", 15.00, 60.00, 0.040, 0.83),
)
MODEL_NAMES: tuple[str, ...] = tuple(m.name for m in MODELS)
MODEL_CODE: dict[str, int] = {name: i for i, name in enumerate(MODEL_NAMES)}
INPUT_PRICE = np.array([m.input_per_million for m in MODELS])
OUTPUT_PRICE = np.array([m.output_per_million for m in MODELS])
SECONDS_PER_TOKEN = np.array([m.seconds_per_output_token for m in MODELS])
QUALITY = np.array([m.quality for m in MODELS])
PROVIDER = "openrouter"


def cost_usd(model: np.ndarray, tokens_in: np.ndarray, tokens_out: np.ndarray) -> np.ndarray:
    """What OpenRouter bills for calls: list price per token, in and out."""
    return (tokens_in * INPUT_PRICE[model] + tokens_out * OUTPUT_PRICE[model]) / 1_000_000


@dataclass(frozen=True)
class Cell:
    """An LLM cell: its instructions template and how its calls behave."""

    name: str
    instructions: str
    models: tuple[str, ...]  # a single call uses the first; takes draw from all of them
    fallback: str  # the pricier model the runner falls back to (errors, rate limits)
    prompt_tokens: int = 300  # tokens of the rendered instructions without the input
    input_share: float = 1.0  # share of the run's input tokens that reach this cell
    output_tokens: int = 200  # median completion tokens
    takes: int = 0  # parallel attempts; 0 = a single call
    permute_take_models: bool = False  # every take set runs each model once
    reforge_steps: int = 0  # every run refines its answer over this many steps (config)
    tool: str | None = None
    tool_rate: float = 0.0
    sub_cascade: str | None = None
    sub_rate: float = 0.0
    responses: tuple[str, ...] = ("Done.",)

    def config(self) -> dict[str, Any]:
        """The cell config that enters the species hash (the model does not)."""
        config: dict[str, Any] = {"name": self.name}
        if self.takes:
            config["takes"] = {"factor": self.takes, "evaluator": "llm"}
        if self.reforge_steps:
            config["reforge"] = {"steps": self.reforge_steps}
        if self.tool:
            config["tools"] = [self.tool]
        if self.sub_cascade:
            config["sub_cascades"] = [self.sub_cascade]
        return config


@dataclass(frozen=True)
class Cascade:
    cascade_id: str
    description: str
    cells: tuple[Cell, ...]
    share: float  # of top-level runs
    origin_weights: tuple[float, float, float]  # see ORIGINS
    input_shape: str
    size_weights: tuple[float, float, float, float, float]  # see SIZE_CLASSES
    premium_model: str  # a model the cascade never uses; planted spikes route runs to it
    loop_cell: str  # the cell a planted loop repeats
    starts_at: float = 0.0  # share of the history that passes before its first run

    @property
    def config_path(self) -> str:
        return f"cascades/{self.cascade_id}.yaml"

    @cached_property
    def definition(self) -> str:
        return json.dumps(
            {
                "cascade_id": self.cascade_id,
                "description": self.description,
                "cells": [
                    {"name": c.name, "instructions": c.instructions, "model": c.models[0]}
                    | c.config()
                    for c in self.cells
                ],
            }
        )


ORIGINS: tuple[str, ...] = ("sql", "cli", "ui")
# Input sizes in characters: a class is drawn, then a size log-uniformly inside it.
SIZE_CLASSES: tuple[tuple[int, int], ...] = (
    (4, 60),  # tiny
    (60, 600),  # small
    (600, 5_000),  # medium
    (5_000, 20_000),  # large
    (20_000, 50_000),  # huge
)

_SHORT = ("Done.", "OK.", "Completed as requested.")

CASCADES: tuple[Cascade, ...] = (
    Cascade(
        "sql_enrich_rows",
        "Enrich one table row with a short LLM-written attribute (RVBBIT MAP).",
        (
            Cell(
                "enrich",
                "Given the row {{ input.row }}, write the missing attribute in one line.",
                ("google/gemini-2.0-flash-001",),
                "google/gemini-2.5-flash",
                prompt_tokens=180,
                output_tokens=40,
                responses=('{"segment": "smb"}', '{"segment": "enterprise"}', '{"sentiment": 0.4}'),
            ),
        ),
        share=0.38,
        origin_weights=(0.9, 0.05, 0.05),
        input_shape="row",
        size_weights=(0.35, 0.5, 0.15, 0.0, 0.0),
        premium_model="anthropic/claude-opus-4",
        loop_cell="enrich",
    ),
    Cascade(
        "support_triage",
        "Classify a support ticket and draft a reply.",
        (
            Cell(
                "classify",
                "Classify this ticket by product area and urgency: {{ input.ticket }}",
                ("google/gemini-2.5-flash",),
                "openai/gpt-4.1",
                prompt_tokens=250,
                output_tokens=25,
                responses=('"billing/high"', '"shipping/low"', '"account/medium"'),
            ),
            Cell(
                "draft_reply",
                "Draft a reply to the customer for ticket {{ input.ticket }} in a friendly tone.",
                ("openai/o4-mini", "openai/gpt-4.1", "openai/gpt-4o-mini"),
                "openai/gpt-4o",
                prompt_tokens=600,
                output_tokens=350,
                takes=3,
                permute_take_models=True,
                responses=(
                    '"Hi! Sorry about the delay, your refund is on its way."',
                    '"Thanks for reaching out, we have reset your password."',
                ),
            ),
        ),
        share=0.22,
        origin_weights=(0.3, 0.2, 0.5),
        input_shape="ticket",
        size_weights=(0.05, 0.45, 0.4, 0.08, 0.02),
        premium_model="anthropic/claude-opus-4",
        loop_cell="draft_reply",
    ),
    Cascade(
        "doc_qa",
        "Answer a question from the attached documents.",
        (
            Cell(
                "retrieve_context",
                "Pick the passages of {{ input.documents }} that answer {{ input.question }}.",
                ("openai/gpt-4o-mini",),
                "openai/gpt-4o",
                prompt_tokens=300,
                output_tokens=120,
                tool="vector_search",
                tool_rate=0.5,
                responses=('"Passages 2 and 5 are relevant."', '"Section 3.1 covers it."'),
            ),
            Cell(
                "answer",
                "Answer {{ input.question }} using only the retrieved passages; cite them.",
                ("anthropic/claude-sonnet-4",),
                "openai/gpt-4o",
                prompt_tokens=400,
                input_share=0.6,
                output_tokens=400,
                responses=('"The warranty lasts 24 months [2]."', '"Yes, since v2.3 [1][4]."'),
            ),
        ),
        share=0.20,
        origin_weights=(0.3, 0.3, 0.4),
        input_shape="documents",
        size_weights=(0.02, 0.2, 0.48, 0.22, 0.08),
        premium_model="openai/o1",
        loop_cell="answer",
    ),
    Cascade(
        "code_review",
        "Review a pull request diff and suggest changes.",
        (
            Cell(
                "analyze",
                "Review the diff {{ input.diff }} and list the defects you find.",
                ("anthropic/claude-sonnet-4", "openai/gpt-4o", "google/gemini-2.5-flash"),
                "openai/gpt-4.1",
                prompt_tokens=700,
                output_tokens=500,
                takes=3,
                permute_take_models=True,
                responses=('"1. Off-by-one in the pager."', '"No defects found."'),
            ),
            Cell(
                "suggest",
                "Propose concrete fixes for the defects found.",
                ("openai/gpt-4.1",),
                "anthropic/claude-sonnet-4",
                prompt_tokens=400,
                input_share=0.5,
                output_tokens=300,
                reforge_steps=2,
                responses=('"Use range(len(x) - 1)."', '"Guard against None."'),
            ),
            Cell(
                "format",
                "Format the review as GitHub markdown.",
                ("openai/gpt-4o-mini",),
                "openai/gpt-4o",
                prompt_tokens=200,
                input_share=0.1,
                output_tokens=250,
                responses=_SHORT,
            ),
        ),
        share=0.12,
        origin_weights=(0.0, 0.6, 0.4),
        input_shape="diff",
        size_weights=(0.02, 0.18, 0.55, 0.2, 0.05),
        premium_model="anthropic/claude-opus-4",
        loop_cell="suggest",
    ),
    Cascade(
        "research_report",
        "Plan, gather sources, write and review a short research report.",
        (
            Cell(
                "plan",
                "Plan a report on {{ input.topic }}.",
                ("openai/gpt-4o-mini",),
                "openai/gpt-4o",
                prompt_tokens=250,
                input_share=0.3,
                output_tokens=200,
                responses=('"1. Background 2. Findings 3. Outlook"',),
            ),
            Cell(
                "gather",
                "Collect evidence for the plan from {{ input.sources }}.",
                ("google/gemini-2.5-flash",),
                "openai/gpt-4.1",
                prompt_tokens=350,
                output_tokens=300,
                tool="web_search",
                tool_rate=0.8,
                sub_cascade="fact_check",
                sub_rate=0.5,
                responses=('"Found 6 relevant sources."', '"Found 3 relevant sources."'),
            ),
            Cell(
                "write",
                "Write the report following the plan and the evidence.",
                ("anthropic/claude-sonnet-4",),
                "openai/gpt-4o",
                prompt_tokens=500,
                input_share=0.5,
                output_tokens=900,
                reforge_steps=2,
                responses=('"# Report\\n..."',),
            ),
            Cell(
                "review",
                "Review the report for factual errors and tone.",
                ("openai/gpt-4.1",),
                "anthropic/claude-sonnet-4",
                prompt_tokens=300,
                input_share=0.2,
                output_tokens=250,
                responses=('"Approved."', '"Approved with two edits."'),
            ),
        ),
        share=0.08,
        origin_weights=(0.0, 0.4, 0.6),
        input_shape="research",
        size_weights=(0.05, 0.35, 0.35, 0.17, 0.08),
        premium_model="openai/o1",
        loop_cell="write",
    ),
    Cascade(
        "fact_check",
        "Check claims against trusted sources (run as a sub-cascade).",
        (
            Cell(
                "verify",
                "Verify each claim in {{ input.claims }}; answer true, false or unknown.",
                ("openai/gpt-4o-mini",),
                "openai/gpt-4o",
                prompt_tokens=300,
                output_tokens=150,
                responses=('"true, true, unknown"', '"false"'),
            ),
        ),
        share=0.0,
        origin_weights=(0.0, 1.0, 0.0),
        input_shape="claims",
        size_weights=(0.1, 0.7, 0.2, 0.0, 0.0),
        premium_model="anthropic/claude-opus-4",
        loop_cell="verify",
    ),
    Cascade(
        "invoice_extract",
        "Extract line items and totals from an invoice, then check them (new mid-history).",
        (
            Cell(
                "extract",
                "Extract the vendor, line items and totals of {{ input.invoice }} as JSON.",
                ("google/gemini-2.5-flash",),
                "openai/gpt-4o",
                prompt_tokens=350,
                output_tokens=300,
                responses=('{"vendor": "Acme", "total": 1280.5}', '{"vendor": "Globex"}'),
            ),
            Cell(
                "validate",
                "Check that the extracted totals add up.",
                ("openai/gpt-4o-mini",),
                "openai/gpt-4o",
                prompt_tokens=200,
                input_share=0.2,
                output_tokens=60,
                responses=('"valid"', '"totals differ by 0.50"'),
            ),
        ),
        share=0.08,
        origin_weights=(0.5, 0.2, 0.3),
        input_shape="invoice",
        size_weights=(0.0, 0.2, 0.5, 0.25, 0.05),
        premium_model="anthropic/claude-opus-4",
        loop_cell="extract",
        starts_at=0.4,
    ),
)
CASCADE_CODE: dict[str, int] = {c.cascade_id: i for i, c in enumerate(CASCADES)}


def top_level_share(late_cascades: bool) -> np.ndarray:
    """How top-level runs spread over the cascades; without late cascades, none start late."""
    shares = np.array([c.share if late_cascades or not c.starts_at else 0.0 for c in CASCADES])
    return shares / shares.sum()

# Style phrases the take prompts are assembled from; each take draws its own subset.
STYLE_PHRASES: tuple[str, ...] = (
    "Be concise.",
    "Cite the exact lines you rely on.",
    "Let's think step by step.",
    "Use bullet points.",
    "Double-check names and numbers.",
    "Answer in the customer's language.",
)
STYLE_PHRASE_RATE = 0.35
# Generation-1 takes: the take prompt rewritten by a mutation of the base prompt.
MUTATIONS: tuple[tuple[str, str, str], ...] = (
    ("rewrite", "Rewrite the instructions to be more specific.", "State the output format."),
    ("augment", "Add a constraint that improves reliability.", "Verify each claim first."),
)
MUTATION_RATE = 0.05

# Ordinary rates.
FATAL_ERROR_RATE = 0.015  # a cell fails and the run ends with cascade_error
TAKE_ERROR_RATE = 0.03
LATE_COST_RATE = 0.03  # assistant rows whose cost arrives after the insert
PENDING_COST_SECONDS = 90  # costs of the last seconds have not arrived yet
UI_USER_MESSAGE = '"Run it on the attached input, please."'

# Planted effects (see truth.py for how they are recorded).
# Cost spikes, each of a real failure mode, named by the factor that makes it expensive:
#   input_tokens   a context blow-up: every prompt of the run is several times longer
#   output_tokens  runaway answers: every completion of the run is several times longer
#   extra_calls    a loop: the cascade's loop cell calls its model many more times
#   model_price    the run is routed to a premium model the cascade never uses otherwise
SPIKE_KINDS: tuple[str, ...] = ("input_tokens", "output_tokens", "extra_calls", "model_price")
SPIKE_RATE = 0.004
SPIKE_MULTIPLIER = (6.0, 12.0)  # of the tokens, for the two token kinds
LOOP_EXTRA_CALLS = (8, 16)
RUNNING_RATE = 0.002
ABANDONED_RATE = 0.0005
REGRESSION_CASCADE, REGRESSION_CELL, REGRESSION_FACTOR = "doc_qa", "answer", 1.6
CHEAP_CASCADE, CHEAP_CELL = "support_triage", "draft_reply"
CHEAP_MODEL, BASELINE_MODEL = "openai/o4-mini", "openai/gpt-4.1"
PHRASE_CASCADE, PHRASE_CELL = "code_review", "analyze"
WINNING_PHRASE = "think step by step"
PHRASE_SCORE_BONUS = 0.25
# The planted regression and phrase live on the most frequent input (rank 0) of their cascade.
PLANTED_INPUT_RANK = 0
