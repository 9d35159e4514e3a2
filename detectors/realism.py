"""The trained discriminator as a realism score for FaceFusionEnv's reward.

    from detectors import Realism
    realism = Realism.from_checkpoint("runs/detectors")     # dir or discriminator.pt
    p = realism(crops)        # uint8 (N, S, S, 3) RGB -> float32 (N,) probability of real
    realism.image_size        # S: the env draws its realism crop at this size
    env = gym.make("FaceFusion-v0", realism_fn=realism, realism_weight=1.0)

It pickles by value (the state_dict travels with it), so Ray can ship an env config holding
one to workers that cannot see the checkpoint file. It never changes torch's thread count:
a Ray worker sets torch.set_num_threads(1) itself, and the scorer runs in whatever it set.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from numpy.lib.stride_tricks import as_strided
from torch.nn.utils import parametrize

from . import files
from .models import Discriminator, bake_spectral_norm, image_size_of, ndf_of

CHECKPOINT = files.DISCRIMINATOR
SMALL_BATCH = 2  # up to this many crops, NumpyCritic beats torch's fixed cost per conv call


class NumpyCritic:
    """The baked discriminator for one uint8 (S, S, 3) crop at a time, in numpy: each 4x4
    stride-2 conv as one im2col matrix product (bias as a column of ones) into buffers
    allocated once, the leaky ReLU written straight into the next layer's padded input, the
    input scaling folded into the first layer's weights. For a crop or two (an env step) this
    is several times faster than torch, whose fixed cost per conv call dominates at this
    size; for batches torch is faster. Not thread-safe (shared buffers): one per env."""

    def __init__(self, net: Discriminator):
        convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
        for m in convs:
            if parametrize.is_parametrized(m) or m.kernel_size != (4, 4):
                raise ValueError("NumpyCritic needs a baked detectors Discriminator")
        # (C_out, C_in, 4, 4) -> (4*4*C_in, C_out) in channels-last patch order
        ws = [m.weight.detach().numpy().transpose(2, 3, 1, 0).reshape(-1, m.out_channels) for m in convs]
        bs = [m.bias.detach().numpy() for m in convs]
        # x / 127.5 - 1 folded into layer 1; its zero padding becomes the raw value 127.5
        bs[0] = bs[0] - ws[0].sum(0)
        ws[0] = ws[0] / 127.5
        self.layers = []
        side, channels = net.image_size, 3
        for i, (w, b) in enumerate(zip(ws[:-1], bs[:-1])):
            padded = np.full((side + 2, side + 2, channels), 127.5 if i == 0 else 0.0, np.float32)
            half, (s0, s1, s2) = side // 2, padded.strides
            patches = as_strided(padded, (half, half, 4, 4, channels), (2 * s0, 2 * s1, s0, s1, s2))
            columns = np.ones((half * half, 16 * channels + 1), np.float32)  # last column: bias
            weights = np.ascontiguousarray(np.vstack([w, b[None]]), np.float32)
            y = np.empty((half * half, w.shape[1]), np.float32)
            self.layers.append(
                (padded, patches, columns, columns[:, :-1].reshape(patches.shape), weights, y, np.empty_like(y))
            )
            side, channels = half, w.shape[1]
        self.features = np.empty((side, side, channels), np.float32)  # 4 x 4 into the last conv
        self.last_w = np.ascontiguousarray(ws[-1][:, 0], np.float32)
        self.last_b = float(bs[-1][0])
        self.inputs = [layer[0][1:-1, 1:-1] for layer in self.layers[1:]] + [self.features]

    def logit(self, crop: np.ndarray) -> float:
        self.layers[0][0][1:-1, 1:-1] = crop
        for (_, patches, columns, patch_view, w, y, scaled), out in zip(self.layers, self.inputs):
            np.copyto(patch_view, patches)
            np.matmul(columns, w, out=y)
            np.multiply(y, 0.2, out=scaled)
            np.maximum(y.reshape(out.shape), scaled.reshape(out.shape), out=out)  # leaky ReLU
        return float(self.features.reshape(-1) @ self.last_w + self.last_b)


def resolve_checkpoint(path: str | os.PathLike) -> str:
    """A training output dir or a discriminator state_dict file -> the file's path."""
    path = given = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, CHECKPOINT)
    if not os.path.isfile(path) or os.path.basename(path) in files.KNOWN_FILES.keys() - {CHECKPOINT}:
        error = ValueError if os.path.exists(path) else FileNotFoundError
        raise error(
            files.wrong_checkpoint(
                given, f"a realism critic: {CHECKPOINT} or the folder `python -m detectors.train --out DIR` wrote it to"
            )
        )
    return path


class Realism:
    """Callable critic: uint8 RGB crops -> probability that each is a real face crop."""

    def __init__(self, state_dict: dict, source: str | None = None):
        self.source = source
        self._state = {k: v.detach().cpu().clone() for k, v in state_dict.items()}
        self._build()

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike) -> Realism:
        file = resolve_checkpoint(path)
        try:
            state = torch.load(file, map_location="cpu", weights_only=True)
        except Exception as exc:  # truncated file, not a torch file, pickled objects
            raise ValueError(f"realism checkpoint {file!r}: cannot load a state_dict ({exc})") from exc
        if not isinstance(state, dict):
            raise ValueError(f"realism checkpoint {file!r}: expected a state_dict, got {type(state).__name__}")
        return cls(state, source=file)

    def _build(self) -> None:
        where = self.source or "state_dict"
        try:
            net = Discriminator(ndf_of(self._state), image_size_of(self._state))
            net.load_state_dict(self._state)
        except (KeyError, RuntimeError, ValueError) as exc:  # missing keys, wrong shapes, odd block count
            raise ValueError(f"{where}: not a detectors discriminator state_dict ({exc})") from exc
        self.net = bake_spectral_norm(net)  # eval mode, plain convs: no per-call normalisation
        self.ndf, self.image_size = net.ndf, net.image_size
        self._numpy = NumpyCritic(self.net)

    # Ray ships env configs to workers by pickling: send the weights, not a path.
    def __getstate__(self) -> dict:
        return {"state_dict": self._state, "source": self.source}

    def __setstate__(self, state: dict) -> None:
        self.source, self._state = state["source"], state["state_dict"]
        self._build()

    def __repr__(self) -> str:
        return f"Realism(ndf={self.ndf}, image_size={self.image_size}, source={self.source!r})"

    def logits(self, crops: np.ndarray) -> np.ndarray:
        """Raw discriminator logits, float32 (N,) (or () for one crop)."""
        crops = given = np.asarray(crops)
        single = crops.ndim == 3
        if single:
            crops = crops[None]
        size = self.image_size
        if crops.dtype != np.uint8 or crops.ndim != 4 or crops.shape[1:] != (size, size, 3):
            raise ValueError(
                f"Realism expects uint8 RGB crops of shape (N, {size}, {size}, 3) "
                f"or ({size}, {size}, 3); got {given.shape} {given.dtype}"
            )
        if len(crops) == 0:
            return np.zeros(0, np.float32)
        if len(crops) <= SMALL_BATCH:
            out = np.array([self._numpy.logit(c) for c in crops], np.float32)
            return out[0] if single else out
        x = crops.astype(np.float32)
        x *= 1.0 / 127.5
        x -= 1.0
        with torch.no_grad():
            # NHWC memory seen as NCHW (channels-last strides): no copy, and oneDNN takes it as is
            out = self.net(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()
        return out[0] if single else out

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """Probability of real, float32 (N,) for (N, S, S, 3) crops, () for one (S, S, 3);
        S = `image_size`, the crop side the critic was trained on."""
        z = self.logits(crops)
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
