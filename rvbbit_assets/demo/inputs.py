"""Input pools: the JSON inputs each cascade runs on, with their species and genus hashes.

Inputs recur (a Zipf-like pool per cascade), so one input keeps one species per cell and
baselines per species have history. Sizes range from a few characters to ~50 KB.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from rvbbit_assets.demo.catalog import CASCADES, SIZE_CLASSES, Cascade, Cell

UNKNOWN_SPECIES = "unknown_species"

_WORDS = np.array(
    (
        "account", "invoice", "refund", "shipment", "order", "delay", "customer", "premium",
        "billing", "password", "login", "error", "timeout", "latency", "cache", "index", "query",
        "table", "column", "schema", "report", "revenue", "churn", "forecast", "quarter",
        "region", "europe", "asia", "pricing", "discount", "contract", "renewal", "support",
        "ticket", "warranty", "device", "firmware", "update", "release", "version", "feature",
        "request", "bug", "crash", "memory", "network", "server", "cluster", "deploy",
        "rollback", "migration", "backup", "restore", "policy", "compliance", "audit",
        "security", "token", "session", "cookie", "browser", "mobile", "android", "ios",
        "desktop", "export", "import", "payment", "card", "bank", "transfer", "currency", "tax",
        "address", "delivery", "carrier", "tracking", "package", "return", "exchange", "size",
        "color", "stock", "warehouse", "supplier", "vendor", "lead", "opportunity", "pipeline",
        "campaign", "email", "newsletter", "survey", "feedback", "rating", "review", "score",
        "model", "dataset", "training", "inference", "prompt", "answer", "question", "document",
        "section", "paragraph", "source", "citation", "claim", "evidence", "study", "result",
        "method", "sample", "trend", "growth", "decline", "market", "share", "competitor",
    )
)
_NAMES = np.array(
    (
        "Ada", "Grace", "Linus", "Margaret", "Alan", "Barbara", "Dennis", "Frances", "Ken",
        "Radia", "Tim", "Hedy", "Donald", "Edsger", "Katherine", "Guido", "Yukihiro", "Bjarne",
        "Anders", "Sophie",
    )
)
_TINY = ('{}', '[]', '"ok"', '42', 'true', 'null', '[1, 2]')

# Malformed and unusual inputs RVBBIT accepted as raw strings; the pipeline must survive them.
SPECIAL_INPUTS: tuple[str, ...] = (
    "",
    "not json",
    '{"ticket": {"id": 4812, "subject": "Refund not rece',
    json.dumps(
        {"ticket": {"subject": "Ünïcödé ✓ naïve café — 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🐇 \u200b zero-width",
                    "body": "مرحبا 你好 שלום\u0301 \t tab \\ backslash ' quote"}},
        ensure_ascii=False,
    ),
)
SPECIAL_CASCADE = "support_triage"


@dataclass(frozen=True)
class InputPool:
    """One cascade's inputs: text, draw probabilities, size in tokens, hashes per cell."""

    texts: np.ndarray  # object array of JSON strings
    probabilities: np.ndarray
    tokens: np.ndarray  # int64, ~4 characters per token
    species: np.ndarray  # object array, shape (cells, inputs)
    genus: np.ndarray  # object array, shape (inputs,)
    special_first: int  # index of SPECIAL_INPUTS[0] in this pool, or -1


def species_hash(cell: Cell, input_text: str) -> str:
    """RVBBIT's cell identity: template, config and rendered input; model excluded."""
    if not input_text:
        return UNKNOWN_SPECIES
    dna = json.dumps(
        {"instructions": cell.instructions, "config": cell.config(), "input_data": input_text},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(dna.encode()).hexdigest()[:16]


def genus_hash(cascade: Cascade, input_text: str) -> str:
    """The cascade-level identity: cascade, its cells and the input."""
    dna = json.dumps(
        {
            "cascade_id": cascade.cascade_id,
            "cells": [c.name for c in cascade.cells],
            "input_data": input_text,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(dna.encode()).hexdigest()[:16]


def pool_size(expected_runs: float) -> int:
    """Big enough that rare inputs stay rare, small enough that hot inputs recur."""
    return int(np.clip(expected_runs / 25, 20, 2_000))


def build_pools(rng: np.random.Generator, expected_runs: int) -> list[InputPool]:
    """One pool per cascade of CASCADES, in order."""
    pools = []
    for cascade in CASCADES:
        share = cascade.share if cascade.share else 0.03  # sub-cascades: a few percent
        size = pool_size(expected_runs * share)
        texts = [_input_text(rng, cascade, rank) for rank in range(size)]
        # Zipf: rank r is drawn ∝ 1/(r+1), so the first inputs recur often.
        weights = 1.0 / np.arange(1, size + 1)
        special_first = -1
        if cascade.cascade_id == SPECIAL_CASCADE:
            special_first = len(texts)
            texts.extend(SPECIAL_INPUTS)
            weights = np.concatenate([weights, np.zeros(len(SPECIAL_INPUTS))])
        pools.append(_pool(cascade, texts, weights / weights.sum(), special_first))
    return pools


def _pool(
    cascade: Cascade, texts: list[str], probabilities: np.ndarray, special_first: int
) -> InputPool:
    species = np.array(
        [[species_hash(cell, t) for t in texts] for cell in cascade.cells], dtype=object
    )
    return InputPool(
        texts=np.array(texts, dtype=object),
        probabilities=probabilities,
        tokens=np.array([len(t) // 4 for t in texts], dtype=np.int64),
        species=species.reshape(len(cascade.cells), len(texts)),
        genus=np.array([genus_hash(cascade, t) for t in texts], dtype=object),
        special_first=special_first,
    )


def _input_text(rng: np.random.Generator, cascade: Cascade, rank: int) -> str:
    weights = np.array(cascade.size_weights)
    if rank < 5:
        # The hot inputs carry the planted effects: keep them small or medium.
        weights = np.array([0.0, 0.5, 0.5, 0.0, 0.0])
    low, high = SIZE_CLASSES[int(rng.choice(len(SIZE_CLASSES), p=weights / weights.sum()))]
    target = int(np.exp(rng.uniform(np.log(low), np.log(high))))
    if target < 20:
        return _TINY[int(rng.integers(len(_TINY)))] if rng.random() < 0.5 else _tiny(rng)
    return json.dumps(_document(rng, cascade.input_shape, target), ensure_ascii=False)


def _tiny(rng: np.random.Generator) -> str:
    return json.dumps({"q": _words(rng, 1)})


def _words(rng: np.random.Generator, n: int) -> str:
    return " ".join(_WORDS[rng.integers(len(_WORDS), size=max(n, 1))].tolist())


def _name(rng: np.random.Generator) -> str:
    return str(_NAMES[rng.integers(len(_NAMES))])


def _document(rng: np.random.Generator, shape: str, target: int) -> dict[str, Any]:
    """A document of that shape, grown item by item to about `target` characters."""
    skeleton, items, make_item = _SHAPES[shape](rng)
    size = len(json.dumps(skeleton))
    while size < target:
        item = make_item(rng, target - size)
        items.append(item)
        size += len(json.dumps(item)) + 2
    return skeleton


# A document skeleton, the list inside it that grows, and the maker of one more item.
_Shape = tuple[dict[str, Any], list[Any], Any]


def _row(rng: np.random.Generator) -> _Shape:
    notes: list[str] = []
    doc = {
        "row": {"id": int(rng.integers(1, 10**6)), "name": _name(rng), "notes": notes},
        "column": "segment",
    }
    return doc, notes, lambda r, room: _words(r, min(int(r.integers(3, 30)), room // 6 + 1))


def _ticket(rng: np.random.Generator) -> _Shape:
    history: list[dict[str, Any]] = []
    doc = {
        "ticket": {
            "id": int(rng.integers(1000, 99999)),
            "subject": _words(rng, 5),
            "customer": {"name": _name(rng), "tier": str(rng.choice(["free", "pro", "gold"]))},
            "history": history,
        }
    }
    return doc, history, lambda r, room: {
        "from": str(r.choice(["customer", "agent"])),
        "text": _words(r, min(int(r.integers(10, 80)), room // 6 + 1)),
    }


def _documents(rng: np.random.Generator) -> _Shape:
    documents: list[dict[str, Any]] = []
    doc = {"question": _words(rng, 8) + "?", "documents": documents}
    return doc, documents, lambda r, room: {
        "title": _words(r, 4),
        "url": f"https://docs.example.com/{_words(r, 1)}/{int(r.integers(1, 999))}",
        "sections": [
            {"heading": _words(r, 3), "text": _words(r, min(int(r.integers(20, 120)), room // 6))}
            for _ in range(int(r.integers(1, 4)))
        ],
    }


def _diff(rng: np.random.Generator) -> _Shape:
    files: list[dict[str, Any]] = []
    doc = {"repo": f"acme/{_words(rng, 1)}", "pr": int(rng.integers(1, 5000)), "files": files}
    return doc, files, lambda r, room: {
        "path": f"src/{_words(r, 1)}/{_words(r, 1)}.py",
        "additions": int(r.integers(1, 200)),
        "deletions": int(r.integers(0, 80)),
        "hunks": [
            f"+    {_words(r, int(r.integers(3, 12)))}" for _ in range(int(r.integers(1, 12)))
        ],
    }


def _research(rng: np.random.Generator) -> _Shape:
    sources: list[dict[str, Any]] = []
    doc = {
        "topic": _words(rng, 4),
        "constraints": {"max_words": int(rng.integers(300, 3000)), "audience": "executives"},
        "sources": sources,
    }
    return doc, sources, lambda r, room: {
        "url": f"https://news.example.org/{int(r.integers(1, 10**5))}",
        "snippet": _words(r, min(int(r.integers(10, 90)), room // 6 + 1)),
        "meta": {"year": int(r.integers(2015, 2026)), "tags": [_words(r, 1), _words(r, 1)]},
    }


def _claims(rng: np.random.Generator) -> _Shape:
    claims: list[str] = []
    doc = {"claims": claims, "context": {"report": _words(rng, 3)}}
    return doc, claims, lambda r, room: _words(r, min(int(r.integers(6, 20)), room // 6 + 1))


def _invoice(rng: np.random.Generator) -> _Shape:
    lines: list[dict[str, Any]] = []
    doc = {
        "invoice": {
            "number": f"INV-{int(rng.integers(1000, 99999))}",
            "vendor": _name(rng) + " " + str(rng.choice(["Ltd", "GmbH", "Inc"])),
            "currency": str(rng.choice(["EUR", "USD", "GBP"])),
            "lines": lines,
        }
    }
    return doc, lines, lambda r, room: {
        "item": _words(r, min(int(r.integers(2, 8)), room // 6 + 1)),
        "quantity": int(r.integers(1, 50)),
        "unit_price": round(float(r.uniform(1, 500)), 2),
    }


_SHAPES = {
    "invoice": _invoice,
    "row": _row,
    "ticket": _ticket,
    "documents": _documents,
    "diff": _diff,
    "research": _research,
    "claims": _claims,
}
