"""Train/held-out assignment by a hash of (seed, file name): stable per file, so adding or
removing photos never moves the others between parts."""
from __future__ import annotations

import hashlib

import numpy as np

PARTS = ("train", "heldout", "all")


def score(name: str, seed: int) -> float:
    """Uniform-looking number in [0, 1) fixed by (seed, name)."""
    digest = hashlib.sha256(f"{int(seed)}\x00{name}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def heldout_mask(files, heldout_fraction: float = 0.2, seed: int = 0) -> np.ndarray:
    """Boolean array, True for held-out files. With >= 2 files both parts are non-empty."""
    if not 0.0 < heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in (0, 1), got {heldout_fraction}")
    s = np.array([score(f, seed) for f in files], dtype=np.float64)
    held = s < heldout_fraction
    if len(s) >= 2 and held.all():
        held[np.argmax(s)] = False
    elif len(s) >= 2 and not held.any():
        held[np.argmin(s)] = True
    return held
