"""Face detectors returning 468 landmarks in image pixels: mediapipe's face mesh (real
landmarks) and OpenCV's Haar cascade (a mean-shape template fitted to the box).

Detector objects are expensive to build (graph + model load), so they live in a module-level
pool and are reused by every call and thread in the process; each is used by one thread
at a time.
"""

from __future__ import annotations

import queue
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np

from . import native_logs
from .geometry import bbox

BACKENDS = ("auto", "mediapipe", "opencv")
MAX_FACES = 5  # faces counted per photo (n_faces saturates here)
DETECT_SIDE = 1024  # photos are downscaled to this longer side for detection
HAAR_SIDE = 320  # and to this for the Haar cascade (~40 ms here; it finds faces >= 1/5 of the
# shorter side: a fallback for mediapipe misses, not a small-face finder)


@dataclass
class Detection:
    landmarks: np.ndarray  # (468, 2) float32, continuous pixel coordinates of the input image
    n_faces: int
    backend: str


def _downscale(img: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    h, w = img.shape[:2]
    s = min(1.0, side / max(h, w))
    if s == 1.0:
        return img, 1.0
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA), s


def _parse_landmarks(blob: bytes) -> np.ndarray:
    """(468, 2) normalised x, y from a serialized NormalizedLandmarkList. Each landmark is
    17 bytes (tag, length, x, y, z as fixed32) when only x, y, z are set; anything else goes
    through protobuf."""
    raw = np.frombuffer(blob, np.uint8)
    if raw.size == 17 * 468:
        rec = raw.reshape(468, 17)
        if (rec[:, :3] == (0x0A, 0x0F, 0x0D)).all() and (rec[:, 7] == 0x15).all():
            xy = np.ascontiguousarray(rec[:, np.r_[3:7, 8:12]]).view("<f4")
            return xy.reshape(468, 2).astype(np.float32)
    from mediapipe.framework.formats import landmark_pb2

    msg = landmark_pb2.NormalizedLandmarkList.FromString(blob)
    return np.array([(p.x, p.y) for p in msg.landmark], np.float32)


def _largest(faces: list[np.ndarray]) -> np.ndarray:
    def area(lm):
        x0, y0, x1, y1 = bbox(lm)
        return (x1 - x0) * (y1 - y0)

    return max(faces, key=area)


class MediapipeDetector:
    """Face mesh on the photo; if it finds nothing, retry on a reflect-padded photo (faces that
    fill the frame) and then on crops around full-range face_detection boxes (small faces)."""

    name = "mediapipe"

    def __init__(self) -> None:
        native_logs.quiet()  # before the first graph: its C++ log lines cannot be turned off
        import mediapipe as mp

        self._mp = mp
        self.mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=MAX_FACES, refine_landmarks=False, min_detection_confidence=0.5
        )
        self._finder = None

    @property
    def finder(self):
        if self._finder is None:
            self._finder = self._mp.solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=0.5
            )
        return self._finder

    def _mesh(self, img: np.ndarray) -> list[np.ndarray]:
        """Landmark arrays (pixels of `img`) of every face the mesh finds."""
        img = np.ascontiguousarray(img)
        h, w = img.shape[:2]
        blobs = self._mesh_fast(img)
        if blobs is None:  # private API changed: the public (slower) call
            res = self.mesh.process(img)
            faces = [np.array([(p.x, p.y) for p in f.landmark], np.float32) for f in (res.multi_face_landmarks or [])]
        else:
            faces = [_parse_landmarks(b) for b in blobs]
        return [f * np.float32((w, h)) for f in faces]

    def _mesh_fast(self, img: np.ndarray) -> list[bytes] | None:
        """SolutionBase.process without its per-call namedtuple class and proto objects: those
        cost ~1.5 ms of GIL-holding Python per image, a third of the mesh's own time.
        Returns the serialized NormalizedLandmarkList per face, or None if unavailable."""
        sol = self.mesh
        try:
            from mediapipe.python._framework_bindings import _packet_getter

            ((name, kind),) = sol._input_stream_type_info.items()
            sol._graph_outputs.clear()
            sol._simulated_timestamp += 33333
            sol._graph.add_packet_to_input_stream(
                stream=name, packet=sol._make_packet(kind, img).at(sol._simulated_timestamp)
            )
            sol._graph.wait_until_idle()
            packet = sol._graph_outputs.get("multi_face_landmarks")
            if packet is None or packet.is_empty():
                return []
            return list(_packet_getter._get_serialized_proto_list(packet))
        except (AttributeError, ImportError, ValueError, TypeError):
            return None

    def _padded(self, img: np.ndarray) -> list[np.ndarray]:
        h, w = img.shape[:2]
        p = max(h, w) // 4
        faces = self._mesh(cv2.copyMakeBorder(img, p, p, p, p, cv2.BORDER_REFLECT))
        faces = [lm - p for lm in faces]
        # drop mirror images of the face that live in the padding
        return [lm for lm in faces if 0 <= lm[:, 0].mean() < w and 0 <= lm[:, 1].mean() < h]

    def _via_finder(self, img: np.ndarray, work: np.ndarray) -> tuple[list[np.ndarray], int]:
        res = self.finder.process(np.ascontiguousarray(work))
        if not res.detections:
            return [], 0
        h, w = img.shape[:2]
        boxes = []
        for d in res.detections:
            b = d.location_data.relative_bounding_box
            boxes.append((b.xmin * w, b.ymin * h, (b.xmin + b.width) * w, (b.ymin + b.height) * h))
        boxes.sort(key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))
        for b in boxes[:3]:
            side = 2.0 * max(b[2] - b[0], b[3] - b[1])
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            x0, y0 = int(max(cx - side / 2, 0)), int(max(cy - side / 2, 0))
            x1, y1 = int(min(cx + side / 2, w)), int(min(cy + side / 2, h))
            if x1 - x0 < 8 or y1 - y0 < 8:
                continue
            crop, cs = _downscale(img[y0:y1, x0:x1], 384)
            faces = self._mesh(crop)
            if faces:
                return [_largest(faces) / cs + np.float32((x0, y0))], len(boxes)
        return [], len(boxes)

    def detect(self, img: np.ndarray) -> Detection | None:
        work, s = _downscale(img, DETECT_SIDE)
        faces = self._mesh(work)
        n = len(faces)
        if not faces:
            faces = self._padded(work)
            n = len(faces)
        if faces:
            return Detection(_largest(faces) / s, n, self.name)
        faces, n = self._via_finder(img, work)
        if faces:
            return Detection(faces[0], n, self.name)
        return None


class OpenCVDetector:
    """Haar cascade box + template landmarks: a fallback for faces the mesh misses."""

    name = "opencv"

    def __init__(self) -> None:
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise RuntimeError(f"could not load the Haar cascade {path}")

    def detect(self, img: np.ndarray) -> Detection | None:
        from .template import fit_haar_box

        work, s = _downscale(img, HAAR_SIDE)
        grey = cv2.equalizeHist(cv2.cvtColor(work, cv2.COLOR_RGB2GRAY))
        h, w = grey.shape
        p = max(h, w) // 4  # context for faces that fill the frame (the cascade needs some)
        grey = cv2.copyMakeBorder(grey, p, p, p, p, cv2.BORDER_REPLICATE)
        side = max(24, min(h, w) // 5)
        found, _, weights = self.cascade.detectMultiScale3(
            grey, scaleFactor=1.1, minNeighbors=5, minSize=(side, side), outputRejectLevels=True
        )
        scored = [
            ((x - p, y - p, bw, bh), float(wt))
            for (x, y, bw, bh), wt in zip(np.asarray(found, float).reshape(-1, 4), np.asarray(weights, float).ravel())
            if 0 <= x - p + bw / 2 < w and 0 <= y - p + bh / 2 < h
        ]  # centre in the photo
        if not scored:
            return None
        # Haar false positives are common and often big: the largest of the confident ones
        best = max(wt for _, wt in scored)
        boxes = [b for b, wt in scored if wt >= 0.5 * best]
        x, y, bw, bh = max(boxes, key=lambda b: b[2] * b[3])
        return Detection(fit_haar_box(np.array([x, y, x + bw, y + bh]) / s), len(boxes), self.name)


_POOLS: dict[str, queue.SimpleQueue] = {"mediapipe": queue.SimpleQueue(), "opencv": queue.SimpleQueue()}
_CLASSES = {"mediapipe": MediapipeDetector, "opencv": OpenCVDetector}


@contextmanager
def borrowed(name: str):
    """A detector of backend `name` for the calling thread; created on first need, then kept
    for the life of the process."""
    pool = _POOLS[name]
    try:
        det = pool.get_nowait()
    except queue.Empty:
        det = _CLASSES[name]()
    try:
        yield det
    finally:
        pool.put(det)


def detect(img: np.ndarray, backend: str = "auto") -> Detection | None:
    """Landmarks of the largest face in `img` (RGB uint8) with the chosen backend; "auto" tries
    mediapipe, then OpenCV. None if no face."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend in ("auto", "mediapipe"):
        with borrowed("mediapipe") as det:
            found = det.detect(img)
        if found is not None or backend == "mediapipe":
            return found
    with borrowed("opencv") as det:
        return det.detect(img)
