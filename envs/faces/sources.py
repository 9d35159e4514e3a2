"""Where face photos come from: a folder walked safely, or the faces that ship inside
installed packages (so tests and demos run with no download)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from .decode import EXTENSIONS, os_reason

LFW_FACES = 100  # skimage's lfw_subset(): first 100 of 200 are faces, the rest are not
LFW_SIDE = 128  # 25 px LFW crops are padded and upscaled to this so the detectors fire
LFW_PAD = 2  # replicate-padding (px at 25 px) giving the detector some context


@dataclass(frozen=True)
class Item:
    """One image to process: a file (`path`) or an in-memory image (`load`)."""

    name: str  # relative to the source root, or "skimage:..." / "matplotlib:..."
    path: str | None = None
    load: Callable[[], np.ndarray] | None = None
    size: int = 0
    mtime_ns: int = 0
    mode: int = 0  # permission bits (a chmod that makes a file readable rebuilds)


@dataclass
class Listing:
    items: list[Item]
    skipped: list[tuple[str, str]]  # (name, reason)
    ignored: list[str]  # files without an image extension


def list_folder(root: str) -> Listing:
    """All image files under `root` (recursive, sorted, symlinks followed with loop guard).

    Unreadable folders, symlink loops and duplicate links are reported, never raised.
    """
    root = os.path.abspath(root)
    items: list[Item] = []
    skipped: list[tuple[str, str]] = []
    ignored: list[str] = []
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: dict[tuple[int, int], str] = {}

    def rel(path: str) -> str:
        return os.path.relpath(path, root).replace(os.sep, "/")

    def walk(folder: str) -> None:
        try:
            st = os.stat(folder)
            seen_dirs.add((st.st_dev, st.st_ino))
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            skipped.append((rel(folder) + "/", "folder " + os_reason(exc)))
            return
        for e in entries:
            name = rel(e.path)
            is_image = e.name.lower().endswith(EXTENSIONS)
            try:
                st = os.stat(e.path)  # follows symlinks; ELOOP / ENOENT for bad links
            except OSError as exc:
                skipped.append((name, os_reason(exc)))
                continue
            if os.path.isdir(e.path):
                if (st.st_dev, st.st_ino) in seen_dirs:
                    skipped.append((name + "/", "symlink loop (folder already visited)"))
                    continue
                walk(e.path)
            elif not is_image:
                ignored.append(name)
            elif (st.st_dev, st.st_ino) in seen_files:
                skipped.append((name, f"duplicate of {seen_files[(st.st_dev, st.st_ino)]} (link)"))
            else:
                seen_files[(st.st_dev, st.st_ino)] = name
                items.append(
                    Item(name=name, path=e.path, size=st.st_size, mtime_ns=st.st_mtime_ns, mode=st.st_mode & 0o777)
                )

    walk(root)
    items.sort(key=lambda it: it.name)
    return Listing(items, skipped, ignored)


@functools.lru_cache(maxsize=1)
def _lfw() -> np.ndarray:
    from skimage import data

    return np.round(data.lfw_subset()[:LFW_FACES] * 255).astype(np.uint8)


def _lfw_face(i: int) -> np.ndarray:
    grey = _lfw()[i]
    grey = cv2.copyMakeBorder(grey, LFW_PAD, LFW_PAD, LFW_PAD, LFW_PAD, cv2.BORDER_REPLICATE)
    grey = cv2.resize(grey, (LFW_SIDE, LFW_SIDE), interpolation=cv2.INTER_CUBIC)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)


def _astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[..., :3])


def grace_hopper_path() -> str:
    import matplotlib

    return os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")


def _grace_hopper() -> np.ndarray:
    from .decode import read_image

    return read_image(grace_hopper_path(), reduce=False)[0]


def default_items() -> list[Item]:
    """The 102 real faces shipped in scikit-image and matplotlib."""
    items = [Item(name=f"skimage:lfw_subset/{i}", load=lambda i=i: _lfw_face(i)) for i in range(LFW_FACES)]
    items.append(Item(name="skimage:astronaut", load=_astronaut))
    items.append(Item(name="matplotlib:grace_hopper.jpg", load=_grace_hopper))
    return items


def default_versions() -> dict[str, str]:
    """Package versions the default set depends on (part of its cache key)."""
    import importlib.metadata as md

    out = {}
    for pkg in ("scikit-image", "matplotlib", "mediapipe", "opencv-contrib-python", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "absent"
    out["opencv"] = cv2.__version__
    return out
