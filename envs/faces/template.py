"""Mean 468-point face shape for the OpenCV backend, which only finds a box.

Built once from mediapipe face meshes of the 101 embedded faces the mesh finds (similarity-
aligned, median, eyes levelled, scaled to the unit box) and stored here as base64 uint16 so
the package needs no data files. HAAR_TO_BOX maps a Haar cascade box to the tight landmark
box (median over the same faces), so both backends report the same kind of face box.
"""

from __future__ import annotations

import base64
import functools

import numpy as np

_TEMPLATE_B64 = (
    "FHh9r7F28I+ld7eYOm5nbtp2FYZGdzF4X3jcViYtp1LkeIZAwnh6M155AAAYeAC0XHg0t3l4LbjSeBW8s3j5v6N408Se"
    "eOrJFnnW0/t2lpSabImTQgZwKzpNcFqUQndb1TcoWzkpaVWnVSNY3jz5QnxIVENpMm9E3SoxR6cg3FslUZfjISn5T6UB"
    "hVZNFFFVl0Log49pvK2Ja0S3IVtLsOBTP7PWYRm36Fq7txxIL8FvbaePS2wvhm0baz5PWGlrvlQDi09UhYVoI+2BV20w"
    "eW408DXOJSo5bRA2Gnthbj5xUl9GTD8fuGQNHbPqXGiQzmXdk2RL4bjvUDO4uh9cMqNUpo6UR043aEUOLyA7rAQhGK8l"
    "O0EvGdcUmjlPDZgyOGpIs6hefrRvV7m1el87kg1OrbilUoS6NFLpt/dhQY5fXf+2eGRPt3ptxLesavvSBWsWyZdreMNC"
    "bNO+VW12u6Zct7nuWtq6dFhevS9WqsAgSvynZgPygEJ3TpYNWF25l1WWuX1pYpgxWFKUrGc7luZNfnBmPOZ2hFJTiQ4h"
    "AQ1jKfEcijAnLv9QG8i7XcUxjFrIGP9WBQGGLnFZohRJYq1arVU1IPRJy1+CZQxbUYhDCXBpThxpaUgqTm05P/5rIU70"
    "Z5tYwGPKbRhZwwp+ffEWf0glcUCUs1hfdQAA7lQ/YP9e71EribklOFDrWqiBRgZJmQdabVL1Y4V8+yIrzGAjy9e6AOR/"
    "MhUivnAHrkJRTprusHLhlTtPMHwCCztX1Dh5VdlCBVbrT4S8KgyrkRxi3/1nQcHuXTNy5d54Txmvef//b0tDVVJTk1MB"
    "WOZSVg8jRvJQ00z7R6RKlj5SSk01dktRL85NNgFiPQsyF1QDeEug9VLFoppcM49TaHqg0XgfS6Mwr9m3Pv3jqWEJ9jcX"
    "0sclV/xPCmZnaU15X/gmUEz3hgNeluRjfboZYqq8SWBywBtfZ8VUXE/Oi1QAuDdR97baTWi11EKAr30ZKJeSZspeQ2Lj"
    "S9Fb0UxGV7a2JBmCr7FqYkzMVm7Y33fcbNptP2QheDZiq17HeNJ4qOwGeVvfqmcH3jY9XMU7SRmR7EhE0MYxRY8OQBmb"
    "qCgcn+RjXupaWIx9oTOmzfhBK9lcND65tA4Wo3Ym8rpTCT2r+Te0p61fYG94XqSMJlhmjsli6IboWVNEj0jvPuA5IT5c"
    "LaE/+iODQwAel1IEAPhq/iYRYBIyAmOQQNpi7E2xYKZXn12DXsFarAGMan1YdZCjZZByq2UEjuJrgJLJZSOPmFtCk7Ft"
    "n5MNbxWV712/UodjgVWEZr9XxivbTvgluUpLgTduo8eTUpWCNZMg9TEq6aZBWsWxE1tavONajcxyVUCeGlg8t5NCp6sw"
    "Q0HC/UPQyQdHB9ZbWzei9uN5zOJPvvpAVX7koFRzsJGDsIagrROF6Lb6lbCvup7psoqP5Lb+l1q37qxUwTeAho+dgROG"
    "rNr6PZeaPmsHnISKFJ0UhUzSwoFmgS15fL+XNVDPfjiq6ZUYoo9CPmqhMEaNtTC4s/LesvCTFpCdip2TJ6keuA6k/Lev"
    "1XMxYJ0fjl2q1jaZrOAuyrmIA2PfJiQKsnEYZ+KuOJDsnjEvhjCzkpIrtHWbRbUfkd2RY6YluCChhrqtorW3Eo3yjd6V"
    "urarjTC334Pft7mHHNNHhjPJkoW2w+2EG79RhNC795boua6YG7sFm2W9QJ2zwF6o0qe2/ul/MJwJuaWeeblMhhOYAZr+"
    "k1uI8JW+pV5wVLeGdgOfyIgG1k4LbMxoG4nD5C0JoybIR5PhMTWXahhWnD0AscZKWZfj32EsmahVfNa+SZWST2W8lAeI"
    "LvCnaOjZ/2iwyvVsDLWza7Sl4me+mrJjWIPzWMvuWX2G4DlI23wFlN6ZXnVq/3ZTZpLmXhWg6oho0N1PZJVEgZj6E5m3"
    "mThSkItBfN7X8Mtz2AfYnPsjf2PmUL7B8+pBuKVD7xR8vJVLoxp85e4pVie7TVViscVVuKMvvNjtTpHrkQz+LrWR70DG"
    "x+WXqO9UnqCiU8mby1Ln6R5FIaMHTW2suEqHtWtKDb8CTJPFuU0v/L08HMIOVNWehqK5k/yO5Yc9oEnHs9kpt6vkXZFR"
    "9ivmeMjInB1Qk4ruaIKk7fd7+OaVU47YuvqP/7yTkYTA5ZLRxb6Wi87Znti3yaH8tvSkYLVisFWvwN06l7yKil4VkUBM"
    "85fnTKWcrrZ44ImvXYeCTBWdtdiKgjpkWJJiePSKbN5st8LFFam/kF6rvtBYwkCPX7PGmi/NPp+6jhProJlRfcXBHs6q"
    "srrZjcBzuZLrF6P60B67kfL8qlW8mqf+kRlvtpBhjHqY942+i9GGW5lDRMiq/j69uR8+R8dyP6zQ8ELj2GBSTvwqamTP"
    "q1/+wsJivrOiYg+mhmAPnKFdCJW9Wv//dGmQmCmQHYpXcoyIpI0AgxeS4Ijcjg6W7pKvgCuTMYDilL+V5VKpj89VB4yp"
    "V3rJF0+Wz6lK"
)
# landmark box = (x + a*w, y + b*h, c*w, d*h) for a Haar box (x, y, w, h)
HAAR_TO_BOX = (0.074, 0.040, 0.880, 1.049)


@functools.lru_cache(maxsize=1)
def template() -> np.ndarray:
    """(468, 2) float32 mean shape with tight box exactly [0, 1] x [0, 1]."""
    q = np.frombuffer(base64.b64decode("".join(_TEMPLATE_B64)), dtype="<u2")
    t = (q.astype(np.float32) / 65535.0).reshape(468, 2)
    t.setflags(write=False)
    return t


def fit_box(box: np.ndarray) -> np.ndarray:
    """Template landmarks stretched onto a face box (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = [float(v) for v in box]
    return (template() * np.float32((x1 - x0, y1 - y0)) + np.float32((x0, y0))).astype(np.float32)


def fit_haar_box(haar: np.ndarray) -> np.ndarray:
    """Template landmarks for a Haar cascade box (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = [float(v) for v in haar]
    w, h = x1 - x0, y1 - y0
    a, b, c, d = HAAR_TO_BOX
    bx0, by0 = x0 + a * w, y0 + b * h
    return fit_box(np.array([bx0, by0, bx0 + c * w, by0 + d * h]))
