"""Sharded face sets on disk: fixed-size shards of photos, each a folder of .npy arrays
published by one rename, opened as memory maps on first use.

A set of N photos is cut into shards of `shard_size` consecutive photos (in the sorted order
of the listing), so shard k always holds the same photos whoever builds it: a killed build
resumes by redoing only the shards that were never renamed into place, and shards can be
built by any process on any node. Layout of a sharded set dir:

    manifest.json        format, shard size, photo count, done shards (rewritten atomically)
    shard-00000/         images.npy masks.npy landmarks.npy keypoints.npy boxes.npy
                         files.npy backends.npy obs84.npy (the env's observation-size
                         luminance + mask, per stored size) meta.json (report rows)
    .tmp-shard-*/        a shard being written (never read; removed on resume)
    index.npz            written when the set is complete: files, backends, keypoints, boxes
                         and the per-shard face counts of the whole set, loaded in RAM

Opening a set loads only index.npz (tens of bytes a face); images, masks and landmarks stay
on disk as read-only shared memory maps (`Rows`), so processes on one node share the pages.
"""

from __future__ import annotations

import bisect
import ctypes
import json
import mmap
import os
import shutil
import weakref

import numpy as np

from ..files import write_json
from .faceset import FaceDataError, FaceSet
from .geometry import N_LANDMARKS
from .observe import obs_pair
from .pipeline import kept_row

FORMAT = 2  # format 1: one faces.npz per set, loaded whole (still readable)
MANIFEST, INDEX = "manifest.json", "index.npz"
DEFAULT_SHARD_SIZE = 256  # photos per shard: ~70 MB of canvases at 256 px, ~2 s of work per core
MAPPED = ("images", "masks", "landmarks")  # per-shard arrays opened as memory maps
SMALL = ("keypoints", "boxes")  # per-face arrays kept in RAM once opened


def shard_name(k: int) -> str:
    return f"shard-{k:05d}"


def row_specs(canvas: int) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Row shape and dtype of every per-face array (FaceSet's own checks use the same)."""
    return {
        "images": ((canvas, canvas, 3), np.dtype(np.uint8)),
        "masks": ((canvas, canvas), np.dtype(np.uint8)),
        "landmarks": ((N_LANDMARKS, 2), np.dtype(np.float32)),
        "keypoints": ((5, 2), np.dtype(np.float32)),
        "boxes": ((4,), np.dtype(np.float32)),
    }


def fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_rows(path: str, rows, shape: tuple[int, ...], dtype: np.dtype) -> int:
    """An .npy file of len(rows) rows written one row at a time (no stacked copy); its size."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (len(rows), *shape)}
        )
        for r in rows:
            a = np.ascontiguousarray(r, dtype=dtype)
            if a.shape != shape:
                raise ValueError(f"{path}: row of shape {a.shape}, expected {shape}")
            f.write(memoryview(a).cast("B"))
        f.flush()
        os.fsync(f.fileno())
        return f.tell()


def write_shard(set_dir: str, k: int, faces: list, skipped: list[tuple[str, str]], canvas: int, obs_sizes=()) -> dict:
    """Write shard k (pipeline Faces in photo order, and the skipped photos with reasons, and
    each face's `obs_pair` at `obs_sizes`) into a temp folder, fsync it, and rename it into
    place. Returns its manifest entry."""
    final = os.path.join(set_dir, shard_name(k))
    tmp = os.path.join(set_dir, f".tmp-{shard_name(k)}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        sizes = {}
        for name, (shape, dtype) in row_specs(canvas).items():
            attr = {
                "images": "image",
                "masks": "mask",
                "landmarks": "landmarks",
                "keypoints": "keypoints",
                "boxes": "box",
            }[name]
            sizes[name] = _write_rows(os.path.join(tmp, f"{name}.npy"), [getattr(f, attr) for f in faces], shape, dtype)
        for size in obs_sizes:
            sizes[f"obs{size}"] = _write_rows(
                os.path.join(tmp, f"obs{size}.npy"),
                [obs_pair(f.image, f.mask, size) for f in faces],
                (size, size, 2),
                np.dtype(np.uint8),
            )
        for name, values in (("files", [f.name for f in faces]), ("backends", [f.backend for f in faces])):
            with open(os.path.join(tmp, f"{name}.npy"), "wb") as fh:
                np.save(fh, _str_array(values))
                fh.flush()
                os.fsync(fh.fileno())
        meta = {"kept": [kept_row(f) for f in faces], "skipped": [{"file": n, "reason": r} for n, r in skipped]}
        write_json(os.path.join(tmp, "meta.json"), meta)
        fsync_dir(tmp)
        if os.path.isdir(final):  # a concurrent builder got there first: same photos, same result
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.rename(tmp, final)
        fsync_dir(set_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"kept": len(faces), "skipped": len(skipped), "bytes": sizes}


def _str_array(values: list[str]) -> np.ndarray:
    # file names may hold surrogate escapes (non-UTF-8 bytes): numpy's unicode arrays keep them
    return np.array(list(values), dtype=str) if values else np.zeros(0, dtype="<U1")


def entry_of(set_dir: str, k: int) -> dict:
    """Manifest entry of a shard on disk (for one renamed into place just before a kill)."""
    meta = read_meta(set_dir, k)
    d = os.path.join(set_dir, shard_name(k))
    return {
        "kept": len(meta["kept"]),
        "skipped": len(meta["skipped"]),
        "bytes": {
            n[:-4]: os.path.getsize(os.path.join(d, n))
            for n in os.listdir(d)
            if n.endswith(".npy") and n[:-4] not in ("files", "backends")
        },
    }


def done_shards(set_dir: str, n_shards: int) -> list[int]:
    """Shards already renamed into place (complete by construction); removes temp leftovers."""
    done = []
    for n in os.listdir(set_dir):
        if n.startswith(".tmp-shard-"):
            shutil.rmtree(os.path.join(set_dir, n), ignore_errors=True)
    for k in range(n_shards):
        if os.path.isfile(os.path.join(set_dir, shard_name(k), "meta.json")):
            done.append(k)
    return done


def read_meta(set_dir: str, k: int) -> dict:
    with open(os.path.join(set_dir, shard_name(k), "meta.json"), encoding="utf-8") as f:
        return json.load(f)


def write_index(set_dir: str, n_shards: int) -> None:
    """index.npz: the small per-face data of the whole set, gathered from the shards once."""
    parts: dict[str, list[np.ndarray]] = {"files": [], "backends": [], "keypoints": [], "boxes": []}
    counts = []
    for k in range(n_shards):
        d = os.path.join(set_dir, shard_name(k))
        for name, arrays in parts.items():
            arrays.append(np.load(os.path.join(d, f"{name}.npy"), allow_pickle=False))
        counts.append(len(parts["files"][-1]))
    arrays = {name: (np.concatenate(v) if v else np.zeros(0)) for name, v in parts.items()}
    tmp = os.path.join(set_dir, f".{INDEX}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, counts=np.array(counts, np.int64), **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(set_dir, INDEX))


def map_npy(path: str) -> np.ndarray:
    """A read-only array over an .npy file's pages (MAP_SHARED, so processes share them) that
    holds no file descriptor: every shard of a large set can stay mapped, where np.memmap
    keeps one descriptor per map. Unmapped when the last view is gone. np.load's memmap
    where libc mmap is not available."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version != (1, 0):
            return np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        offset, size = f.tell(), os.fstat(f.fileno()).st_size
        if fortran or dtype.hasobject:
            raise ValueError(f"{path}: not a C-ordered plain array")
        count = int(np.prod(shape))
        if count == 0 or _libc is None:
            return np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))
        if offset + count * dtype.itemsize > size:
            raise ValueError(f"{path}: {size} bytes, too short for {shape} {dtype}")
        addr = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, f.fileno(), 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), f"mmap failed for {path}")
    buf = (ctypes.c_char * size).from_address(addr)
    weakref.finalize(buf, _libc.munmap, addr, size)
    a = np.frombuffer(buf, dtype, count, offset).reshape(shape)
    a.flags.writeable = False
    return a


def _load_libc():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):
        return None


_libc = _load_libc()


class _ShardMaps:
    """The .npy files of one array kind across shards, each mapped on first use and kept
    mapped (address space only: no descriptor, no copy; a map that came and went would lose
    its page-table entries and fault again on every row)."""

    def __init__(self, paths: list[str]):
        self.paths = paths
        self._open: dict[int, np.ndarray] = {}

    def get(self, k: int) -> np.ndarray:
        a = self._open.get(k)
        if a is None:
            a = self._open[k] = map_npy(self.paths[k])
        return a

    def __getstate__(self):  # pickles as paths (e.g. a FaceSet sent to a Ray worker on this node)
        return {"paths": self.paths}

    def __setstate__(self, state):
        self.__init__(state["paths"])


class Rows:
    """Read-only rows of a sharded array, looked up in the shards' memory maps.

    Enough of ndarray for FaceSet users: `rows[i]` is the row (a numpy view of the map),
    `rows[indices]` / `rows[mask]` / `rows[a:b]` are lazy Rows in that order, `len`, `shape`,
    `dtype`, `ndim`, iteration; anything else (`np.asarray(rows)`, other index forms) copies
    the selected rows into RAM first.
    """

    def __init__(self, maps: _ShardMaps, counts, row_shape: tuple[int, ...], dtype, index=None):
        self._maps = maps
        self._counts = np.asarray(counts, np.int64)
        self._starts = np.concatenate([[0], np.cumsum(self._counts)])
        self._bounds = self._starts.tolist()  # bisect on a list: a scalar lookup in ~0.3 us
        self._index = None if index is None else np.asarray(index, np.int64)
        self.row_shape, self.dtype = tuple(row_shape), np.dtype(dtype)

    def __len__(self) -> int:
        return int(self._starts[-1]) if self._index is None else len(self._index)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.row_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self.row_shape)

    def _locate(self, g: int) -> tuple[int, int]:
        k = bisect.bisect_right(self._bounds, g) - 1
        return k, g - self._bounds[k]

    def _row(self, i: int) -> np.ndarray:
        n = self._bounds[-1] if self._index is None else len(self._index)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for {n} rows")
        i %= n
        k, j = self._locate(i if self._index is None else int(self._index[i]))
        return self._maps.get(k)[j]

    def _positions(self) -> np.ndarray:
        return np.arange(len(self)) if self._index is None else self._index

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self._row(int(key))
        if isinstance(key, slice) or (isinstance(key, (list, np.ndarray)) and not isinstance(key, tuple)):
            sel = np.asarray(key) if not isinstance(key, slice) else None
            if sel is not None and sel.dtype == bool and sel.shape != (len(self),):
                raise IndexError(f"boolean mask of shape {sel.shape} for {len(self)} rows")
            if sel is not None and sel.dtype != bool and sel.size and not np.issubdtype(sel.dtype, np.integer):
                raise IndexError(f"rows are indexed by integers, slices or a boolean mask, got {sel.dtype}")
            picked = self._positions()[key if sel is None else (sel if sel.dtype == bool else sel.astype(np.int64))]
            return Rows(self._maps, self._counts, self.row_shape, self.dtype, picked)
        if isinstance(key, tuple) and key and isinstance(key[0], (int, np.integer)):
            return self._row(int(key[0]))[key[1:]]
        return np.asarray(self)[key]

    def __iter__(self):
        for i in range(len(self)):
            yield self._row(i)

    def __array__(self, dtype=None, copy=None):
        out = np.empty(self.shape, self.dtype)
        if self._index is None:  # whole shards at a time
            for k in np.flatnonzero(self._counts):
                out[self._starts[k] : self._starts[k + 1]] = self._maps.get(int(k))
        else:
            for i, g in enumerate(self._index):
                k, j = self._locate(int(g))
                out[i] = self._maps.get(k)[j]
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"Rows(shape={self.shape}, dtype={self.dtype}, memory-mapped in {len(self._counts)} shards)"


def open_set(set_dir: str, manifest: dict) -> FaceSet:
    """A FaceSet over a complete sharded set: small arrays in RAM, the rest memory-mapped.
    FaceDataError (naming the file) if a shard is missing or not the size it was written at."""
    canvas, n_shards = int(manifest["canvas"]), int(manifest["n_shards"])
    shards = manifest.get("shards", {})
    for k in range(n_shards):
        d = os.path.join(set_dir, shard_name(k))
        entry = shards.get(str(k))
        if entry is None:
            raise FaceDataError(f"{set_dir}: manifest has no entry for {shard_name(k)}")
        for name, size in entry["bytes"].items():
            path = os.path.join(d, f"{name}.npy")
            try:
                got = os.path.getsize(path)
            except OSError:
                raise FaceDataError(f"{path}: missing from the face set") from None
            if got != size:
                raise FaceDataError(f"{path}: {got} bytes, expected {size} (damaged)")
    with np.load(os.path.join(set_dir, INDEX), allow_pickle=False) as z:
        counts = z["counts"]
        small = {name: np.ascontiguousarray(z[name]) for name in SMALL}
        files = tuple(str(s) for s in z["files"])
        backends = tuple(str(s) for s in z["backends"])
    if len(counts) != n_shards or int(counts.sum()) != len(files):
        raise FaceDataError(f"{set_dir}: {INDEX} does not match the manifest")
    specs = row_specs(canvas)
    mapped = {
        name: Rows(
            _ShardMaps([os.path.join(set_dir, shard_name(k), f"{name}.npy") for k in range(n_shards)]),
            counts,
            *specs[name],
        )
        for name in MAPPED
    }
    obs = {
        int(size): Rows(
            _ShardMaps([os.path.join(set_dir, shard_name(k), f"obs{size}.npy") for k in range(n_shards)]),
            counts,
            (size, size, 2),
            np.uint8,
        )
        for size in manifest.get("obs_sizes", [])
    }
    if len(files) == 0:  # nothing to map
        mapped = {name: np.zeros((0, *specs[name][0]), specs[name][1]) for name in MAPPED}
        obs = {}
    return FaceSet(
        mapped["images"],
        mapped["masks"],
        mapped["landmarks"],
        small["keypoints"].astype(np.float32),
        small["boxes"].astype(np.float32),
        files,
        backends,
        obs,
    )
