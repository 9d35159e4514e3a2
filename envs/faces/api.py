"""load_faces / prepare: resolve a source, reuse a matching cached set or build and cache one."""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass

from . import cache
from .build import add_split, build
from .decode import DEFAULT_MAX_PIXELS
from .faceset import FaceDataError, FaceSet
from .observe import OBS_SIZES
from .pipeline import Settings, kept_row, run, to_faceset
from .pipeline import report as make_report
from .shards import DEFAULT_SHARD_SIZE
from .sources import LFW_PAD, LFW_SIDE, default_items, default_versions, list_folder
from .split import HELDOUT_FRACTION


@dataclass
class Prepared:
    faces: FaceSet
    report: dict
    set_dir: str | None  # where the set lives in the cache (None if it could not be written)
    from_cache: bool


def _skip_summary(skipped: list[dict], limit: int = 5) -> str:
    if not skipped:
        return "no image files found"
    counts: dict[str, int] = {}
    for s in skipped:
        k = s["reason"].split(":")[0]
        counts[k] = counts.get(k, 0) + 1
    parts = [f"{n} x {r}" for r, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    eg = "; ".join(f"{s['file']}: {s['reason']}" for s in skipped[:limit])
    return f"{len(skipped)} skipped ({', '.join(parts)}); e.g. {eg}"


def _from_cache_dir(path: str, settings: Settings) -> Prepared:
    """The newest complete set made with `settings`, else the newest complete set (warned)."""
    sets = cache.complete_sets(path)
    if not sets:
        raise FaceDataError(f"{path}: face cache with no complete set (run `python -m envs.faces prepare`)")
    want = settings.as_dict()
    ordered = [d for d, m in sets if m.get("settings") == want] + [d for d, m in sets if m.get("settings") != want]
    errors = []
    for d in ordered:
        try:
            fs, rep = cache.load_set(d)
        except FaceDataError as exc:
            errors.append(str(exc))
            continue
        if rep.get("settings") != want:
            warnings.warn(
                f"{d}: settings {rep.get('settings')} differ from the requested {want}; "
                "loading it anyway (newest complete set)",
                stacklevel=4,
            )
        return Prepared(fs, rep, d, True)
    raise FaceDataError(f"{path}: no loadable face set ({'; '.join(errors)})")


def _writable(cache_dir: str) -> bool:
    try:
        cache.init_dir(cache_dir)
    except OSError as exc:
        warnings.warn(
            f"could not write the face cache in {cache_dir}: {exc}; faces are prepared in memory", stacklevel=3
        )
        return False
    return True


def prepare(
    source="default",
    cache_dir: str | None = None,
    settings: Settings | None = None,
    *,
    progress: bool = False,
    workers: int | None = None,
    use_cache: bool = True,
    heldout_fraction: float = HELDOUT_FRACTION,
    seed: int = 0,
    shard_size: int = DEFAULT_SHARD_SIZE,
    address: str | None = None,
    obs_sizes=OBS_SIZES,
    log=None,
) -> Prepared:
    """Faces from `source` ("default", a photo folder, or a cache dir) with a full report.

    A new set is built shard by shard into the cache (bounded memory, resumed after an
    interruption: `log` is told how much was already done), on `workers` local threads or,
    with `address` ("auto" or "host:port"), as Ray tasks across that cluster. It opens
    memory-mapped, with each face's observation-size luminance and mask stored for `obs_sizes`
    (what FaceFusionEnv reads at reset). `use_cache=False` builds in RAM and writes nothing.
    """
    settings = settings or Settings()
    cache_dir = os.fspath(cache_dir) if cache_dir is not None else cache.default_cache_dir()
    listed = _list_source(source)
    if isinstance(listed, str):  # an existing cache dir
        return _from_cache_dir(listed, settings)
    key = cache.cache_key(listed.src, settings.as_dict())
    summary = {k: v for k, v in listed.src.items() if k not in ("files", "unlisted")}
    summary["n_files"] = len(listed.items)
    listed.src = {}  # the listing can be large; the key holds what matters
    if use_cache:
        done = _cached(cache.set_path(cache_dir, key), heldout_fraction, seed)
        if done is not None:
            return done
        use_cache = _writable(cache_dir)
    if not use_cache:
        return _in_memory(listed, settings, summary, key, heldout_fraction, seed, workers, progress)
    set_dir, rep = build(
        cache_dir,
        key,
        listed.items,
        settings,
        pre_skipped=listed.skipped,
        ignored=listed.ignored,
        source=summary,
        heldout_fraction=heldout_fraction,
        seed=seed,
        shard_size=shard_size,
        workers=workers,
        address=address,
        progress=progress,
        obs_sizes=obs_sizes,
        log=log or (lambda msg: None),
    )
    if set_dir is None:
        _no_faces(rep, listed.ignored, listed.label)
    fs, rep = cache.load_set(set_dir)
    return Prepared(fs, rep, set_dir, False)


@dataclass
class _Listed:
    """What a face source holds, before any face is detected."""

    items: list
    skipped: list[tuple[str, str]]  # (file, reason) for files refused while listing
    ignored: list[str]  # files that are not images
    src: dict  # what the cache key is made of
    label: str  # the source in error messages


def _list_source(source) -> _Listed | str:
    """The photos of `source`, or the path itself when it is a prepared cache dir."""
    if isinstance(source, str) and source == "default":
        src = {"kind": "default", "versions": default_versions(), "lfw": [LFW_SIDE, LFW_PAD]}
        return _Listed(default_items(), [], [], src, "the default (embedded) faces")
    path = os.fspath(source)
    if not os.path.exists(path):
        raise FileNotFoundError(f"face source {path!r} does not exist")
    if not os.path.isdir(path):
        raise FaceDataError(
            f"face source {path!r} is not a folder (give a folder of images, a cache dir, or 'default')"
        )
    if cache.is_cache_dir(path):
        return path
    listing = list_folder(path)
    src = {
        "kind": "folder",
        "root": os.path.abspath(path),
        "files": [[it.name, it.size, it.mtime_ns, it.mode] for it in listing.items],
        "unlisted": sorted(listing.skipped),
    }
    return _Listed(listing.items, listing.skipped, listing.ignored, src, f"folder {path!r}")


def _cached(set_dir: str, heldout_fraction: float, seed: int) -> Prepared | None:
    """The finished set in `set_dir` (its split brought up to date), or None to build it."""
    if not cache.read_marker(set_dir):
        return None
    try:
        fs, rep = cache.load_set(set_dir)
    except FaceDataError as exc:
        warnings.warn(f"rebuilding: {exc}", stacklevel=3)
        cache.discard_set(set_dir)
        return None
    sp = rep.get("split", {})
    if sp.get("heldout_fraction") != heldout_fraction or sp.get("seed") != seed:
        try:
            cache.write_json(os.path.join(set_dir, cache.REPORT), add_split(rep, fs.files, heldout_fraction, seed))
        except OSError:
            pass
    return Prepared(fs, rep, set_dir, True)


def _in_memory(listed: _Listed, settings, summary, key, heldout_fraction, seed, workers, progress) -> Prepared:
    """Built in RAM, nothing written (no cache, or an unwritable one)."""
    t0 = time.perf_counter()
    faces, skipped = run(listed.items, settings, workers=workers, progress=progress)
    rep = make_report(
        [kept_row(f) for f in faces],
        sorted(listed.skipped + skipped),
        listed.ignored,
        settings,
        summary,
        time.perf_counter() - t0,
    )
    rep["key"] = key
    if not faces:
        _no_faces(rep, listed.ignored, listed.label)
    fs = to_faceset(faces, settings.canvas)
    add_split(rep, fs.files, heldout_fraction, seed)
    return Prepared(fs, rep, None, False)


def _no_faces(rep: dict, ignored: list[str], label: str):
    extra = f"; {len(ignored)} non-image files ignored" if ignored else ""
    raise FaceDataError(f"no usable face in {label}: {_skip_summary(rep['skipped'])}{extra}")


def load_faces(
    source="default",
    cache_dir=None,
    *,
    canvas: int = 256,
    backend: str = "auto",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: bool = False,
) -> FaceSet:
    """Faces from "default" (embedded photos), a folder of photos, or a cache dir written by
    `python -m envs.faces prepare`; a FaceSet is returned unchanged. Built sets are cached in
    `cache_dir` (default ~/.cache/rl-face-fusion/faces, or $RLFF_CACHE_DIR) under a key of the
    source's files (names, sizes, mtimes) and the settings.

    Raises FileNotFoundError for a missing source, FaceDataError if no usable face is found.
    """
    if isinstance(source, FaceSet):
        return source
    settings = Settings(canvas=canvas, backend=backend, max_pixels=max_pixels)
    return prepare(source, cache_dir, settings, progress=progress).faces
