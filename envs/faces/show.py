"""Contact sheet of a FaceSet (mask tint, face outline, landmarks, keypoints) to eyeball a
cache before training on it."""

from __future__ import annotations

import cv2
import numpy as np

from ..files import grid
from .faceset import FaceSet

_KP_COLOURS = ((255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 0, 255), (255, 255, 0))


def tile(fs: FaceSet, i: int, size: int = 128) -> np.ndarray:
    """One face drawn with its overlays, resized to `size` (RGB uint8)."""
    img = fs.images[i].astype(np.float32)
    m = fs.masks[i].astype(np.float32)[..., None] / 255.0
    img = (img * (1 - 0.35 * m) + np.float32((0, 255, 120)) * 0.35 * m).astype(np.uint8)
    k = size / fs.canvas
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    for x, y in fs.landmarks[i][::3] * k:
        cv2.circle(img, (int(x), int(y)), 0, (255, 255, 255), -1)
    for (x, y), c in zip(fs.keypoints[i] * k, _KP_COLOURS):
        cv2.circle(img, (int(x), int(y)), 2, c, -1)
    x0, y0, x1, y1 = (fs.boxes[i] * k).astype(int)
    cv2.rectangle(img, (x0, y0), (x1, y1), (255, 200, 0) if fs.backends[i] == "mediapipe" else (255, 60, 60), 1)
    return img


def contact_sheet(fs: FaceSet, max_faces: int = 100, cols: int = 10, size: int = 128) -> np.ndarray:
    """The first `max_faces` faces as tiles, `cols` to a row (write it with `envs.files.write_png`)."""
    return grid([tile(fs, i, size) for i in range(min(len(fs), max_faces))], cols, pad=0, fill=32)
