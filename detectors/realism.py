"""The trained discriminator as a realism score for FaceFusionEnv's reward.

    from detectors import Realism
    realism = Realism.from_checkpoint("runs/detectors")     # dir or discriminator.pt
    p = realism(crops)        # uint8 (N, 64, 64, 3) RGB -> float32 (N,) probability of real
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

from .models import IMAGE_SIZE, Discriminator, bake_spectral_norm, ndf_of

CHECKPOINT = "discriminator.pt"
SMALL_BATCH = 2  # up to this many crops, numpy beats torch's ~50 us per-conv call overhead


def numpy_layers(net: Discriminator) -> list[tuple[np.ndarray, np.ndarray]]:
    """The baked discriminator's convs as (weight (4*4*C_in, C_out), bias) matrices in
    channels-last patch order, for `numpy_logits`."""
    layers = []
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            if parametrize.is_parametrized(m) or m.kernel_size != (4, 4):
                raise ValueError("numpy_layers needs a baked detectors Discriminator")
            w = m.weight.detach().numpy()  # (C_out, C_in, 4, 4)
            layers.append((np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(-1, w.shape[0])),
                           m.bias.detach().numpy().copy()))
    return layers


def numpy_logits(crops: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The discriminator on uint8 (N, 64, 64, 3) crops in numpy: each 4x4 stride-2 conv as
    one im2col matrix product, the final 4x4 conv as a dot product. For one or two crops
    (an env step) this is ~2.5x faster than torch, whose fixed cost per conv call dominates
    at this size; for batches torch is faster."""
    x = crops.astype(np.float32)
    x *= 1.0 / 127.5
    x -= 1.0
    n = len(x)
    for w, b in layers[:-1]:
        _, h, _, c = x.shape
        padded = np.zeros((n, h + 2, h + 2, c), np.float32)
        padded[:, 1:-1, 1:-1] = x
        s = padded.strides
        half = h // 2
        patches = as_strided(padded, (n, half, half, 4, 4, c), (s[0], 2 * s[1], 2 * s[2], s[1], s[2], s[3]))
        y = patches.reshape(n * half * half, -1) @ w
        y += b
        x = np.maximum(y, 0.2 * y).reshape(n, half, half, -1)   # leaky ReLU
    w, b = layers[-1]
    return (x.reshape(n, -1) @ w + b).reshape(n)


def resolve_checkpoint(path: str | os.PathLike) -> str:
    """A training output dir or a discriminator state_dict file -> the file's path."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, CHECKPOINT)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"realism checkpoint {path!r} not found (expected {CHECKPOINT} "
                                "or the folder `python -m detectors.train --out DIR` wrote it to)")
    return path


class Realism:
    """Callable critic: uint8 RGB crops -> probability that each is a real face crop."""

    def __init__(self, state_dict: dict, source: str | None = None):
        self.source = source
        self._state = {k: v.detach().cpu().clone() for k, v in state_dict.items()}
        self._build()

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike) -> "Realism":
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
            net = Discriminator(ndf_of(self._state))
            net.load_state_dict(self._state)
        except (KeyError, RuntimeError) as exc:
            raise ValueError(f"{where}: not a detectors discriminator state_dict ({exc})") from exc
        self.net = bake_spectral_norm(net)  # eval mode, plain convs: no per-call normalisation
        self.ndf = net.ndf
        self._layers = numpy_layers(self.net)

    # Ray ships env configs to workers by pickling: send the weights, not a path.
    def __getstate__(self) -> dict:
        return {"state_dict": self._state, "source": self.source}

    def __setstate__(self, state: dict) -> None:
        self.source, self._state = state["source"], state["state_dict"]
        self._build()

    def __repr__(self) -> str:
        return f"Realism(ndf={self.ndf}, source={self.source!r})"

    def logits(self, crops: np.ndarray) -> np.ndarray:
        """Raw discriminator logits, float32 (N,) (or () for one crop)."""
        crops = given = np.asarray(crops)
        single = crops.ndim == 3
        if single:
            crops = crops[None]
        if crops.dtype != np.uint8 or crops.ndim != 4 or crops.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3):
            raise ValueError(f"Realism expects uint8 RGB crops of shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}, 3) "
                             f"or ({IMAGE_SIZE}, {IMAGE_SIZE}, 3); got {given.shape} {given.dtype}")
        if len(crops) == 0:
            return np.zeros(0, np.float32)
        if len(crops) <= SMALL_BATCH:
            out = numpy_logits(crops, self._layers).astype(np.float32)
            return out[0] if single else out
        x = crops.astype(np.float32)
        x *= 1.0 / 127.5
        x -= 1.0
        with torch.no_grad():
            # NHWC memory seen as NCHW (channels-last strides): no copy, and oneDNN takes it as is
            out = self.net(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()
        return out[0] if single else out

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """Probability of real, float32 (N,) for (N, 64, 64, 3) crops, () for one (64, 64, 3)."""
        z = self.logits(crops)
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
