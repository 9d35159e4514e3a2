"""Geometry and image code shared by the environment and the detectors: a face's ground
truth and the start-placement distribution, similarity warps, alpha composites, the three
blending styles, and the face crop the realism critic scores (its size and framing).

Everything here is plain numpy/OpenCV on uint8 RGB images so it can run inside an env
step (hot path) and inside a torch data loader alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

BLENDS = ("paste", "color", "seamless")
CROP_SIZE = 32  # side of the realism crop: the critic's default image size (why 32: detectors/models.py)
CROP_CONTEXT = 1.2  # realism crop side / face box side

# FaceFusionEnv's defaults that fix its start distribution, which the critic's env-like
# composites (detectors) draw from too; `draw_displacement` is the one sampler.
MAX_OFFSET = 0.25  # start offset per axis, in face sizes
MAX_SCALE_CHANGE = 0.15  # start scale log-uniform in [1 - this, 1 + this]
POSITION_TOLERANCE_PX = 2.0  # success: face centre within this many observation pixels ...
SCALE_TOLERANCE = 0.05  # ... and |scale - 1| within this
OBS_SIZE = 84  # observation side, the scale of POSITION_TOLERANCE_PX


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """2x3 affine `outer @ inner` (apply `inner` first)."""
    out = outer[:, :2] @ inner
    out[:, 2] += outer[:, 2]
    return out


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map (N, 2) points through a 2x3 affine matrix."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ matrix[:, :2].T + matrix[:, 2]


def displaced(matrix: np.ndarray, center, scale: float, shift) -> np.ndarray:
    """`matrix` followed by a scale about `center` and a shift: where a face placed by
    `matrix` goes when displaced (the env's placement; also how the critic's negatives are drawn)."""
    cx, cy = center
    m = matrix * scale
    m[0, 2] += (1.0 - scale) * cx + shift[0]
    m[1, 2] += (1.0 - scale) * cy + shift[1]
    return m


def draw_displacement(
    rng: np.random.Generator,
    face_px: float,
    tolerance_px: float,
    max_offset: float = MAX_OFFSET,
    max_scale_change: float = MAX_SCALE_CHANGE,
    scale_tolerance: float = SCALE_TOLERANCE,
) -> tuple[float, float, float]:
    """An episode's start displacement (dx, dy in pixels, scale) as FaceFusionEnv draws it:
    offset uniform in +-`max_offset` x `face_px` per axis, scale log-uniform in
    [1 - max_scale_change, 1 + max_scale_change], redrawn (up to 100 times) while already within
    tolerance (`tolerance_px` in the same pixels as `face_px`): a solved start teaches nothing."""
    lo, hi = np.log(1.0 - max_scale_change), np.log(1.0 + max_scale_change)
    for _ in range(100):
        dx, dy = rng.uniform(-max_offset, max_offset, size=2) * face_px
        scale = float(np.exp(rng.uniform(lo, hi)))
        if not (math.hypot(dx, dy) <= tolerance_px and abs(scale - 1.0) <= scale_tolerance):
            break
    return float(dx), float(dy), scale


@dataclass(frozen=True)
class Geometry:
    """Ground truth of a (target, source) pair in target-canvas pixels."""

    matrix: np.ndarray  # 2x3 source canvas -> target canvas at the true place
    box: np.ndarray  # (4,) x0, y0, x1, y1 of the source face there
    center: np.ndarray  # (2,) box centre: displacements scale about it
    face_px: float  # sqrt(box area): the unit of offsets and shift steps

    @classmethod
    def of(cls, matrix: np.ndarray, source_box) -> Geometry:
        """The geometry of a source face (box `source_box` on its canvas) placed by `matrix`."""
        box = mapped_box(matrix, source_box)
        center = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        return cls(matrix, box, center, float(np.sqrt((box[2] - box[0]) * (box[3] - box[1]))))


def mapped_box(matrix: np.ndarray, box) -> np.ndarray:
    """Axis-aligned bounding box (x0, y0, x1, y1) of `box`'s corners under `matrix`."""
    x0, y0, x1, y1 = box
    corners = apply(matrix, np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]]))
    return np.concatenate([corners.min(0), corners.max(0)])


def ground_truth(keypoints_source: np.ndarray | None, keypoints_target: np.ndarray | None) -> np.ndarray:
    """Where a source face belongs on a target: identity for the same photo (None, None),
    else the similarity that aligns the source keypoints to the target's."""
    if keypoints_source is None:
        return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    return estimate_similarity(keypoints_source, keypoints_target)


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) taking `src` to `dst`
    (Umeyama 1991). Both (N, 2), N >= 2. Returns a 2x3 matrix."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"expected two (N, 2) point arrays with N >= 2, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0
    rot = u @ sign @ vt
    var_s = (s**2).sum() / len(src)
    scale = float(np.trace(np.diag(sig) @ sign) / var_s) if var_s > 0 else 1.0
    t = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, t[:, None]])


KEYPOINT_RADIUS_PX = 1.5  # radius of a keypoint dot in observation pixels (the `landmarks` channels)
_DOT_SHIFT = 4  # cv2 fixed-point bits: dots are placed to 1/16 px, anti-aliased


def keypoint_dots(points: np.ndarray, size: int, radius: float = KEYPOINT_RADIUS_PX) -> np.ndarray:
    """(size, size) uint8 image of anti-aliased dots at `points` ((N, 2) pixel coordinates, sub-pixel
    positions kept in the dots' grey levels): keypoints as an image a CNN can align."""
    image = np.zeros((size, size), np.uint8)
    one = 1 << _DOT_SHIFT
    r = int(round(radius * one))
    for x, y in np.asarray(points, dtype=np.float64):
        cv2.circle(image, (int(round(x * one)), int(round(y * one))), r, 255, -1, cv2.LINE_AA, _DOT_SHIFT)
    return image


def warp(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Warp an image (H, W[, C]) into an output of `size` = (width, height); zeros outside."""
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def alpha_composite(target: np.ndarray, source: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Lay `source` over `target` with a uint8 alpha (H, W); all uint8, same height/width.
    Exact integer rounding of (s * a + t * (255 - a)) / 255 (255 is odd, so no quotient is
    ever a tie), in OpenCV's uint16 arithmetic: ~2x faster than the same in numpy, which
    matters because a composite runs in every env step."""
    if target.ndim == 3:
        alpha = cv2.merge([alpha] * target.shape[2])
    out = cv2.multiply(source, alpha, dtype=cv2.CV_16U)
    out += cv2.multiply(target, cv2.bitwise_not(alpha), dtype=cv2.CV_16U)  # at most 255 * 255
    return cv2.convertScaleAbs(out, alpha=1.0 / 255.0)


def reinhard_transfer(
    source: np.ndarray, reference: np.ndarray, source_mask: np.ndarray, reference_mask: np.ndarray
) -> np.ndarray:
    """Match the LAB mean/std of the masked source pixels to the masked reference pixels
    (Reinhard et al. 2001), so a pasted face takes on the target's skin tone and lighting."""
    src_lab = cv2.cvtColor(source, cv2.COLOR_RGB2LAB).astype(np.float32)
    ref_lab = cv2.cvtColor(reference, cv2.COLOR_RGB2LAB).astype(np.float32)
    sm, rm = source_mask > 127, reference_mask > 127
    if sm.sum() < 4 or rm.sum() < 4:
        return source.copy()
    s_mu, s_sd = src_lab[sm].mean(0), src_lab[sm].std(0) + 1e-3
    r_mu, r_sd = ref_lab[rm].mean(0), ref_lab[rm].std(0) + 1e-3
    out = (src_lab - s_mu) * (r_sd / s_sd) + r_mu
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def fuse(
    target: np.ndarray,
    source: np.ndarray,
    source_mask: np.ndarray,
    matrix: np.ndarray,
    blend: str = "paste",
    target_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Full-resolution fused image: the masked `source` face warped by `matrix` onto `target`.

    blend: "paste" (alpha composite), "color" (Reinhard LAB transfer to the target's face,
    then alpha composite) or "seamless" (Poisson blending with cv2.seamlessClone).
    """
    if blend not in BLENDS:
        raise ValueError(f"blend must be one of {BLENDS}, got {blend!r}")
    h, w = target.shape[:2]
    face = warp(source, matrix, (w, h))
    alpha = warp(source_mask, matrix, (w, h))
    if blend == "color":
        ref_mask = target_mask if target_mask is not None else alpha
        face = reinhard_transfer(face, target, alpha, ref_mask)
    if blend == "seamless":
        ys, xs = np.nonzero(alpha > 127)
        if len(xs) >= 4 and xs.min() > 0 and ys.min() > 0 and xs.max() < w - 1 and ys.max() < h - 1:
            x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
            center = (int((x0 + x1 + 1) // 2), int((y0 + y1 + 1) // 2))
            try:
                return cv2.seamlessClone(face, target, (alpha > 127).astype(np.uint8) * 255, center, cv2.NORMAL_CLONE)
            except cv2.error:
                pass  # face touches the border in a way seamlessClone refuses: fall back to paste
    return alpha_composite(target, face, alpha)


def square_box(box: np.ndarray, context: float = 1.0) -> np.ndarray:
    """Square box (x0, y0, x1, y1) around the centre of `box`, side = context * longer side."""
    x0, y0, x1, y1 = [float(v) for v in box]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = context * max(x1 - x0, y1 - y0) / 2
    return np.array([cx - half, cy - half, cx + half, cy + half], dtype=np.float32)


def crop_matrix(box: np.ndarray, size: int = CROP_SIZE, context: float = CROP_CONTEXT) -> np.ndarray:
    """2x3 map from image pixels to the size x size crop of `context` x the face box."""
    x0, y0, x1, _ = square_box(box, context)
    scale = size / max(x1 - x0, 1e-6)
    return np.array([[scale, 0.0, -x0 * scale], [0.0, scale, -y0 * scale]], dtype=np.float64)


def face_crop(image: np.ndarray, box: np.ndarray, size: int = CROP_SIZE, context: float = CROP_CONTEXT) -> np.ndarray:
    """The square region the realism critic sees: `context` x the face box, resized to
    size x size (reflect-padded where it leaves the image)."""
    m = crop_matrix(box, size, context)
    return cv2.warpAffine(
        image, m, (size, size), flags=cv2.INTER_AREA if m[0, 0] < 1 else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )


def pasted_crop(
    target_crop: np.ndarray, source_rgba: np.ndarray, matrix: np.ndarray, box: np.ndarray, context: float = CROP_CONTEXT
) -> np.ndarray:
    """`target_crop` (= face_crop(target, box, size, context)) with the source face pasted by
    `matrix`; `source_rgba` is the source image with its mask as a 4th channel (one warp)."""
    return paste(target_crop, source_rgba, compose(crop_matrix(box, target_crop.shape[0], context), matrix))


def paste(target_crop: np.ndarray, source_rgba: np.ndarray, crop_space: np.ndarray) -> np.ndarray:
    """`pasted_crop` given the source -> crop pixel matrix itself (the env keeps the
    ground truth in crop space per episode, so a step only displaces it)."""
    size = target_crop.shape[0]
    warped = warp(source_rgba, crop_space, (size, size))
    return alpha_composite(target_crop, cv2.cvtColor(warped, cv2.COLOR_RGBA2RGB), cv2.extractChannel(warped, 3))
