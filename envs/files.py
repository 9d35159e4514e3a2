"""Atomic file writes and image mosaics, the one implementation envs, agents and detectors use.

Each output is written to a temp file in its own folder, flushed to disk, then moved into place
with os.replace, so a crash or a concurrent reader never sees a half-written JSON, PNG or
checkpoint. Plain Python, numpy and OpenCV.
"""

from __future__ import annotations

import io
import json
import os
import tempfile

import cv2
import numpy as np


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; once, at import (it is process-wide)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def write_bytes(path, data: bytes) -> str:
    """Write `data` to `path` atomically (creating its folder); returns the path."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix="-" + os.path.basename(path))
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it owner-only; a plain open() would not
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_text(path, text: str) -> str:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path, obj) -> str:
    """Indented, sorted JSON (values JSON cannot hold, such as paths, as strings)."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_png(path, rgb: np.ndarray) -> str:
    """uint8 (H, W, 3) RGB image -> PNG (encoded in memory: non-ASCII paths work everywhere)."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"{path}: could not encode an image of shape {np.shape(rgb)}")
    return write_bytes(path, buf.tobytes())


def write_figure(path, figure, dpi: int = 100) -> str:
    """A matplotlib Figure (from pyplot or not) -> PNG."""
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=dpi)
    return write_bytes(path, buf.getvalue())


def grid(images, cols: int = 8, pad: int = 2, fill: int = 255) -> np.ndarray:
    """uint8 images of one shape (N, H, W, 3) -> one mosaic of `cols` columns,
    (rows*(H+pad)+pad, cols*(W+pad)+pad, 3), with `pad` px of `fill` around each image."""
    images = np.asarray(images)
    n, h, w = images.shape[:3]
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, *images.shape[3:]), fill, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        out[y : y + h, x : x + w] = im
    return out
