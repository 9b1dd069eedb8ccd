"""MinHash signatures and LSH buckets for near-duplicate lookup (Broder 1997; Leskovec et al.,
Mining of Massive Datasets §3.4).

Word 5-shingles are hashed with xxhash; 128 multiply-shift hash functions in numpy give the
signature; 32 bands of 4 rows give buckets stored in the database. A pair with Jaccard 0.5 becomes
a candidate with probability 0.87, one with 0.3 with 0.23; every candidate is then verified on the
exact shingles, so LSH only decides whom to compare, never the verdict.
"""
from __future__ import annotations

import re

import numpy as np
import xxhash

from pipelines.text import fold

SHINGLE = 5
PERMUTATIONS = 128
BANDS = 32
ROWS = PERMUTATIONS // BANDS
_WORD = re.compile(r"\w+")
_rng = np.random.default_rng(20261126)  # fixed: buckets must mean the same in every process, forever
_A = _rng.integers(1, 2**63, PERMUTATIONS, dtype=np.uint64) | np.uint64(1)  # odd multipliers
_B = _rng.integers(0, 2**63, PERMUTATIONS, dtype=np.uint64)


def shingles(text: str) -> np.ndarray:
    """Distinct 64-bit hashes of the folded text's word 5-grams."""
    words = _WORD.findall(fold(text).casefold())
    if len(words) < SHINGLE:
        return np.empty(0, dtype=np.uint64)
    grams = {xxhash.xxh64_intdigest(" ".join(words[i:i + SHINGLE]).encode()) for i in range(len(words) - SHINGLE + 1)}
    return np.fromiter(grams, dtype=np.uint64, count=len(grams))


def signature(sh: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # multiply-shift hashing relies on wrap-around mod 2**64
        hashed = (sh[None, :] * _A[:, None] + _B[:, None]) >> np.uint64(32)
    return hashed.min(axis=1)


def buckets(sh: np.ndarray) -> list[str]:
    """One "band:hash" key per band (the band prefix keeps equal hashes of different bands apart)."""
    if sh.size == 0:
        return []
    sig = signature(sh)
    return [f"{b}:{xxhash.xxh64_hexdigest(sig[b * ROWS:(b + 1) * ROWS].tobytes())}" for b in range(BANDS)]


def containment(a: np.ndarray, b: np.ndarray) -> float:
    """Share of the shorter text's shingles found in the other: survives added boilerplate and a
    trimmed last paragraph, which Jaccard penalises."""
    if a.size == 0 or b.size == 0:
        return 0.0
    return float(np.intersect1d(a, b, assume_unique=True).size) / min(a.size, b.size)
