"""Training and evaluation crops for the realism critic: real face crops, composites drawn
exactly as the environment draws its realism crop, and augmentation.

Geometry is the env's own (`envs.fusion`, shared with `envs.face_fusion.FaceFusionEnv`,
which this package must not import, as it pulls in gymnasium): a source face is placed on a
target by its ground-truth transform (identity for the same photo, the keypoint similarity
for another photo) followed by a displacement (scale `scale` about the face centre, then
shift `dx, dy` in face sizes); the critic sees `fusion.face_crop` (CROP_CONTEXT x the
ground-truth face box, the critic's image size) with the source face pasted at that
placement. `tests/test_detectors.py` checks the crops match the env's `realism_crop()` pixel
for pixel, and that `env_placement` draws the env's start placements.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from envs import fusion
from envs.faces import FaceSet
from envs.fusion import Geometry

from .models import IMAGE_SIZE


def geometry(faces: FaceSet, target: int, source: int) -> Geometry:
    """The env's ground truth: identity for the same face, else keypoints source -> target."""
    same = source == target
    m = fusion.ground_truth(None if same else faces.keypoints[source], None if same else faces.keypoints[target])
    return Geometry.of(m, faces.boxes[source])


def placed(geo: Geometry, dx: float = 0.0, dy: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """Source -> target matrix displaced by (dx, dy) face sizes and `scale` about the centre
    (the env's `current_matrix` with dx, dy in face sizes instead of pixels)."""
    return fusion.displaced(geo.matrix, geo.center, scale, (dx * geo.face_px, dy * geo.face_px))


def jitter_box(box: np.ndarray, shift: tuple[float, float] = (0.0, 0.0), zoom: float = 1.0) -> np.ndarray:
    """`box` moved by `shift` x its size and scaled by `zoom` about its centre (crop jitter)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2 + shift[0] * w, (y0 + y1) / 2 + shift[1] * h
    return np.array([cx - zoom * w / 2, cy - zoom * h / 2, cx + zoom * w / 2, cy + zoom * h / 2])


def composite_crop(
    faces: FaceSet,
    target: int,
    source: int,
    matrix: np.ndarray | None,
    box: np.ndarray,
    size: int = IMAGE_SIZE,
    context: float = fusion.CROP_CONTEXT,
) -> np.ndarray:
    """(size, size, 3) uint8 crop around `box` of the target photo with the source face
    pasted by `matrix` (None: the target photo alone, i.e. a real crop)."""
    target_crop = fusion.face_crop(faces.images[target], box, size, context)
    if matrix is None:
        return target_crop
    rgba = np.dstack([faces.images[source], faces.masks[source]])
    return fusion.pasted_crop(target_crop, rgba, matrix, box, context)


def other_photo(faces: FaceSet, target: int, rng: np.random.Generator) -> int:
    """A face index from a different photo than `target` (for swap composites)."""
    files, name = faces.files, faces.files[target]
    same = files.count(name)  # no per-call array of every file name: sets can hold 100k+ faces
    if same == len(files):
        raise ValueError("swap composites need faces from at least two photos")
    j = int(rng.integers(len(files) - same))
    if same == 1:  # the others are every index but target
        return j + (j >= target)
    return [i for i, f in enumerate(files) if f != name][j]


def misplacement(
    rng: np.random.Generator,
    max_offset: float = 0.3,
    scale_range=(0.8, 1.25),
    min_offset: float = 0.08,
    min_scale_error: float = 0.06,
) -> tuple[float, float, float]:
    """(dx, dy, scale) of a clearly wrong placement: offset uniform in +-max_offset face sizes
    per axis, scale log-uniform in scale_range, redrawn until the offset exceeds
    `min_offset` or the scale error `min_scale_error` (tiny displacements look real)."""
    lo, hi = math.log(scale_range[0]), math.log(scale_range[1])
    while True:
        dx, dy = rng.uniform(-max_offset, max_offset, 2)
        scale = math.exp(rng.uniform(lo, hi))
        if math.hypot(dx, dy) > min_offset or abs(scale - 1.0) > min_scale_error:
            return float(dx), float(dy), float(scale)


def env_placement(rng: np.random.Generator, face_px: float, canvas: int) -> tuple[float, float, float]:
    """(dx, dy, scale) of a start placement as FaceFusion-v0 draws it (`fusion.draw_displacement`
    with the env's defaults) on a `canvas` px face canvas, dx and dy in face sizes."""
    tolerance_px = fusion.POSITION_TOLERANCE_PX * canvas / fusion.OBS_SIZE  # observation -> canvas pixels
    dx, dy, scale = fusion.draw_displacement(rng, face_px, tolerance_px)
    return dx / face_px, dy / face_px, scale


class CropSampler:
    """Draws augmented batches from a FaceSet: real crops and misplaced composites.

    Reals are `face_crop`s; the env's crop of a face pasted back exactly onto its own photo
    is the same image (both resample bilinearly), so the critic judges placement only.
    Crop jitter (`shift` of the box centre, `zoom` of its side, `rotate` degrees of tilt) is
    applied alike to reals and composites so framing carries no label, and ~80 faces look
    like more. A `near_fraction` of the composites are hard negatives, displaced at most
    `near_offset` face sizes (so mostly wrong in scale or only a little off): with offsets up
    to 0.3 alone the critic learns "far off" but not "slightly off", and the env's random
    starts include many of those. Crops are `size` px square.
    """

    def __init__(
        self,
        faces: FaceSet,
        rng: np.random.Generator,
        size: int = IMAGE_SIZE,
        shift: float = 0.04,
        zoom: float = 0.06,
        swap_fraction: float = 0.5,
        near_fraction: float = 0.5,
        near_offset: float = 0.12,
        rotate: float = 10.0,
    ):
        if len(faces) == 0:
            raise ValueError("CropSampler: empty face set")
        self.faces, self.rng, self.size = faces, rng, size
        self.shift, self.zoom, self.swap_fraction = shift, zoom, swap_fraction
        self.near_fraction, self.near_offset, self.rotate = near_fraction, near_offset, rotate
        self.can_swap = len(set(faces.files)) > 1
        self._geo: dict[tuple[int, int], Geometry] = {}

    def geometry(self, target: int, source: int) -> Geometry:
        key = (target, source)
        if key not in self._geo:
            self._geo[key] = geometry(self.faces, target, source)
        return self._geo[key]

    def _box(self, geo: Geometry) -> np.ndarray:
        r = self.rng
        return jitter_box(
            geo.box, tuple(r.uniform(-self.shift, self.shift, 2)), math.exp(r.uniform(-self.zoom, self.zoom))
        )

    def _turn(self, crop: np.ndarray) -> np.ndarray:
        """Rotate a crop about its centre by up to +-`rotate` degrees (head tilt)."""
        if not self.rotate:
            return crop
        c = self.size / 2 - 0.5
        m = cv2.getRotationMatrix2D((c, c), self.rng.uniform(-self.rotate, self.rotate), 1.0)
        return cv2.warpAffine(
            crop, m, (self.size, self.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
        )

    def reals(self, n: int) -> np.ndarray:
        """(n, size, size, 3) uint8 real crops of random faces."""
        out = np.empty((n, self.size, self.size, 3), np.uint8)
        for i in range(n):
            t = int(self.rng.integers(len(self.faces)))
            out[i] = self._turn(composite_crop(self.faces, t, t, None, self._box(self.geometry(t, t)), self.size))
        return out

    def composites(self, n: int) -> np.ndarray:
        """(n, size, size, 3) uint8 misplaced composites (see `misplacement`), self and swap mixed."""
        out = np.empty((n, self.size, self.size, 3), np.uint8)
        for i in range(n):
            t = int(self.rng.integers(len(self.faces)))
            s = other_photo(self.faces, t, self.rng) if self.can_swap and self.rng.random() < self.swap_fraction else t
            geo = self.geometry(t, s)
            near = self.rng.random() < self.near_fraction
            place = misplacement(self.rng, max_offset=self.near_offset if near else 0.3)
            out[i] = self._turn(composite_crop(self.faces, t, s, placed(geo, *place), self._box(geo), self.size))
        return out


def to_tensor(crops: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) RGB -> float (N, 3, H, W) in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float()
    return x.div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float (N, 3, H, W) in [-1, 1] -> uint8 (N, H, W, 3)."""
    x = ((images.detach().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def gaussian_blur(x: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """(N, C, H, W) blurred by a 5 x 5 Gaussian of `sigma` px, edges replicated."""
    r = torch.arange(-2, 3, dtype=x.dtype, device=x.device)
    g = torch.exp(-(r**2) / (2 * sigma**2))
    g = g / g.sum()
    c = x.shape[1]
    kernel = (g[:, None] * g[None, :]).expand(c, 1, 5, 5)
    return torch.nn.functional.conv2d(torch.nn.functional.pad(x, (2, 2, 2, 2), mode="replicate"), kernel, groups=c)


def augment(
    x: torch.Tensor,
    generator: torch.Generator,
    flip: float = 0.5,
    brightness: float = 0.1,
    contrast: float = 0.1,
    saturation: float = 0.1,
    sharpen: float = 0.0,
    noise: float = 0.0,
) -> torch.Tensor:
    """Random horizontal flips and small colour jitter of a [-1, 1] batch (N, 3, H, W); with
    `sharpen` and `noise`, half the crops also get an unsharp mask of amount up to `sharpen`
    and sensor noise of sigma up to `noise` (in [0, 1] intensity units): fine detail that a
    sharp real photo has and a blurry, upsampled training face does not."""
    n = len(x)

    def factor(amount: float) -> torch.Tensor:
        return 1.0 + (torch.rand(n, 1, 1, 1, generator=generator) * 2 - 1) * amount

    def some(amount: float) -> torch.Tensor:  # 0 for half the batch, else uniform in [0, amount]
        on = torch.rand(n, 1, 1, 1, generator=generator) < 0.5
        return torch.rand(n, 1, 1, 1, generator=generator) * amount * on

    flips = torch.rand(n, generator=generator) < flip
    x = torch.where(flips[:, None, None, None], x.flip(3), x)
    x = (x + 1) / 2
    x = x * factor(brightness)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * factor(contrast) + mean
    grey = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    x = (x - grey) * factor(saturation) + grey
    if sharpen:
        x = x + some(sharpen) * (x - gaussian_blur(x))
    if noise:
        x = x + some(noise) * torch.randn(x.shape, generator=generator)
    return x.clamp(0, 1) * 2 - 1
