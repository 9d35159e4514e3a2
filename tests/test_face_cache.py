"""Sharded face sets: round trip, memory-mapped open, resume after SIGKILL, split across shard
counts, Ray-distributed prepare on two local nodes, per-file reasons for bad input."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from envs.faces import FaceDataError, load_faces, pipeline, prepare
from envs.faces import cache as fcache
from envs.faces import shards as fshards
from envs.faces.__main__ import main as cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARRAYS = ("images", "masks", "landmarks", "keypoints", "boxes")


@pytest.fixture(autouse=True)
def _cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("RLFF_CACHE_DIR", str(tmp_path / "default-cache"))


def _photo(rng: np.random.Generator) -> np.ndarray:
    """A crop of the astronaut, flipped or not, resized: a different photo each call."""
    from skimage import data

    img = data.astronaut()
    f = rng.uniform(0.8, 1.0)
    side = int(512 * f)
    y, x = rng.integers(0, 512 - side + 1, 2)
    crop = img[y : y + side, x : x + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return cv2.resize(crop, (int(rng.integers(160, 300)),) * 2, interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """9 usable photos, one without a face, one corrupt file, one non-image: 11 to process."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(9):
        _, buf = cv2.imencode(".jpg", cv2.cvtColor(_photo(rng), cv2.COLOR_RGB2BGR))
        (root / f"p{i:02d}.jpg").write_bytes(buf.tobytes())
    _, buf = cv2.imencode(".png", np.full((120, 160, 3), 90, np.uint8))
    (root / "p04b_blank.png").write_bytes(buf.tobytes())
    (root / "p07b_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "notes.txt").write_text("ignored")
    return root


@pytest.fixture(scope="module")
def in_memory(photos):
    return prepare(str(photos), use_cache=False)


def mapped_file(a: np.ndarray) -> str:
    """The file whose mapping holds the array's first byte ("" for ordinary memory)."""
    addr = a.ctypes.data
    with open("/proc/self/maps", encoding="utf-8") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            lo, hi = (int(v, 16) for v in parts[0].split("-"))
            if lo <= addr < hi:
                return parts[5].strip() if len(parts) == 6 else ""
    return ""


def assert_same(a, b):
    for name in ARRAYS:
        assert np.array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name))), name
    assert a.files == b.files and a.backends == b.backends


def assert_same_report(a: dict, b: dict):
    for k in ("kept", "skipped", "ignored", "counts", "split"):
        assert a[k] == b[k], k


def test_shard_round_trip_equals_in_memory_build(photos, in_memory, tmp_path, capsys):
    assert cli(["prepare", str(photos), "--out", str(tmp_path / "c"), "--shard-size", "3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "skipped p07b_broken.jpg: not an image" in out and "skipped p04b_blank.png: no face found" in out
    assert "shards: 4 of 3 photos (0 reused" in out
    res = prepare(str(photos), tmp_path / "c")
    assert res.from_cache
    assert_same(res.faces, in_memory.faces)
    assert_same_report(res.report, in_memory.report)
    set_dir = res.set_dir
    assert sorted(n for n in os.listdir(set_dir) if n.startswith("shard-")) == [fshards.shard_name(k) for k in range(4)]
    # each shard holds its own photos' faces, in listing order; the blank/broken ones are its skipped rows
    meta = fshards.read_meta(set_dir, 1)
    assert [k["file"] for k in meta["kept"]] == ["p03.jpg", "p04.jpg"]
    assert meta["skipped"] == [{"file": "p04b_blank.png", "reason": "no face found"}]
    assert np.load(os.path.join(set_dir, "shard-00001", "images.npy")).shape == (2, 256, 256, 3)
    with open(os.path.join(set_dir, "report.json"), encoding="utf-8") as f:
        assert json.load(f)["skipped"] == in_memory.report["skipped"]


def test_open_is_memory_mapped_and_lazy(photos, in_memory, tmp_path):
    fs = prepare(str(photos), tmp_path / "c", shard_size=4).faces
    assert isinstance(fs.images, fshards.Rows) and isinstance(fs.masks, fshards.Rows)
    row = fs.images[3]
    assert not row.flags.writeable and not row.flags.owndata
    assert mapped_file(row).endswith("shard-00000/images.npy")  # a view of the file's pages, not a copy
    assert mapped_file(fs.obs[84][5]).endswith("shard-00001/obs84.npy")
    assert np.array_equal(row, in_memory.faces.images[3]) and np.array_equal(fs.masks[-1], in_memory.faces.masks[-1])
    sub = fs.subset([5, 0, 2])
    assert isinstance(sub.images, fshards.Rows)  # a subset maps the same files, copies nothing
    assert np.array_equal(sub.images[0], in_memory.faces.images[5]) and sub.files[1] == fs.files[0]
    assert np.array_equal(np.asarray(sub.landmarks), in_memory.faces.landmarks[[5, 0, 2]])
    assert np.array_equal(fs.images[np.arange(len(fs)) % 2 == 0][1], in_memory.faces.images[2])
    assert np.array_equal(fs.images[2:5][0], in_memory.faces.images[2])
    assert np.array_equal(fs.masks[1, 100:110, 50], in_memory.faces.masks[1, 100:110, 50])
    with pytest.raises(IndexError):
        fs.images[len(fs)]
    # a pickled set (e.g. sent to a Ray worker) carries file paths, not pixels
    blob = pickle.dumps(sub)
    assert len(blob) < 20_000
    assert np.array_equal(pickle.loads(blob).images[2], in_memory.faces.images[2])


def test_env_reads_stored_observations_equal_to_computed_ones(photos, in_memory, tmp_path):
    from envs.face_fusion import FaceFusionEnv
    from envs.faces.observe import obs_pair

    fs = prepare(str(photos), tmp_path / "c", shard_size=4, obs_sizes=(84, 48)).faces
    assert sorted(fs.obs) == [48, 84] and not in_memory.faces.obs
    for i in (0, 4, len(fs) - 1):
        for size in (48, 84):
            assert np.array_equal(fs.obs[size][i], obs_pair(in_memory.faces.images[i], in_memory.faces.masks[i], size))
    mapped, ram = FaceFusionEnv(fs, split="train"), FaceFusionEnv(in_memory.faces, split="train")
    assert mapped.faces.obs[84].shape == (len(mapped.faces), 84, 84, 2)  # the split keeps its stored rows
    for seed in range(4):
        a, b = mapped.reset(seed=seed)[0], ram.reset(seed=seed)[0]
        assert np.array_equal(a, b)
        assert np.array_equal(mapped.step(2)[0], ram.step(2)[0])
    assert not mapped._obs_cache and len(ram._obs_cache) > 0  # stored: nothing copied per env
    other = FaceFusionEnv(fs, obs_size=64)  # a size not stored: computed on first use, then kept
    other.reset(seed=0)
    assert list(other._obs_cache) == [other.target_index]


def test_old_single_file_sets_load_and_broken_ones_say_re_run(in_memory, tmp_path):
    fs, cache_dir = in_memory.faces, tmp_path / "old"
    d = cache_dir / "set-0123456789abcdef"
    d.mkdir(parents=True)
    np.savez(
        d / "faces.npz",
        images=fs.images,
        masks=fs.masks,
        landmarks=fs.landmarks,
        keypoints=fs.keypoints,
        boxes=fs.boxes,
        files=np.array(fs.files, dtype=str),
        backends=np.array(fs.backends, dtype=str),
    )
    (d / "report.json").write_text(json.dumps(in_memory.report))
    (d / "COMPLETE").write_text(json.dumps({"key": "0123456789abcdef", "created_ns": 1}))
    assert_same(load_faces(str(cache_dir)), fs)  # the format before shards still loads (into RAM)
    (d / "faces.npz").unlink()
    with pytest.raises(FaceDataError, match="re-run `python -m envs.faces prepare`"):
        load_faces(str(cache_dir))


def test_damaged_shard_is_named(photos, tmp_path):
    res = prepare(str(photos), tmp_path / "c", shard_size=4)
    path = os.path.join(res.set_dir, "shard-00001", "masks.npy")
    with open(path, "r+b") as f:
        f.truncate(500)
    with pytest.raises(FaceDataError, match="shard-00001.*masks.npy"):
        fcache.load_set(res.set_dir)


def test_split_is_the_same_for_any_shard_count(photos, in_memory, tmp_path):
    want = {p: in_memory.faces.split(p).files for p in ("train", "validation", "heldout")}
    assert sum(map(len, want.values())) == len(in_memory.faces) and all(want.values())
    for size in (1, 2, 5, 100):
        fs = prepare(str(photos), tmp_path / f"c{size}", shard_size=size).faces
        for part, files in want.items():
            sub = fs.split(part)
            assert sub.files == files, (size, part)
            assert np.array_equal(sub.images[0], in_memory.faces.images[in_memory.faces.files.index(files[0])])


KILL_SCRIPT = """
import os, sys, time
sys.path.insert(0, {root!r})
from envs.faces import prepare, shards
real, written = shards.write_shard, []
def write_shard(set_dir, k, *args, **kwargs):
    if len(written) == 3:  # half-way through the 4th shard: a half-written temp dir, then wait for the kill
        tmp = os.path.join(set_dir, ".tmp-" + shards.shard_name(k) + "-" + str(os.getpid()))
        os.makedirs(tmp)
        with open(os.path.join(tmp, "images.npy"), "wb") as f:
            f.write(b"\\x93NUMPY half an array")
        open({flag!r}, "w").close()
        time.sleep(120)
    written.append(k)
    return real(set_dir, k, *args, **kwargs)
shards.write_shard = write_shard
prepare({src!r}, {cache_dir!r}, shard_size=2, workers=1)
"""


def test_sigkill_mid_run_then_rerun_skips_finished_shards(photos, in_memory, tmp_path, monkeypatch):
    cache_dir, flag = tmp_path / "cache", tmp_path / "flag"
    script = KILL_SCRIPT.format(root=ROOT, flag=str(flag), src=str(photos), cache_dir=str(cache_dir))
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.time() + 90
        while not flag.exists():
            assert proc.poll() is None and time.time() < deadline, "builder did not reach the 4th shard"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not fcache.complete_sets(str(cache_dir))  # nothing published, nothing loads
    with pytest.raises(FaceDataError):
        load_faces(str(cache_dir))
    (build,) = [cache_dir / n for n in os.listdir(cache_dir) if n.startswith(".build-")]
    assert sorted(n for n in os.listdir(build) if n.startswith("shard-")) == [fshards.shard_name(k) for k in range(3)]
    assert any(n.startswith(".tmp-shard-00003") for n in os.listdir(build))
    assert sorted(json.loads((build / "manifest.json").read_text())["shards"]) == ["0", "1", "2"]

    seen, messages = [], []
    real = pipeline.process
    monkeypatch.setattr(pipeline, "process", lambda item, s: seen.append(item.name) or real(item, s))
    res = prepare(str(photos), cache_dir, log=messages.append)
    assert seen == ["p05.jpg", "p06.jpg", "p07.jpg", "p07b_broken.jpg", "p08.jpg"]  # shards 3 and 4 only
    assert "3 of 6 shards already done" in messages[0]
    assert res.report["shards"] == {"n": 6, "size": 2, "resumed": 3}
    assert_same(res.faces, in_memory.faces)
    assert_same_report(res.report, in_memory.report)
    assert not [n for n in os.listdir(cache_dir) if n.startswith(".build-")]
    assert not [n for n in os.listdir(res.set_dir) if n.startswith(".tmp")]


def test_distributed_prepare_on_two_nodes_equals_single_process(photos, in_memory, tmp_path):
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        res = prepare(str(photos), tmp_path / "c", shard_size=2, address=cluster.address)
        assert not ray.is_initialized()  # prepare joined the cluster and left it
    finally:
        cluster.shutdown()
    assert len(res.report["shards"]["ray_nodes"]) == 2  # both nodes built shards
    assert sum(res.report["shards"]["ray_nodes"].values()) == 6
    assert_same(res.faces, in_memory.faces)
    assert_same_report(res.report, in_memory.report)
    reasons = {s["file"]: s["reason"] for s in res.report["skipped"]}
    assert reasons == {
        "p04b_blank.png": "no face found",
        "p07b_broken.jpg": "not an image (unrecognised or corrupt header)",
    }


def test_unreachable_address_fails_fast_with_the_address(photos, tmp_path, capsys):
    t0 = time.perf_counter()
    assert cli(["prepare", str(photos), "--out", str(tmp_path / "c"), "--address", "127.0.0.1:9", "--no-progress"]) == 1
    assert time.perf_counter() - t0 < 30
    assert "--address 127.0.0.1:9: cannot reach a Ray head" in capsys.readouterr().err
