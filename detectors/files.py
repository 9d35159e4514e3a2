"""Atomic file writes: each output is written to a temp file in the same folder, then moved
into place with os.replace, so a crash or a concurrent reader never sees a half-written
checkpoint, JSON or PNG."""
from __future__ import annotations

import io
import json
import os
import tempfile

import cv2
import numpy as np
import torch


def write_bytes(path: str, data: bytes) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def save_state_dict(module: torch.nn.Module, path: str) -> str:
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return write_bytes(path, buf.getvalue())


def write_json(path: str, obj) -> str:
    return write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def write_png(path: str, rgb: np.ndarray) -> str:
    """uint8 (H, W, 3) RGB image -> PNG."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"{path}: could not encode an image of shape {rgb.shape}")
    return write_bytes(path, buf.tobytes())


def write_figure(path: str, figure) -> str:
    """A matplotlib Figure (made without pyplot) -> PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=100)
    return write_bytes(path, buf.getvalue())


def grid(images: np.ndarray, cols: int = 8, pad: int = 2) -> np.ndarray:
    """uint8 (N, H, W, 3) -> one (rows*(H+pad)+pad, cols*(W+pad)+pad, 3) mosaic."""
    n, h, w, _ = images.shape
    rows = -(-n // cols)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        out[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = im
    return out


# What each detectors checkpoint file is, for errors when one is given where another is expected.
KNOWN_FILES = {
    "discriminator.pt": "the reward critic's discriminator (python -m detectors.train)",
    "generator.pt": "the GAN generator (python -m detectors.train), which scores nothing",
    "judge.pt": "a realism judge (python -m detectors.judge train)",
    "autoencoder.pt": "the realism judge's autoencoder (python -m detectors.judge train), which scores nothing",
}


def describe(path) -> str | None:
    """What a detectors checkpoint file or output folder holds, by its file names (None: unknown)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        for name in ("discriminator.pt", "judge.pt"):
            if os.path.isfile(os.path.join(path, name)):
                return f"a folder holding {KNOWN_FILES[name]}"
        if os.path.isfile(os.path.join(path, "result.json")) or os.path.isdir(os.path.join(path, "checkpoints")):
            return "an RL training run (python train.py), not a detectors checkpoint"
        return None
    return KNOWN_FILES.get(os.path.basename(path))


def wrong_checkpoint(path, expected: str) -> str:
    """Error message for a checkpoint `path` that is not what a command expected: names the
    path, what it is where that can be told, and what was expected."""
    path = os.fspath(path)
    if not os.path.exists(path):
        return f"{path}: not found (expected {expected})"
    what = describe(path)
    return f"{path}: " + (f"this is {what}; " if what else "") + f"expected {expected}"
