"""The FaceSet container every consumer of face data receives."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .geometry import N_LANDMARKS
from .observe import obs_pair
from .split import HELDOUT_FRACTION, VALIDATION_FRACTION, part_mask


class FaceDataError(ValueError):
    """Face data cannot be produced, e.g. a folder with no usable face (the message names the
    folder and summarises why files were skipped)."""


@dataclass(frozen=True, eq=False)
class FaceSet:
    """N faces, each on a square canvas of side S, with everything in canvas pixels.

    A set opened from a cache holds images, masks and landmarks as `shards.Rows`: read-only
    memory maps indexed like arrays (`images[i]` is a numpy view; `subset`/`split` stay mapped;
    `np.asarray(images)` loads them all into RAM)."""

    images: np.ndarray  # (N, S, S, 3) uint8 RGB
    masks: np.ndarray  # (N, S, S) uint8, feathered face-oval mask
    landmarks: np.ndarray  # (N, 468, 2) float32 (x, y), mediapipe face-mesh order
    keypoints: np.ndarray  # (N, 5, 2) float32: eyes (image-left, image-right), nose tip, mouth corners
    boxes: np.ndarray  # (N, 4) float32 x0, y0, x1, y1
    files: tuple[str, ...]
    backends: tuple[str, ...]
    obs: dict = field(default_factory=dict, repr=False)  # {size: (N, size, size, 2) uint8} stored `obs_pair`s

    def __post_init__(self) -> None:
        n = len(self.files)
        s = self.images.shape[1] if self.images.ndim == 4 else -1
        want = {
            "images": ((n, s, s, 3), np.uint8),
            "masks": ((n, s, s), np.uint8),
            "landmarks": ((n, N_LANDMARKS, 2), np.float32),
            "keypoints": ((n, 5, 2), np.float32),
            "boxes": ((n, 4), np.float32),
        }
        for name, (shape, dtype) in want.items():
            a = getattr(self, name)
            if a.shape != shape or a.dtype != dtype:
                raise ValueError(f"FaceSet.{name}: expected {shape} {np.dtype(dtype)}, got {a.shape} {a.dtype}")
        for size, a in self.obs.items():
            if tuple(a.shape) != (n, size, size, 2) or a.dtype != np.uint8:
                raise ValueError(f"FaceSet.obs[{size}]: expected {(n, size, size, 2)} uint8, got {a.shape} {a.dtype}")
        if len(self.backends) != n:
            raise ValueError(f"FaceSet: {len(self.backends)} backends for {n} files")
        object.__setattr__(self, "files", tuple(self.files))
        object.__setattr__(self, "backends", tuple(self.backends))

    def __len__(self) -> int:
        return len(self.files)

    @property
    def canvas(self) -> int:
        return int(self.images.shape[1])

    def subset(self, indices) -> FaceSet:
        """Faces at `indices` (int sequence, boolean mask or slice), in that order."""
        idx = np.arange(len(self))[indices] if isinstance(indices, slice) else np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise IndexError(f"boolean mask of shape {idx.shape} for {len(self)} faces")
            idx = np.nonzero(idx)[0]
        idx = idx.astype(np.int64).reshape(-1)
        return FaceSet(
            self.images[idx],
            self.masks[idx],
            self.landmarks[idx],
            self.keypoints[idx],
            self.boxes[idx],
            tuple(self.files[i] for i in idx),
            tuple(self.backends[i] for i in idx),
            {s: a[idx] for s, a in self.obs.items()},
        )

    def obs_pair(self, index: int, size: int) -> np.ndarray:
        """Face `index` at observation scale (`observe.obs_pair`): read from the cache when it
        was prepared with this size, else computed."""
        stored = self.obs.get(size)
        if stored is not None:
            return stored[index]
        return obs_pair(self.images[index], self.masks[index], size)

    def split(
        self,
        part: str,
        heldout_fraction: float = HELDOUT_FRACTION,
        seed: int = 0,
        validation_fraction: float = VALIDATION_FRACTION,
    ) -> FaceSet:
        """ "train", "validation", "heldout" or "all" (see `envs.faces.split`). Membership
        depends only on (seed, file name)."""
        mask = part_mask(self.files, part, heldout_fraction, validation_fraction, seed)
        return self if part == "all" else self.subset(mask)
