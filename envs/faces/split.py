"""Train / validation / held-out assignment by a hash of (seed, file name): stable per file, so
adding or removing photos never moves the others between parts, and all faces of one photo
land in the same part.

Held-out faces are for the final report only; validation faces (carved out of what was the
training part) are what training may select on (best checkpoint, early stop).
"""

from __future__ import annotations

import hashlib

import numpy as np

PARTS = ("train", "validation", "heldout", "all")
HELDOUT_FRACTION = 0.2
VALIDATION_FRACTION = 0.15


def score(name: str, seed: int) -> float:
    """Uniform-looking number in [0, 1) fixed by (seed, name)."""
    digest = hashlib.sha256(f"{int(seed)}\x00{name}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def heldout_mask(files, heldout_fraction: float = HELDOUT_FRACTION, seed: int = 0) -> np.ndarray:
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


def part_mask(
    files,
    part: str,
    heldout_fraction: float = HELDOUT_FRACTION,
    validation_fraction: float = VALIDATION_FRACTION,
    seed: int = 0,
) -> np.ndarray:
    """Boolean array, True for the files of `part`. Held-out is `heldout_mask` (unchanged by the
    validation fraction); validation takes the next `validation_fraction` of the hash range, and
    is non-empty whenever a non-zero fraction is asked for and >= 2 photos are left for training."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    if not 0.0 <= validation_fraction < 1.0 - heldout_fraction:
        raise ValueError(
            f"validation_fraction must be in [0, {1.0 - heldout_fraction:g}) with "
            f"heldout_fraction={heldout_fraction:g}, got {validation_fraction}"
        )
    files = list(files)
    if part == "all":
        return np.ones(len(files), bool)
    held = heldout_mask(files, heldout_fraction, seed)
    if part == "heldout":
        return held
    s = np.array([score(f, seed) for f in files], dtype=np.float64)
    validation = ~held & (s < heldout_fraction + validation_fraction)
    rest = ~held & ~validation
    if validation_fraction > 0 and not validation.any() and len(set(np.asarray(files, object)[rest])) >= 2:
        # the lowest-scoring training photo (all its faces) becomes the validation part
        first = files[int(np.argmin(np.where(rest, s, np.inf)))]
        validation = rest & (np.asarray(files, object) == first)
    return validation if part == "validation" else ~held & ~validation
