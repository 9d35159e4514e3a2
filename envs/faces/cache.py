"""On-disk face sets, written atomically so a crash never leaves a set that loads half-made.

Layout of a cache dir:
    CACHEDIR.TAG            marks the folder as a cache (backup tools skip it)
    set-<key>/              one complete set per (source, settings): sharded arrays (see
                            `shards`), report.json, COMPLETE (written last, before the rename)
    .build-<key>/           a set being built (or interrupted): its finished shards are kept,
                            and the next `prepare` of the same source and settings resumes it
    .lock-<key>             held by the process building that set
    .tmp-<key>-<pid>-*/     temp dirs of older writers; removed by the next writer

A reader only ever sees set-* directories, which appear by a single rename after their
marker is on disk. Sets written before sharding (one faces.npz) still load, into RAM.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time

import numpy as np

from ..files import write_json  # noqa: F401  (cache.write_json: the one atomic JSON writer)
from . import shards
from .faceset import FaceDataError, FaceSet
from .shards import fsync_dir

CACHE_ENV = "RLFF_CACHE_DIR"
TAG = "CACHEDIR.TAG"
TAG_TEXT = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# rl-face-fusion face cache (python -m envs.faces prepare). Safe to delete.\n"
)
ARRAYS, REPORT, MARKER = "faces.npz", "report.json", "COMPLETE"
STALE_TMP_SECONDS = 24 * 3600


def default_cache_dir() -> str:
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "rl-face-fusion", "faces")


def cache_key(source: dict, settings: dict) -> str:
    blob = json.dumps({"source": source, "settings": settings}, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def set_path(cache_dir: str, key: str) -> str:
    return os.path.join(cache_dir, f"set-{key}")


def read_marker(set_dir: str) -> dict | None:
    """The completeness marker's content, or None if the set is not complete."""
    try:
        with open(os.path.join(set_dir, MARKER), encoding="utf-8") as f:
            marker = json.load(f)
        return marker if isinstance(marker, dict) and "key" in marker else None
    except (OSError, ValueError):
        return None


def is_cache_dir(path: str) -> bool:
    if os.path.isfile(os.path.join(path, MARKER)):
        return True
    try:
        with open(os.path.join(path, TAG), encoding="utf-8") as f:
            if "rl-face-fusion" in f.read():
                return True
    except OSError:
        pass
    try:
        return any(n.startswith("set-") and read_marker(os.path.join(path, n)) for n in os.listdir(path))
    except OSError:
        return False


def complete_sets(cache_dir: str) -> list[tuple[str, dict]]:
    """(set dir, marker) for every complete set, newest first."""
    if read_marker(cache_dir):  # pointed at a set dir itself
        return [(cache_dir, read_marker(cache_dir))]
    out = []
    try:
        names = os.listdir(cache_dir)
    except OSError:
        return []
    for n in names:
        d = os.path.join(cache_dir, n)
        m = read_marker(d) if n.startswith("set-") else None
        if m:
            out.append((d, m))
    out.sort(key=lambda dm: dm[1].get("created_ns", 0), reverse=True)
    return out


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def remove_stale_tmp(cache_dir: str) -> None:
    """Delete temp dirs left by builders that were killed (dead pid, or older than a day)."""
    for n in os.listdir(cache_dir):
        if not n.startswith(".tmp-"):
            continue
        d = os.path.join(cache_dir, n)
        parts = n.split("-")
        try:
            pid = int(parts[2])
            age = time.time() - os.stat(d).st_mtime
        except (IndexError, ValueError, OSError):
            continue
        if pid != os.getpid() and (not _pid_alive(pid) or age > STALE_TMP_SECONDS):
            shutil.rmtree(d, ignore_errors=True)


def init_dir(cache_dir: str) -> None:
    """Create the cache dir with its CACHEDIR.TAG; remove temp dirs of dead writers."""
    os.makedirs(cache_dir, exist_ok=True)
    tag = os.path.join(cache_dir, TAG)
    if not os.path.exists(tag):
        with open(tag, "w", encoding="utf-8") as f:
            f.write(TAG_TEXT)
    remove_stale_tmp(cache_dir)


def publish(tmp: str, final: str) -> None:
    """Rename a finished set dir into place; a set already there with a marker wins (the same
    set by another process), an unmarked leftover is replaced."""
    try:
        os.rename(tmp, final)
    except OSError:
        if read_marker(final):
            shutil.rmtree(tmp, ignore_errors=True)
            return
        aside = f"{final}.broken-{os.getpid()}"
        os.rename(final, aside)
        os.rename(tmp, final)
        shutil.rmtree(aside, ignore_errors=True)
    fsync_dir(os.path.dirname(final))


def read_json(path: str):
    """Parsed JSON, or None if the file is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_report(set_dir: str) -> dict:
    rep = read_json(os.path.join(set_dir, REPORT))
    if not isinstance(rep, dict):
        raise FaceDataError(f"{set_dir}: missing or unreadable {REPORT}")
    return rep


def discard_set(set_dir: str) -> None:
    """Remove a set that has a marker but does not load (disk corruption, manual edits):
    renamed away first, so readers never see it half-deleted."""
    aside = os.path.join(os.path.dirname(set_dir), f".tmp-discard-{os.getpid()}-{time.time_ns()}")
    try:
        os.rename(set_dir, aside)
    except OSError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def load_set(set_dir: str) -> tuple[FaceSet, dict]:
    """FaceSet and report of a complete set (sharded sets memory-mapped, older single-file
    sets in RAM); FaceDataError if it is not complete, corrupt, or of an unknown format."""
    if not read_marker(set_dir):
        raise FaceDataError(f"{set_dir}: not a complete face set (no {MARKER} marker)")
    manifest = read_json(os.path.join(set_dir, shards.MANIFEST))
    try:
        if manifest is not None:
            if manifest.get("format") != shards.FORMAT:
                raise FaceDataError(
                    f"{set_dir}: face set format {manifest.get('format')!r}, this version reads "
                    f"{shards.FORMAT}: re-run `python -m envs.faces prepare` on the photos"
                )
            fs = shards.open_set(set_dir, manifest)
        elif os.path.exists(os.path.join(set_dir, ARRAYS)):
            with np.load(os.path.join(set_dir, ARRAYS), allow_pickle=False) as z:
                fs = FaceSet(
                    z["images"],
                    z["masks"],
                    z["landmarks"],
                    z["keypoints"],
                    z["boxes"],
                    tuple(str(s) for s in z["files"]),
                    tuple(str(s) for s in z["backends"]),
                )
        else:
            raise FaceDataError(
                f"{set_dir}: neither {shards.MANIFEST} nor {ARRAYS} (unknown face set format): "
                "re-run `python -m envs.faces prepare` on the photos"
            )
        report = read_report(set_dir)
    except FaceDataError:
        raise
    except Exception as exc:  # noqa: BLE001  (BadZipFile, OSError, ValueError, KeyError, ...)
        raise FaceDataError(
            f"{set_dir}: corrupt face set ({type(exc).__name__}: {exc}); "
            "re-run `python -m envs.faces prepare` on the photos"
        ) from None
    return fs, report
