"""Build a sharded face set in a cache dir: streamed shard by shard (bounded memory on any
folder size), resumable after a kill, on local threads or as Ray tasks (`address`).

The build lives in `.build-<key>/` (named by the set's key, not by a process, so the next run
finds it), holds a lock file while it runs, and becomes `set-<key>/` by one rename after its
index, report and COMPLETE marker are on disk.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from . import cache, shards
from .observe import OBS_SIZES
from .pipeline import Face, Settings, default_workers, progress_bar, stream
from .pipeline import report as make_report
from .sources import Item
from .split import VALIDATION_FRACTION, part_mask

ShardResult = tuple[int, list[Face], list[tuple[str, str]]]  # shard index, faces, (name, reason)


def add_split(
    rep: dict, files, heldout_fraction: float, seed: int, validation_fraction: float = VALIDATION_FRACTION
) -> dict:
    """The train / validation / held-out sizes that FaceSet.split(...) gives for these
    settings (by file name only), and the held-out files."""
    files = list(files)
    parts = {
        p: part_mask(files, p, heldout_fraction, validation_fraction, seed) for p in ("train", "validation", "heldout")
    }
    rep["split"] = {
        "heldout_fraction": heldout_fraction,
        "validation_fraction": validation_fraction,
        "seed": seed,
        **{p: int(m.sum()) for p, m in parts.items()},
        "heldout_files": [f for f, h in zip(files, parts["heldout"]) if h],
    }
    return rep


@contextmanager
def _locked(path: str):
    """Exclusive lock on `path` (waits for another builder of the same set). Released by the
    kernel if this process is killed; file systems without flock run unlocked."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass
        yield
    finally:
        os.close(fd)


def local_shards(
    todo: list[tuple[int, list[Item]]], settings: Settings, workers: int | None, tick: Callable[[int], None]
) -> Iterator[ShardResult]:
    """Threads over the photos of all pending shards (in order); a shard is yielded as soon as
    all its photos are done, so at most a shard or two of faces are held at once."""
    flat = [(k, j) for k, items in todo for j in range(len(items))]
    slots = {k: [None] * len(items) for k, items in todo}
    names = dict(todo)
    left = {k: len(items) for k, items in todo}
    workers = workers or default_workers()
    for pos, r in stream([names[k][j] for k, j in flat], settings, workers, window=max(64, 4 * workers)):
        k, j = flat[pos]
        slots[k][j] = r
        left[k] -= 1
        tick(1)
        if left[k] == 0:
            results = slots.pop(k)
            yield (
                k,
                [r for r in results if isinstance(r, Face)],
                [(it.name, r) for it, r in zip(names.pop(k), results) if isinstance(r, str)],
            )


def build(
    cache_dir: str,
    key: str,
    items: list[Item],
    settings: Settings,
    *,
    pre_skipped,
    ignored,
    source: dict,
    heldout_fraction: float,
    seed: int,
    shard_size: int = shards.DEFAULT_SHARD_SIZE,
    workers: int | None = None,
    address: str | None = None,
    progress: bool = False,
    obs_sizes=OBS_SIZES,
    log: Callable[[str], None] = lambda msg: None,
) -> tuple[str | None, dict]:
    """Build (or finish) the set `key`; returns (its set dir, report). The set dir is None when
    no photo gave a face (nothing is published then). Raises OSError if the cache dir cannot
    be written."""
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    cache.init_dir(cache_dir)
    final = cache.set_path(cache_dir, key)
    build_dir = os.path.join(cache_dir, f".build-{key}")
    with _locked(os.path.join(cache_dir, f".lock-{key}")):
        if cache.read_marker(final):  # finished by another process while we waited
            return final, cache.read_report(final)
        t0 = time.perf_counter()
        manifest, done = _manifest(build_dir, key, len(items), settings, shard_size, obs_sizes)
        size, n_shards = int(manifest["shard_size"]), int(manifest["n_shards"])
        finished = set(done)
        todo = [(k, items[k * size : (k + 1) * size]) for k in range(n_shards) if k not in finished]
        if done:
            log(f"resuming {build_dir}: {len(done)} of {n_shards} shards already done, {len(todo)} to go")
        nodes = _write_shards(build_dir, manifest, todo, len(items), settings, workers, address, progress)
        kept, skipped = [], list(pre_skipped)
        for k in range(n_shards):
            meta = shards.read_meta(build_dir, k)
            kept += meta["kept"]
            skipped += [(s["file"], s["reason"]) for s in meta["skipped"]]
        rep = make_report(kept, sorted(skipped), ignored, settings, source, time.perf_counter() - t0)
        rep["key"], rep["shards"] = key, {"n": n_shards, "size": size, "resumed": len(done)}
        if nodes:
            rep["shards"]["ray_nodes"] = nodes
        if not kept:
            shutil.rmtree(build_dir, ignore_errors=True)
            _unlink(os.path.join(cache_dir, f".lock-{key}"))
            return None, rep
        add_split(rep, [k["file"] for k in kept], heldout_fraction, seed)
        _publish(build_dir, final, rep, key, len(kept), settings, n_shards)
        _unlink(os.path.join(cache_dir, f".lock-{key}"))  # whoever waited on it finds the set
        return final, rep


def _manifest(build_dir: str, key: str, n_items: int, settings: Settings, shard_size: int, obs_sizes):
    """The build's manifest, brought in line with the shards on disk (a new one when the old
    is missing or describes another listing), and the shard numbers already done."""
    os.makedirs(build_dir, exist_ok=True)
    manifest = cache.read_json(os.path.join(build_dir, shards.MANIFEST))
    if not manifest or manifest.get("n_items") != n_items or manifest.get("format") != shards.FORMAT:
        for n in os.listdir(build_dir):  # shards of a build whose manifest is gone: sizes unknown, redo
            shutil.rmtree(os.path.join(build_dir, n), ignore_errors=True)
        manifest = {
            "format": shards.FORMAT,
            "key": key,
            "canvas": settings.canvas,
            "shard_size": shard_size,
            "n_items": n_items,
            "n_shards": -(-n_items // shard_size),
            "obs_sizes": sorted({int(v) for v in obs_sizes}),
            "shards": {},
        }
    done = shards.done_shards(build_dir, int(manifest["n_shards"]))
    for k in done:  # renamed into place but killed before the manifest said so
        if str(k) not in manifest["shards"]:
            manifest["shards"][str(k)] = shards.entry_of(build_dir, k)
    manifest["shards"] = {str(k): manifest["shards"][str(k)] for k in done}
    shards.write_json(os.path.join(build_dir, shards.MANIFEST), manifest)
    return manifest, done


def _write_shards(build_dir, manifest, todo, n_items, settings, workers, address, progress) -> dict[str, int]:
    """Detect the faces of the shards in `todo` (local threads, or Ray tasks with `address`)
    and write each as it comes, manifest after it; returns Ray's shards per node."""
    done_items = n_items - sum(len(its) for _, its in todo)
    bar = progress_bar(n_items, done_items) if progress else None
    tick = bar.update if bar else (lambda n: None)
    nodes: dict[str, int] = {}
    try:
        if address is None:
            results = local_shards(todo, settings, workers, tick)
        else:
            from .distributed import ray_shards  # Ray only on this path

            results = ray_shards(address, todo, settings, tick, nodes)
        for k, faces, skipped in results:
            manifest["shards"][str(k)] = shards.write_shard(
                build_dir, k, faces, skipped, settings.canvas, manifest["obs_sizes"]
            )
            shards.write_json(os.path.join(build_dir, shards.MANIFEST), manifest)
    finally:
        if bar:
            bar.close()
    return nodes


def _publish(build_dir: str, final: str, rep: dict, key: str, n_kept: int, settings: Settings, n_shards: int):
    """Index, report and marker into the build dir, synced, then renamed into place."""
    shards.write_index(build_dir, n_shards)
    cache.write_json(os.path.join(build_dir, cache.REPORT), rep)
    cache.write_json(
        os.path.join(build_dir, cache.MARKER),
        {
            "key": key,
            "created_ns": time.time_ns(),
            "n": n_kept,
            "settings": settings.as_dict(),
            "format": shards.FORMAT,
        },
    )
    shards.fsync_dir(build_dir)
    cache.publish(build_dir, final)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
