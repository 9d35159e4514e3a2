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
    ignored: list[str] = []
    pre_skipped: list[tuple[str, str]] = []
    if isinstance(source, str) and source == "default":
        items = default_items()
        src = {"kind": "default", "versions": default_versions(), "lfw": [LFW_SIDE, LFW_PAD]}
        label = "the default (embedded) faces"
    else:
        path = os.fspath(source)
        if not os.path.exists(path):
            raise FileNotFoundError(f"face source {path!r} does not exist")
        if not os.path.isdir(path):
            raise FaceDataError(
                f"face source {path!r} is not a folder (give a folder of images, a cache dir, or 'default')"
            )
        if cache.is_cache_dir(path):
            return _from_cache_dir(path, settings)
        listing = list_folder(path)
        items, pre_skipped, ignored = listing.items, listing.skipped, listing.ignored
        src = {
            "kind": "folder",
            "root": os.path.abspath(path),
            "files": [[it.name, it.size, it.mtime_ns, it.mode] for it in items],
            "unlisted": sorted(pre_skipped),
        }
        label = f"folder {path!r}"
    key = cache.cache_key(src, settings.as_dict())
    src_summary = {k: v for k, v in src.items() if k not in ("files", "unlisted")}
    src_summary["n_files"] = len(items)
    del src  # the listing can be large; the key holds what matters
    if use_cache:
        d = cache.set_path(cache_dir, key)
        if cache.read_marker(d):
            try:
                fs, rep = cache.load_set(d)
            except FaceDataError as exc:
                warnings.warn(f"rebuilding: {exc}", stacklevel=2)
                cache.discard_set(d)
            else:
                sp = rep.get("split", {})
                if sp.get("heldout_fraction") != heldout_fraction or sp.get("seed") != seed:
                    try:
                        cache.write_json(
                            os.path.join(d, cache.REPORT), add_split(rep, fs.files, heldout_fraction, seed)
                        )
                    except OSError:
                        pass
                return Prepared(fs, rep, d, True)
        use_cache = _writable(cache_dir)
    if use_cache:
        set_dir, rep = build(
            cache_dir,
            key,
            items,
            settings,
            pre_skipped=pre_skipped,
            ignored=ignored,
            source=src_summary,
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
            _no_faces(rep, ignored, label)
        fs, rep = cache.load_set(set_dir)
        return Prepared(fs, rep, set_dir, False)
    t0 = time.perf_counter()
    faces, skipped = run(items, settings, workers=workers, progress=progress)
    rep = make_report(
        [kept_row(f) for f in faces],
        sorted(pre_skipped + skipped),
        ignored,
        settings,
        src_summary,
        time.perf_counter() - t0,
    )
    rep["key"] = key
    if not faces:
        _no_faces(rep, ignored, label)
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
