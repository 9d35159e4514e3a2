"""Per-episode photometric augmentation of the observation's face images (training only).

Why: the embedded faces are mostly small grey LFW crops, blurry once on the canvas and
surrounded by mirrored padding. A policy trained on them alone learns their look and, on real
photos (sharp, colour, real backgrounds), often fails to say stop. Each episode therefore sees
its face through a random camera: contrast, brightness and gamma, blur or sharpening, sensor
noise, JPEG compression, and sometimes other surroundings (textures and scenes without faces
from scikit-image's sample images, in place of the LFW crops' mirrored padding). The pasted
face's mask may also lose a part along a random line (`mask_cut_prob`): the embedded faces are
frontal, so their masks are ovals, while a turned head's mask is a crescent. Geometry is never changed,
so the ground truth, tolerances and rewards stay exact. Works on observation-size luminance
(a few hundred microseconds per reset).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache

import cv2
import numpy as np

MASK_CUT_EDGE_PX = 2.0  # width of a cut mask's soft edge, observation pixels

# scikit-image sample images with no face in them (camera and astronaut have one)
BACKGROUNDS = (
    "coffee",
    "chelsea",
    "rocket",
    "brick",
    "grass",
    "gravel",
    "coins",
    "moon",
    "page",
    "text",
    "clock",
    "horse",
    "hubble_deep_field",
    "immunohistochemistry",
    "cell",
)


@lru_cache(maxsize=1)
def background_images() -> tuple[np.ndarray, ...]:
    """Grey uint8 scenes and textures for backgrounds, loaded once per process (those the
    installed scikit-image ships; none if it ships none)."""
    import skimage.data

    out = []
    for name in BACKGROUNDS:
        try:
            image = np.asarray(getattr(skimage.data, name)())
        except Exception:  # absent in this version, or needs a download
            continue
        if image.ndim == 3:
            image = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
        out.append(np.ascontiguousarray(image.astype(np.uint8)))
    return tuple(out)


def random_background(size: int, rng: np.random.Generator) -> np.ndarray | None:
    """A random square crop (1/4 to all of the shorter side) of a background image, at `size`."""
    images = background_images()
    if not images:
        return None
    image = images[int(rng.integers(len(images)))]
    h, w = image.shape
    side = int(rng.integers(max(min(h, w) // 4, 8), min(h, w) + 1))
    y, x = int(rng.integers(h - side + 1)), int(rng.integers(w - side + 1))
    crop = cv2.resize(image[y : y + side, x : x + side], (size, size), interpolation=cv2.INTER_AREA)
    return crop if rng.random() < 0.5 else crop[:, ::-1]


@dataclass(frozen=True)
class Augmentation:
    """Ranges and probabilities of each transform; `Augmentation()` is the training default."""

    contrast: tuple[float, float] = (0.6, 1.4)
    brightness: tuple[float, float] = (-40.0, 40.0)
    gamma: tuple[float, float] = (0.7, 1.4)
    blur_prob: float = 0.3
    blur_sigma: tuple[float, float] = (0.3, 1.2)  # observation pixels
    sharpen_prob: float = 0.3
    sharpen_amount: tuple[float, float] = (0.5, 2.0)  # unsharp mask
    noise_prob: float = 0.5
    noise_sigma: tuple[float, float] = (1.0, 8.0)  # grey levels
    jpeg_prob: float = 0.3
    jpeg_quality: tuple[int, int] = (30, 95)
    background_prob: float = 0.4  # new surroundings outside the face mask
    mask_cut_prob: float = 0.0  # the pasted face's mask cut along a random line (turned heads)
    mask_keep: tuple[float, float] = (0.5, 0.85)  # share of the mask left after a cut

    @classmethod
    def from_config(cls, value) -> Augmentation | None:
        """`augment=` env argument: False/None (off), True (defaults) or a dict of overrides."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, dict):
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(value) - known)
            if unknown:
                raise ValueError(f"augment: unknown key(s) {unknown}; expected some of {sorted(known)}")
            return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
        raise ValueError(f"augment must be true, false or a dict of settings, got {value!r}")

    def source_mask(self, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The pasted face's mask for this episode: as stored, or with `mask_cut_prob` cut along a
        random line through it, keeping a `mask_keep` share of its area behind a soft edge like
        the mask's own. No random draw is taken when `mask_cut_prob` is 0."""
        if not self.mask_cut_prob or rng.random() >= self.mask_cut_prob:
            return mask
        ys, xs = np.nonzero(mask > 127)
        if len(xs) < 2:
            return mask
        angle = float(rng.uniform(0.0, 2.0 * np.pi))
        nx, ny = np.cos(angle), np.sin(angle)
        limit = float(np.quantile(xs * nx + ys * ny, float(rng.uniform(*self.mask_keep))))
        h, w = mask.shape
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        side = np.clip((limit - (xx * nx + yy * ny)) / MASK_CUT_EDGE_PX + 0.5, 0.0, 1.0)
        return np.round(mask.astype(np.float32) * side).astype(np.uint8)

    def __call__(self, grey: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A new uint8 image: `grey` (H, W) seen through random camera settings; outside the
        face (`mask`, (H, W) uint8) the surroundings may be replaced."""
        image = grey.astype(np.float32)
        background = random_background(grey.shape[0], rng) if rng.random() < self.background_prob else None
        if background is not None:
            keep = cv2.dilate(mask, np.ones((5, 5), np.uint8)).astype(np.float32) / 255.0
            image = keep * image + (1.0 - keep) * background.astype(np.float32)
        if rng.random() < self.blur_prob:
            image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(*self.blur_sigma)))
        elif rng.random() < self.sharpen_prob:
            soft = cv2.GaussianBlur(image, (0, 0), 1.0)
            image = image + float(rng.uniform(*self.sharpen_amount)) * (image - soft)
        mean = float(image.mean())
        image = (image - mean) * float(rng.uniform(*self.contrast)) + mean + float(rng.uniform(*self.brightness))
        image = 255.0 * (np.clip(image, 0.0, 255.0) / 255.0) ** float(rng.uniform(*self.gamma))
        if rng.random() < self.noise_prob:
            image = image + rng.normal(0.0, float(rng.uniform(*self.noise_sigma)), image.shape).astype(np.float32)
        out = np.clip(image + 0.5, 0, 255).astype(np.uint8)
        if rng.random() < self.jpeg_prob:
            quality = int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1))
            ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
            out = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if ok else out
        return out
