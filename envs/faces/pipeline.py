"""Photos -> FaceSet: decode, detect, cut to the canvas, mask; in a thread pool.

Threads rather than processes: mediapipe and OpenCV release the GIL, so threads use both
cores without paying a process start (and a mediapipe import) per worker. Several threads
per core pay off because a mediapipe graph call spends a good part of its time waiting.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass

import numpy as np

from . import canvas
from .decode import DEFAULT_MAX_PIXELS, MIN_SIDE, SkipImage, read_image
from .detect import BACKENDS, detect
from .faceset import FaceSet
from .geometry import bbox, keypoints
from .mask import ellipse_mask, oval_mask
from .sources import Item

PIPELINE_VERSION = 1  # bump when the output of the same settings changes (invalidates caches)


@dataclass(frozen=True)
class Settings:
    canvas: int = 256
    backend: str = "auto"
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if not 32 <= int(self.canvas) <= 4096:
            raise ValueError(f"canvas must be in 32..4096, got {self.canvas}")
        if int(self.max_pixels) < MIN_SIDE * MIN_SIDE:
            raise ValueError(f"max_pixels must be >= {MIN_SIDE * MIN_SIDE}, got {self.max_pixels}")

    def as_dict(self) -> dict:
        return {**asdict(self), "min_side": MIN_SIDE, "context": canvas.CANVAS_CONTEXT, "version": PIPELINE_VERSION}


@dataclass
class Face:
    name: str
    image: np.ndarray
    mask: np.ndarray
    landmarks: np.ndarray
    keypoints: np.ndarray
    box: np.ndarray  # canvas pixels
    backend: str
    n_faces: int
    source_box: np.ndarray  # photo pixels (full resolution)
    source_size: tuple[int, int]


def process(item: Item, settings: Settings) -> Face | str:
    """One photo -> a Face, or the reason it was skipped (never raises for bad input)."""
    try:
        return _process(item, settings)
    except SkipImage as exc:
        return str(exc)
    except MemoryError:
        return "out of memory while decoding"
    except Exception as exc:  # noqa: BLE001  (a decoder/detector failure on one file must not stop the run)
        return f"error: {type(exc).__name__}: {exc}"


def _process(item: Item, s: Settings) -> Face | str:
    if item.path is not None:
        img, r, size = read_image(item.path, s.max_pixels)
    else:
        img, r = item.load(), 1
        size = (img.shape[1], img.shape[0])
    h, w = img.shape[:2]
    if (w >= h) != (size[0] >= size[1]):  # EXIF rotation applied by the decoder
        size = (size[1], size[0])
    det = detect(img, s.backend)
    if det is None:
        return "no face found" + ("" if s.backend == "auto" else f" ({s.backend} backend)")
    lm = det.landmarks
    reg = canvas.region(bbox(lm))
    if r > 1 and reg[2] < s.canvas:  # face too small at the reduced decode: use full pixels
        full = read_image(item.path, s.max_pixels, reduce=False)[0]
        lm = lm * np.float32((full.shape[1] / w, full.shape[0] / h))
        img, reg, (h, w) = full, canvas.region(bbox(lm)), full.shape[:2]
    box = bbox(lm)
    if min(box[2] - box[0], box[3] - box[1]) < 4:
        return "face too small to use"
    lm_c = canvas.to_canvas(lm, reg, s.canvas)
    box_c = bbox(lm_c)
    mask = oval_mask(lm_c, s.canvas) if det.backend == "mediapipe" else ellipse_mask(box_c, s.canvas)
    to_full = np.float32((size[0] / w, size[1] / h) * 2)  # reduced decode -> photo pixels
    return Face(
        item.name,
        canvas.cut(img, reg, s.canvas),
        mask,
        lm_c,
        keypoints(lm_c),
        box_c,
        det.backend,
        det.n_faces,
        box * to_full,
        (int(size[0]), int(size[1])),
    )


def default_workers() -> int:
    return max(1, min(8, 2 * (os.cpu_count() or 1)))


def stream(items: list[Item], settings: Settings, workers: int | None = None, window: int | None = None):
    """Yield (position, Face or skip reason) for every item, in completion order, with at most
    `window` items in flight (default 4 x workers) so memory stays bounded on any folder size."""
    workers = max(1, min(workers or default_workers(), len(items) or 1))
    if workers == 1:
        for i, it in enumerate(items):
            yield i, process(it, settings)
        return
    window = max(workers, window or 4 * workers)
    with ThreadPoolExecutor(workers, thread_name_prefix="faces") as ex:
        pending: dict = {}
        todo = iter(enumerate(items))
        try:
            while True:
                for i, it in todo:
                    pending[ex.submit(process, it, settings)] = i
                    if len(pending) >= window:
                        break
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    yield pending.pop(f), f.result()
        finally:  # also on an exception or an abandoned generator: drop what has not started
            for f in pending:
                f.cancel()


def run(
    items: list[Item], settings: Settings, workers: int | None = None, progress: bool = False
) -> tuple[list[Face], list[tuple[str, str]]]:
    """Process all items; returns (faces, skipped) both in item order."""
    results: list = [None] * len(items)
    bar = progress_bar(len(items)) if progress else None
    try:
        for i, r in stream(items, settings, workers):
            results[i] = r
            if bar:
                bar.update()
    finally:
        if bar:
            bar.close()
    faces = [r for r in results if isinstance(r, Face)]
    skipped = [(it.name, r) for it, r in zip(items, results) if isinstance(r, str)]
    return faces, skipped


def progress_bar(total: int, initial: int = 0):
    """tqdm bar in photos with rate and ETA (resumed work counts as done, not in the rate)."""
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="img", desc="faces", dynamic_ncols=True, smoothing=0.1)


def to_faceset(faces: list[Face], size: int) -> FaceSet:
    n = len(faces)
    if n == 0:
        return FaceSet(
            np.zeros((0, size, size, 3), np.uint8),
            np.zeros((0, size, size), np.uint8),
            np.zeros((0, 468, 2), np.float32),
            np.zeros((0, 5, 2), np.float32),
            np.zeros((0, 4), np.float32),
            (),
            (),
        )
    return FaceSet(
        np.stack([f.image for f in faces]),
        np.stack([f.mask for f in faces]),
        np.stack([f.landmarks for f in faces]).astype(np.float32),
        np.stack([f.keypoints for f in faces]).astype(np.float32),
        np.stack([f.box for f in faces]).astype(np.float32),
        tuple(f.name for f in faces),
        tuple(f.backend for f in faces),
    )


def kept_row(face: Face) -> dict:
    """The report's line for a kept photo (backend, faces seen, box and size in photo pixels)."""
    return {
        "file": face.name,
        "backend": face.backend,
        "n_faces": int(face.n_faces),
        "box": [round(float(v), 2) for v in face.source_box],
        "size": list(face.source_size),
    }


def report(
    kept: list[dict],
    skipped: list[tuple[str, str]],
    ignored: list[str],
    settings: Settings,
    source: dict,
    seconds: float,
) -> dict:
    """JSON-able account of every file: kept (`kept_row`s: backend, n_faces, box), skipped
    (reason), ignored."""
    by_backend: dict[str, int] = {}
    for k in kept:
        by_backend[k["backend"]] = by_backend.get(k["backend"], 0) + 1
    reasons: dict[str, int] = {}
    for _, r in skipped:
        key = r.split(":")[0]
        reasons[key] = reasons.get(key, 0) + 1
    return {
        "source": source,
        "settings": settings.as_dict(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(seconds, 3),
        "counts": {
            "kept": len(kept),
            "skipped": len(skipped),
            "ignored": len(ignored),
            "by_backend": by_backend,
            "skip_reasons": reasons,
        },
        "kept": list(kept),
        "skipped": [{"file": n, "reason": r} for n, r in skipped],
        "ignored": list(ignored),
    }
