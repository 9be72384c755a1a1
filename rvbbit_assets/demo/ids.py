"""Identifiers drawn from the seeded generator, formatted in bulk.

UUIDs come from the generator (never uuid4 or generateUUIDv4) so a seed always gives the
same rows; formatting is done on byte arrays so millions of ids cost no Python loop.
"""

from __future__ import annotations

import numpy as np

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# Two ASCII hex digits for every byte value.
_HEX_PAIRS = np.stack([_HEX[np.arange(256) >> 4], _HEX[np.arange(256) & 15]], axis=1)
_UUID_GROUPS = ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32))

# RVBBIT's woodland session names (session_naming.py): <adjective>-<creature>-<hash>.
ADJECTIVES = np.array(
    (
        "quick", "swift", "nimble", "fleet", "agile", "clever", "wise", "bright", "sharp",
        "keen", "gentle", "quiet", "shy", "bold", "wild", "mossy", "leafy", "misty", "dewy",
        "frosty", "sunlit", "amber", "brave", "curious", "fuzzy", "cozy", "spry", "merry",
        "noble", "silver", "golden", "russet", "crimson", "azure", "emerald", "ivory", "dawn",
        "dusk", "autumn", "winter", "twilight",
    )
)
CREATURES = np.array(
    (
        "rabbit", "hare", "bunny", "cottontail", "jackrabbit", "jackalope", "fox", "squirrel",
        "chipmunk", "mouse", "vole", "hedgehog", "badger", "otter", "beaver", "marmot", "pika",
        "deer", "fawn", "elk", "moose", "owl", "woodpecker", "robin", "wren", "jay", "thrush",
        "finch", "hawk", "falcon", "sparrow", "raccoon", "porcupine", "lynx", "bobcat", "coyote",
        "wolf", "bear",
    )
)


def random_uuids(rng: np.random.Generator, n: int) -> np.ndarray:
    """n version-4 UUID strings (object array) from the generator."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    digits = _HEX_PAIRS[raw].reshape(n, 32)
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    position = 0
    for start, end in _UUID_GROUPS:
        text[:, position : position + end - start] = digits[:, start:end]
        position += end - start + 1
    return _ascii_to_objects(text)


def hex_words(values: np.ndarray, digits: int) -> np.ndarray:
    """The low `digits` hex digits of each unsigned value, as an object array."""
    values = values.astype(np.uint64)
    shifts = np.arange(digits - 1, -1, -1, dtype=np.uint64) * np.uint64(4)
    nibbles = (values[:, None] >> shifts[None, :]) & np.uint64(15)
    return _ascii_to_objects(_HEX[nibbles.astype(np.intp)])


def scrambled(indices: np.ndarray, salt: int) -> np.ndarray:
    """A bijection of 32-bit values that looks random (MurmurHash3's finalizer), so
    distinct indices give distinct values."""
    mask = np.uint64(0xFFFFFFFF)
    x = (indices.astype(np.uint64) + np.uint64(salt & 0xFFFFFFFF)) & mask
    for shift, multiplier in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
        x = ((x ^ (x >> np.uint64(shift))) * np.uint64(multiplier)) & mask
    return x ^ (x >> np.uint64(16))


def woodland_names(rng: np.random.Generator, suffixes: np.ndarray, prefix: str) -> np.ndarray:
    """`<prefix><adjective>-<creature>-<suffix>` for each suffix (object array)."""
    n = len(suffixes)
    adjectives = ADJECTIVES[rng.integers(len(ADJECTIVES), size=n)].astype(object)
    creatures = CREATURES[rng.integers(len(CREATURES), size=n)].astype(object)
    return prefix + adjectives + "-" + creatures + "-" + suffixes


def _ascii_to_objects(text: np.ndarray) -> np.ndarray:
    width = text.shape[1]
    fixed = np.ascontiguousarray(text, dtype=np.uint8).view(f"S{width}").ravel()
    return fixed.astype(f"U{width}").astype(object)
