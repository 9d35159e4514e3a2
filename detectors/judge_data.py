"""Crops for the realism judge: real face crops, and fused crops made by the environment's
own fusion code (`envs.fusion.fuse`, every blend mode) and cropped as the judge sees them.

Fused crops come in four kinds, each with every blend mode (paste, color, seamless):

* random: a face on its own photo at a random initial placement as FaceFusion-v0 draws it;
* random_swap: another photo's face at such a placement (FaceFusionSwap-v0's start);
* misplaced: a clearly wrong placement (offset and/or scale), self or swap;
* aligned: another photo's face at its landmark (keypoint) alignment, i.e. a correctly
  placed swap: the hardest kind, only blending and identity give it away.

A crop is `fusion.face_crop` of the full (fused) image around the target photo's own face box
(`frame_box`) at `context` x its side (default 1.2, the env's realism-crop framing), `size` px,
for real and fused crops alike. `env_crop` gives the same crop of an env's current state, so
what the judge scores in `agents.evaluate` is what it trained on.
"""

from __future__ import annotations

import math

import numpy as np

from envs import fusion
from envs.faces import FaceSet

from . import data

KINDS = ("random", "random_swap", "misplaced", "aligned")
BLENDS = fusion.BLENDS
SIZE = 64  # the judge's crop side: its own, not the reward critic's
CONTEXT = fusion.CROP_CONTEXT  # crop side / face box side


def frame_box(faces: FaceSet, target: int) -> np.ndarray:
    """Where the judge looks: the target photo's own face box, for real and fused crops alike.
    A swap's ground-truth box (the source face's box mapped onto the target: another detector
    box, whose bounds also grow with the alignment's rotation) sits a median 7% of a face off
    the target's and is >6% larger or smaller for 43% of pairs, beyond the crop jitter, so
    framing swaps by it taught the judge to flag real photos framed that way (BENCHMARKS.md,
    session 23)."""
    return np.asarray(faces.boxes[target], dtype=float)


def fused_crop(
    faces: FaceSet,
    target: int,
    source: int,
    matrix: np.ndarray,
    box: np.ndarray,
    blend: str,
    size: int = SIZE,
    context: float = CONTEXT,
) -> np.ndarray:
    """(size, size, 3) uint8 crop around `box` of the source face fused onto the target photo."""
    image = fusion.fuse(
        faces.images[target], faces.images[source], faces.masks[source], matrix, blend, target_mask=faces.masks[target]
    )
    return fusion.face_crop(image, box, size, context)


def env_crop(env, blend: str, size: int = SIZE, context: float = CONTEXT) -> np.ndarray:
    """The judge's crop of a FaceFusionEnv's current placement, fused with `blend`."""
    u = env.unwrapped
    return fusion.face_crop(u.fused_image(blend), frame_box(u.faces, u.target_index), size, context)


def env_real_crop(env, size: int = SIZE, context: float = CONTEXT) -> np.ndarray:
    """The same framing as `env_crop` on the episode's target photo as it is (no fusion): what
    the judge says of a real crop of exactly these faces."""
    u = env.unwrapped
    return fusion.face_crop(u.faces.images[u.target_index], frame_box(u.faces, u.target_index), size, context)


def misplacement_size(place: tuple[float, float, float]) -> float:
    """How far (dx, dy, scale) is from the true placement: offset in face sizes + |log scale|."""
    dx, dy, scale = place
    return math.hypot(dx, dy) + abs(math.log(scale))


class JudgeSampler:
    """Real and fused crops of a FaceSet, optionally with crop jitter (`shift` of the box
    centre and `zoom` of its side, applied alike to both, so framing carries no label), framed
    at `context` x the face box. `random_draws` > 1 tilts the random kinds toward near-real
    placements: each is the least misplaced of that many env draws (same support as the env's)."""

    def __init__(
        self,
        faces: FaceSet,
        rng: np.random.Generator,
        size: int = SIZE,
        shift: float = 0.04,
        zoom: float = 0.06,
        context: float = CONTEXT,
        random_draws: int = 1,
    ):
        if len(set(faces.files)) < 2:
            raise ValueError(f"the judge needs faces of two photos or more (swap composites); got {len(faces)}")
        if not context > 0:
            raise ValueError(f"context (crop side / face box side) must be > 0, got {context}")
        if random_draws < 1:
            raise ValueError(f"random_draws must be >= 1, got {random_draws}")
        self.faces, self.rng, self.size, self.shift, self.zoom = faces, rng, size, shift, zoom
        self.context, self.random_draws = context, random_draws
        self._geo: dict[tuple[int, int], data.Geometry] = {}

    def geometry(self, target: int, source: int) -> data.Geometry:
        if (target, source) not in self._geo:
            self._geo[target, source] = data.geometry(self.faces, target, source)
        return self._geo[target, source]

    def _box(self, box: np.ndarray, jitter: bool) -> np.ndarray:
        if not jitter:
            return box
        r = self.rng
        return data.jitter_box(
            box, tuple(r.uniform(-self.shift, self.shift, 2)), math.exp(r.uniform(-self.zoom, self.zoom))
        )

    def real(self, target: int, jitter: bool = True) -> np.ndarray:
        box = self._box(frame_box(self.faces, target), jitter)
        return fusion.face_crop(self.faces.images[target], box, self.size, self.context)

    def targets(self, n: int) -> np.ndarray:
        return self.rng.integers(len(self.faces), size=n)

    def reals(self, n: int, targets=None) -> np.ndarray:
        """(n, size, size, 3) jittered real crops of random faces (or of `targets`)."""
        targets = self.targets(n) if targets is None else targets
        return np.stack([self.real(int(t)) for t in targets])

    def fused(
        self, kind: str, blend: str, jitter: bool = True, target: int | None = None, with_placement: bool = False
    ):
        """One fused crop of `kind` (see KINDS) with `blend`, on a random target face (or `target`);
        `with_placement`: (crop, its (dx, dy, scale) placement)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        r = self.rng
        t = int(r.integers(len(self.faces))) if target is None else int(target)
        swap = kind in ("random_swap", "aligned") or (kind == "misplaced" and r.random() < 0.5)
        s = data.other_photo(self.faces, t, r) if swap else t
        geo = self.geometry(t, s)
        place = self.placement(kind, geo)
        box = self._box(frame_box(self.faces, t), jitter)
        crop = fused_crop(self.faces, t, s, data.placed(geo, *place), box, blend, self.size, self.context)
        return (crop, place) if with_placement else crop

    def placement(self, kind: str, geo: data.Geometry) -> tuple[float, float, float]:
        """(dx, dy, scale) of a fused crop of `kind`: dx, dy in face sizes."""
        if kind == "aligned":
            return 0.0, 0.0, 1.0
        if kind == "misplaced":
            return data.misplacement(self.rng)
        draws = [data.env_placement(self.rng, geo.face_px, self.faces.canvas) for _ in range(self.random_draws)]
        return min(draws, key=misplacement_size)

    def batch(
        self, n_real: int, n_fused: int, kind_weights=None, paired: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Training batch: (crops, labels 1 = fused); fused crops of a kind drawn with
        `kind_weights` (per KINDS; default uniform) and a uniformly drawn blend. `paired`: the
        fused crops are made on the real crops' photos (in turn), so a photo is never a cue
        to its label and only what fusion changes is."""
        r = self.rng
        targets = self.targets(n_real)
        reals = list(self.reals(n_real, targets))
        kinds = r.choice(
            len(KINDS), n_fused, p=None if kind_weights is None else np.divide(kind_weights, sum(kind_weights))
        )
        on = np.resize(targets, n_fused) if paired else [None] * n_fused
        fakes = [self.fused(KINDS[k], BLENDS[r.integers(len(BLENDS))], target=t) for k, t in zip(kinds, on)]
        return np.stack(reals + fakes), np.r_[np.zeros(n_real), np.ones(n_fused)].astype(np.float32)

    def real_set(self, copies: int = 8, with_faces: bool = False):
        """Every face's crop, its mirror image, then `copies - 2` jittered crops (random mirror);
        `with_faces`: (crops, the face of each), for per-face statistics."""
        out, faces = [], []
        for t in range(len(self.faces)):
            plain = self.real(t, jitter=False)
            out += [plain, plain[:, ::-1]][:copies]
            for _ in range(copies - 2):
                crop = self.real(t)
                out.append(crop[:, ::-1] if self.rng.random() < 0.5 else crop)
            faces += [t] * (len(out) - len(faces))
        crops = np.ascontiguousarray(np.stack(out))
        return (crops, np.array(faces)) if with_faces else crops

    def fused_set(self, kind: str, blend: str, n: int, with_targets: bool = False, with_placements: bool = False):
        """n fused crops of one kind and blend, framed exactly as the env's crop (no jitter);
        `with_targets` adds the target face of each (per-face statistics), `with_placements` the
        (dx, dy, scale) of each (misplacement statistics): (crops, [targets], [placements])."""
        crops, targets, places = [], [], []
        for _ in range(n):
            t = int(self.rng.integers(len(self.faces)))  # the draw `fused` makes itself: same stream
            crop, place = self.fused(kind, blend, jitter=False, target=t, with_placement=True)
            crops.append(crop)
            targets.append(t)
            places.append(place)
        out = [np.stack(crops)]
        if with_targets:
            out.append(np.array(targets))
        if with_placements:
            out.append(np.array(places, dtype=np.float64).reshape(n, 3))
        return out[0] if len(out) == 1 else tuple(out)


class MixedSampler:
    """Batches drawn from several JudgeSamplers in fixed shares: each sampler's part of a batch
    is its own real crops and composites made among its own photos (one set's look never
    marks one label), e.g. the embedded faces beside real photos (`--train-faces`)."""

    def __init__(self, samplers: list[JudgeSampler], shares: list[float]):
        if len(samplers) != len(shares) or min(shares) < 0 or not sum(shares) > 0:
            raise ValueError(f"one share >= 0 per sampler, not all 0; got {shares} for {len(samplers)} samplers")
        self.samplers, self.shares = samplers, np.divide(shares, sum(shares))

    def counts(self, n: int) -> list[int]:
        """n split by the shares (largest remainders; sums to n)."""
        exact = self.shares * n
        out = np.floor(exact).astype(int)
        out[np.argsort(out - exact, kind="stable")[: n - out.sum()]] += 1
        return [int(c) for c in out]

    def reals(self, n: int) -> np.ndarray:
        return np.concatenate([s.reals(c) for s, c in zip(self.samplers, self.counts(n)) if c])

    def batch(self, n_real: int, n_fused: int, kind_weights=None, paired: bool = False):
        parts = [
            s.batch(r, f, kind_weights, paired)
            for s, r, f in zip(self.samplers, self.counts(n_real), self.counts(n_fused))
            if r or f
        ]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
