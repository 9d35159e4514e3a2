"""Face-mesh index tables and the 5 keypoints derived from 468 landmarks.

Hard-coded (checked against mediapipe's connection sets in the tests) so that importing
the package does not import mediapipe, which takes about a second.
"""

from __future__ import annotations

import numpy as np

N_LANDMARKS = 468

# mp.solutions.face_mesh.FACEMESH_FACE_OVAL chained into one closed polygon, starting at
# the forehead (10) and going clockwise on screen.
FACE_OVAL = (
    10,
    338,
    297,
    332,
    284,
    251,
    389,
    356,
    454,
    323,
    361,
    288,
    397,
    365,
    379,
    378,
    400,
    377,
    152,
    148,
    176,
    149,
    150,
    136,
    172,
    58,
    132,
    93,
    234,
    127,
    162,
    21,
    54,
    103,
    67,
    109,
)
# mediapipe's FACEMESH_RIGHT_EYE is the subject's right eye, i.e. the image-left one.
EYE_IMAGE_LEFT = (7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246)
EYE_IMAGE_RIGHT = (249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466)
NOSE_TIP = 1
MOUTH_IMAGE_LEFT = 61
MOUTH_IMAGE_RIGHT = 291


def keypoints(landmarks: np.ndarray) -> np.ndarray:
    """(5, 2) keypoints (eye centres, nose tip, mouth corners; image-left first) from
    (468, 2) landmarks."""
    lm = np.asarray(landmarks, dtype=np.float32)
    return np.stack(
        [
            lm[list(EYE_IMAGE_LEFT)].mean(0),
            lm[list(EYE_IMAGE_RIGHT)].mean(0),
            lm[NOSE_TIP],
            lm[MOUTH_IMAGE_LEFT],
            lm[MOUTH_IMAGE_RIGHT],
        ]
    ).astype(np.float32)


def bbox(points: np.ndarray) -> np.ndarray:
    """Tight (x0, y0, x1, y1) box around points: the face box used everywhere in this package
    (forehead to chin, cheek to cheek), so both backends report the same kind of box."""
    p = np.asarray(points, dtype=np.float32)
    return np.array([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()], dtype=np.float32)
