"""The stored winner patterns (the prompt_patterns table), by species, significant first."""

from __future__ import annotations

from typing import Any

from rvbbit_assets.store import StoreSession
from rvbbit_assets.store.sql_files import load_sql

SPECIES_COLUMNS = ("species_hash", "cascade_id", "cell_name", "winner_prompts", "loser_prompts",
                   "pattern_count", "significant_count")
PATTERN_COLUMNS = ("ngram", "winner_count", "loser_count", "winner_freq", "loser_freq", "lift",
                   "z_score", "significant", "pattern_rank", "recommendation")


def suggestion(ngram: str, winner_freq: float) -> str:
    """The design's line for a person: "💡 Try 'step by step' (in 85% of winners)"."""
    return f"💡 Try '{ngram}' (in {winner_freq:.0%} of winners)"


def species_patterns(
    session: StoreSession, cascade_id: str | None, per_species: int, species_limit: int
) -> tuple[list[dict[str, Any]], int]:
    """The stored patterns by species (one cascade's, or all when `cascade_id` is None):
    species with a significant pattern first, each with its first `per_species` patterns
    and their suggestion lines; and how many species have patterns in all."""
    rows = session.rows(
        load_sql(__file__, "species_patterns"),
        {"cascade_id": cascade_id, "per_species": per_species, "species_limit": species_limit},
    )
    species: dict[str, dict[str, Any]] = {}
    species_count = 0
    for row in rows:
        record = dict(zip((*SPECIES_COLUMNS, "species_count", *PATTERN_COLUMNS), row,
                          strict=True))
        species_count = int(record["species_count"])
        group = species.setdefault(record["species_hash"], {
            **{c: record[c] for c in SPECIES_COLUMNS[:3]},
            **{c: int(record[c]) for c in SPECIES_COLUMNS[3:]},
            "patterns": [],
        })
        group["patterns"].append({
            "ngram": record["ngram"],
            "suggestion": suggestion(record["ngram"], float(record["winner_freq"])),
            "recommendation": record["recommendation"],
            **{c: int(record[c]) for c in ("winner_count", "loser_count", "pattern_rank")},
            **{c: float(record[c]) for c in ("winner_freq", "loser_freq", "lift", "z_score")},
            "significant": bool(record["significant"]),
        })
    return list(species.values()), species_count
