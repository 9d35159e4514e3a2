"""A face at observation scale, as FaceFusionEnv draws its observations from it: luminance and
mask resized to the observation side. Defined here so `prepare` can store it in the cache for
the usual sizes and the env reads it instead of recomputing it."""

from __future__ import annotations

import cv2
import numpy as np

OBS_SIZES = (84,)  # stored by `prepare` unless told otherwise: the registered envs' obs_size


def obs_pair(image: np.ndarray, mask: np.ndarray, size: int) -> np.ndarray:
    """(size, size, 2) uint8: luminance and mask of a canvas, area-resized to `size`."""

    def to_obs(a: np.ndarray) -> np.ndarray:
        return cv2.resize(a, (size, size), interpolation=cv2.INTER_AREA)

    return np.stack([to_obs(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)), to_obs(mask)], -1)
