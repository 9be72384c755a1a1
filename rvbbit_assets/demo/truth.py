"""The planted ground truth: what the demo load contains on purpose, for the pipeline's
tests and demos to find again. Gathered chunk by chunk from the generated rows themselves.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from rvbbit_assets.demo import catalog as cat
from rvbbit_assets.demo.chunk import Chunk
from rvbbit_assets.demo.events import NODE
from rvbbit_assets.demo.inputs import SPECIAL_INPUTS, InputPool
from rvbbit_assets.demo.plan import MICROS, Plan
from rvbbit_assets.demo.runs import NO_CUT

SAMPLE_FILLED_IDS = 50


def _cell_position(cascade_id: str, cell_name: str) -> int:
    cascade = cat.CASCADES[cat.CASCADE_CODE[cascade_id]]
    return [c.name for c in cascade.cells].index(cell_name)


class GroundTruth:
    def __init__(self, plan: Plan, pools: list[InputPool]) -> None:
        self.plan = plan
        regression_pool = pools[cat.CASCADE_CODE[cat.REGRESSION_CASCADE]]
        regression_cells = cat.CASCADES[cat.CASCADE_CODE[cat.REGRESSION_CASCADE]].cells
        self.regression_cell_species = {
            cell.name: regression_pool.species[p, cat.PLANTED_INPUT_RANK]
            for p, cell in enumerate(regression_cells)
        }
        self.regression_species = self.regression_cell_species[cat.REGRESSION_CELL]
        self.regression_input = regression_pool.texts[cat.PLANTED_INPUT_RANK]
        self.phrase_species = pools[cat.CASCADE_CODE[cat.PHRASE_CASCADE]].species[
            _cell_position(cat.PHRASE_CASCADE, cat.PHRASE_CELL), cat.PLANTED_INPUT_RANK
        ]
        self.counts: dict[str, int] = defaultdict(int)
        self.spikes: list[dict[str, Any]] = []
        self.running: list[str] = []
        self.abandoned: list[str] = []
        self.regression_cost = {"before": [0.0, 0], "after": [0.0, 0]}  # cost sum, runs
        self.models: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.phrase = {"winners": 0, "winners_with": 0, "losers": 0, "losers_with": 0}
        self.filled_sample: list[str] = []
        self.oddities: dict[str, Any] = {}

    def add(self, chunk: Chunk) -> None:
        finished = self._runs(chunk)
        self._spikes_and_unfinished(chunk, finished)
        self._regression(chunk)
        self._lineage(chunk)
        self._late_costs(chunk)
        if not self.oddities:
            self._odd_runs(chunk)

    def _runs(self, chunk: Chunk) -> np.ndarray:
        s, rows = chunk.sessions, chunk.rows
        completion = (rows.node == NODE["cascade_completed"]) | (rows.node == NODE["cascade_error"])
        finished = np.zeros(len(s), dtype=bool)
        finished[rows.sess[completion]] = True
        c = self.counts
        c["runs"] += int(chunk.present.sum())
        c["top_level_runs"] += int((chunk.present & (s.depth == 0)).sum())
        c["child_runs"] += int((chunk.present & (s.depth > 0)).sum())
        c["finished_runs"] += int(finished.sum())
        c["failed_runs"] += int((rows.node == NODE["cascade_error"]).sum())
        c["log_rows"] += len(rows)
        c["lineage_rows"] += len(chunk.lineage_frame)
        return finished

    def _spikes_and_unfinished(self, chunk: Chunk, finished: np.ndarray) -> None:
        s = chunk.sessions
        for i in np.flatnonzero(finished & (s.spike_kind >= 0)).tolist():
            cascade = cat.CASCADES[s.cascade[i]]
            cause = cat.SPIKE_KINDS[s.spike_kind[i]]
            self.spikes.append(
                {
                    "session_id": s.session_id[i],
                    "cascade_id": cascade.cascade_id,
                    "cause": cause,
                    # The token multiplier, the extra calls of the loop cell, or the model.
                    "size": {
                        "input_tokens": float(s.spike_size[i]),
                        "output_tokens": float(s.spike_size[i]),
                        "extra_calls": int(s.spike_size[i]),
                        "model_price": cascade.premium_model,
                    }[cause],
                    "cell_name": cascade.loop_cell if cause == "extra_calls" else None,
                }
            )
        unfinished = chunk.present & ~finished
        self.abandoned += s.session_id[unfinished & (s.cut_order < NO_CUT)].tolist()
        self.running += s.session_id[unfinished & (s.cut_order == NO_CUT)].tolist()

    def _regression(self, chunk: Chunk) -> None:
        rows = chunk.rows
        agent = rows.node == NODE["agent"]
        mine = np.flatnonzero(agent & (rows.species == self.regression_species))
        if not len(mine):
            return
        runs, run_of_row = np.unique(rows.sess[mine], return_inverse=True)
        cost = np.bincount(run_of_row, weights=chunk.full_cost[mine])
        after = chunk.sessions.day[runs] >= self.plan.regression_day
        for key, part in (("after", after), ("before", ~after)):
            self.regression_cost[key][0] += float(cost[part].sum())
            self.regression_cost[key][1] += int(part.sum())

    def _lineage(self, chunk: Chunk) -> None:
        frame = chunk.lineage_frame
        cell = (frame["cascade_id"] == cat.CHEAP_CASCADE) & (frame["cell_name"] == cat.CHEAP_CELL)
        cheap = frame[cell]
        for model, group in cheap.groupby("model", sort=True):
            stats = self.models[str(model)]
            stats["takes"] += len(group)
            stats["wins"] += int(group["is_winner"].sum())
            stats["score_sum"] += float(group["evaluator_score"].astype(float).sum())
            stats["cost_sum"] += float(group["cost"].sum())
        base = frame[(frame["species_hash"] == self.phrase_species) & (frame["generation"] == 0)]
        has_phrase = base["full_prompt_text"].str.contains(cat.WINNING_PHRASE, regex=False)
        winner = base["is_winner"].to_numpy(dtype=bool)
        self.phrase["winners"] += int(winner.sum())
        self.phrase["losers"] += int((~winner).sum())
        self.phrase["winners_with"] += int((has_phrase.to_numpy() & winner).sum())
        self.phrase["losers_with"] += int((has_phrase.to_numpy() & ~winner).sum())

    def _late_costs(self, chunk: Chunk) -> None:
        fill_before = self.fill_before_us
        filled = chunk.late & (chunk.timestamp < fill_before)
        self.counts["cost_null_at_insert"] += int(chunk.late.sum())
        self.counts["cost_filled_by_mutation"] += int(filled.sum())
        self.counts["cost_still_pending"] += int((chunk.late & ~filled).sum())
        room = SAMPLE_FILLED_IDS - len(self.filled_sample)
        self.filled_sample += chunk.ids.message_id[filled][:room].tolist()

    def _odd_runs(self, chunk: Chunk) -> None:
        ids = chunk.sessions.session_id
        count = min(len(SPECIAL_INPUTS), len(ids))
        self.oddities = {
            "malformed_or_odd_inputs": [
                {"session_id": ids[i], "input_data": SPECIAL_INPUTS[i]} for i in range(count)
            ],
            "session_ids_with_quote": [i for i in ids.tolist() if "'" in i],
        }

    @property
    def fill_before_us(self) -> int:
        """Late costs before this instant are filled; newer ones have not arrived yet."""
        return self.plan.horizon_us - cat.PENDING_COST_SECONDS * MICROS

    def document(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "seed": plan.seed,
            "days": plan.days,
            "sessions_per_day": plan.sessions_per_day,
            "first_day": plan.first_day.isoformat(),
            "end_date": plan.end_date.isoformat(),
            "horizon": _iso(plan.horizon_us),
            "counts": dict(self.counts),
            "world": asdict(plan.world),
            "cost_spikes": {
                "kinds": list(cat.SPIKE_KINDS),
                "token_multiplier_range": list(cat.SPIKE_MULTIPLIER),
                "loop_extra_calls_range": list(cat.LOOP_EXTRA_CALLS),
                "sessions": self.spikes,
            },
            "regression": self._regression_document(),
            "cheaper_model": self._cheaper_model_document(),
            "winning_phrase": self._phrase_document(),
            "late_cost": {
                "rows_null_at_insert": self.counts["cost_null_at_insert"],
                "rows_filled": self.counts["cost_filled_by_mutation"],
                "rows_still_pending": self.counts["cost_still_pending"],
                "filled_before": _iso(self.fill_before_us),
                "sample_filled_message_ids": self.filled_sample,
            },
            "unfinished": {"running": self.running, "abandoned": self.abandoned},
            "oddities": self.oddities,
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.document(), indent=2, ensure_ascii=False) + "\n")

    def _regression_document(self) -> dict[str, Any]:
        plan = self.plan
        before, n_before = self.regression_cost["before"]
        after, n_after = self.regression_cost["after"]
        mean_before = before / n_before if n_before else None
        mean_after = after / n_after if n_after else None
        return {
            "cascade_id": cat.REGRESSION_CASCADE,
            "cell_name": cat.REGRESSION_CELL,
            "species_hash": self.regression_species,
            "species_hash_by_cell": self.regression_cell_species,
            "input_data": self.regression_input,
            "factor": cat.REGRESSION_FACTOR,
            "through": plan.world.regression_through,
            "start_day": plan.day_of(plan.regression_day).isoformat(),
            "runs_before": n_before,
            "runs_after": n_after,
            "mean_cost_before": mean_before,
            "mean_cost_after": mean_after,
            "observed_ratio": mean_after / mean_before if mean_before and mean_after else None,
        }

    def _cheaper_model_document(self) -> dict[str, Any]:
        cheap = cat.MODELS[cat.MODEL_CODE[cat.CHEAP_MODEL]]
        baseline = cat.MODELS[cat.MODEL_CODE[cat.BASELINE_MODEL]]
        models = {
            model: {
                "takes": int(s["takes"]),
                "win_rate": s["wins"] / s["takes"],
                "mean_score": s["score_sum"] / s["takes"],
                "mean_cost": s["cost_sum"] / s["takes"],
            }
            for model, s in sorted(self.models.items())
        }
        observed = None
        if cheap.name in models and baseline.name in models:
            observed = models[cheap.name]["mean_cost"] / models[baseline.name]["mean_cost"]
        return {
            "cascade_id": cat.CHEAP_CASCADE,
            "cell_name": cat.CHEAP_CELL,
            "cheaper_model": cheap.name,
            "baseline_model": baseline.name,
            # Both list prices (in and out) of the cheaper model are this share of the other's.
            "price_ratio": cheap.input_per_million / baseline.input_per_million,
            "observed_cost_ratio": observed,
            "models": models,
        }

    def _phrase_document(self) -> dict[str, Any]:
        p = self.phrase
        return {
            "phrase": cat.WINNING_PHRASE,
            "cascade_id": cat.PHRASE_CASCADE,
            "cell_name": cat.PHRASE_CELL,
            "species_hash": self.phrase_species,
            "phrase_rate_per_take": cat.STYLE_PHRASE_RATE,
            "score_bonus": cat.PHRASE_SCORE_BONUS,
            "winners": p["winners"],
            "losers": p["losers"],
            "winner_frequency": p["winners_with"] / p["winners"] if p["winners"] else None,
            "loser_frequency": p["losers_with"] / p["losers"] if p["losers"] else None,
        }


def _iso(us: int) -> str:
    return str(np.datetime64(us, "us")) + "+00:00"

