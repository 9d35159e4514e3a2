"""Cut each face onto a square canvas of fixed size so faces from different photos have
the same scale: side = CANVAS_CONTEXT x the face box's longer side, centred on the box.

Coordinates are continuous (pixel i spans [i, i+1]), as mediapipe's landmarks are, so a
point maps to the canvas by x_c = (x - x0) * size / side exactly.
"""

from __future__ import annotations

import cv2
import numpy as np

CANVAS_CONTEXT = 2.5  # canvas side / face box side, so the face box is ~0.4 of the canvas


def region(box: np.ndarray, context: float = CANVAS_CONTEXT) -> tuple[float, float, float]:
    """Square region (x0, y0, side) in image pixels centred on `box` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = [float(v) for v in box]
    side = max(context * max(x1 - x0, y1 - y0), 1.0)
    return (x0 + x1) / 2 - side / 2, (y0 + y1) / 2 - side / 2, side


def cut(image: np.ndarray, reg: tuple[float, float, float], size: int) -> np.ndarray:
    """The region of `image` resized to (size, size), reflect-padded where it leaves the photo.

    The part of the region inside the photo is cropped, shrunk by 2x2 area averages while the
    shrink is 2x or more (OpenCV's fast path; big faces do not alias), reflect-padded with
    copyMakeBorder (far cheaper than warpAffine's per-pixel border handling), and fitted
    exactly (sub-pixel) by one bilinear warp.
    """
    x0, y0, side = (float(v) for v in reg)
    h, w = image.shape[:2]
    ix0, iy0 = int(np.floor(x0)) - 1, int(np.floor(y0)) - 1
    ix1, iy1 = int(np.ceil(x0 + side)) + 1, int(np.ceil(y0 + side)) + 1
    cx0, cy0, cx1, cy1 = max(ix0, 0), max(iy0, 0), min(ix1, w), min(iy1, h)
    if cx1 <= cx0 or cy1 <= cy0:
        raise ValueError(f"region {reg} lies outside the {w}x{h} image")
    k = 1
    while side / k >= 2 * size and min(cx1 - cx0, cy1 - cy0) >= 4 * k:
        k *= 2
    cw, ch = (cx1 - cx0) // k * k, (cy1 - cy0) // k * k  # whole 2x2 blocks
    crop = image[cy0 : cy0 + ch, cx0 : cx0 + cw]
    for _ in range(k.bit_length() - 1):
        crop = cv2.resize(crop, (crop.shape[1] // 2, crop.shape[0] // 2), interpolation=cv2.INTER_AREA)
    left, top = -((ix0 - cx0) // k), -((iy0 - cy0) // k)  # ceil division
    right, bottom = max(-((cx0 + cw - ix1) // k), 0), max(-((cy0 + ch - iy1) // k), 0)
    if left or top or right or bottom:
        crop = _reflect_pad(crop, top, bottom, left, right)
    ox, oy = cx0 - left * k, cy0 - top * k  # image coordinates of the crop's corner
    x0, y0, side = (x0 - ox) / k, (y0 - oy) / k, side / k
    a = side / size
    # dst pixel j (centre j + 0.5) samples the source at continuous x0 + (j + 0.5) * a,
    # i.e. pixel-centre index x0 + (j + 0.5) * a - 0.5
    m = np.array([[a, 0.0, x0 + 0.5 * a - 0.5], [0.0, a, y0 + 0.5 * a - 0.5]])
    return cv2.warpAffine(
        crop, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )


def _reflect_pad(img: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    # cv2.BORDER_REFLECT needs pads no larger than the image: grow in rounds for larger ones.
    while top or bottom or left or right:
        h, w = img.shape[:2]
        t, b, lft, r = min(top, h), min(bottom, h), min(left, w), min(right, w)
        img = cv2.copyMakeBorder(img, t, b, lft, r, cv2.BORDER_REFLECT)
        top, bottom, left, right = top - t, bottom - b, left - lft, right - r
    return img


def to_canvas(points: np.ndarray, reg: tuple[float, float, float], size: int) -> np.ndarray:
    """Map image points (continuous pixel coordinates) into canvas coordinates."""
    x0, y0, side = reg
    return ((np.asarray(points, np.float64) - (x0, y0)) * (size / side)).astype(np.float32)
