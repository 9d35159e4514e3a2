"""envs.faces: landmarks, bad input, cache safety, split, backends, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zlib

import cv2
import numpy as np
import pytest

from envs.faces import (
    FaceDataError,
    FaceSet,
    decode,
    detect,
    geometry,
    load_faces,
    prepare,
)
from envs.faces import cache as fcache
from envs.faces import shards as fshards
from envs.faces.__main__ import main as cli
from envs.faces.pipeline import Settings, process
from envs.faces.sources import Item
from envs.faces.split import heldout_mask

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# envs.faces.decode silences this at import; pytest resets warning filters for each test
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")


@pytest.fixture(autouse=True)
def _cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("RLFF_CACHE_DIR", str(tmp_path / "default-cache"))


def astronaut(side: int = 256) -> np.ndarray:
    from skimage import data

    return cv2.resize(data.astronaut(), (side, side), interpolation=cv2.INTER_AREA)


def write(path, rgb: np.ndarray | None = None, *, ext=None, raw: np.ndarray | None = None, **params) -> str:
    """Encode (RGB -> BGR unless `raw`) and write through open(), so any file name works."""
    path = str(path)
    arr = raw if raw is not None else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(ext or os.path.splitext(path)[1], arr)
    assert ok
    with open(path, "wb") as f:
        f.write(buf.tobytes())
    return path


def huge_png(path, side: int = 12000) -> None:
    """A valid side x side grey PNG, streamed so the test never holds the pixels."""

    def chunk(tag, data):
        return len(data).to_bytes(4, "big") + tag + data + zlib.crc32(tag + data).to_bytes(4, "big")

    comp, row, parts = zlib.compressobj(1), bytes(side + 1), []
    for _ in range(side):
        parts.append(comp.compress(row))
    parts.append(comp.flush())
    ihdr = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def default_set(tmp_path_factory):
    cache_dir = tmp_path_factory.mktemp("default-set")
    res = prepare("default", cache_dir)
    return res, cache_dir


# ---------------------------------------------------------------- default set, landmarks


def test_default_set_keeps_at_least_90_faces(default_set):
    res, _ = default_set
    fs = res.faces
    assert len(fs) >= 90
    assert fs.images.shape[1:] == (256, 256, 3) and fs.images.dtype == np.uint8
    assert fs.masks.shape[1:] == (256, 256) and fs.landmarks.shape[1:] == (468, 2)
    assert {"skimage:astronaut", "matplotlib:grace_hopper.jpg", "skimage:lfw_subset/0"} <= set(fs.files)
    assert set(fs.backends) <= {"mediapipe", "opencv"}
    rep = res.report
    assert rep["counts"]["kept"] + rep["counts"]["skipped"] == 102
    assert all(s["reason"] for s in rep["skipped"])
    # every face is on a comparable scale: box about 0.4 of the canvas
    side = (fs.boxes[:, 2:] - fs.boxes[:, :2]).max(1) / 256
    assert np.allclose(side, 0.4, atol=0.02)


def test_astronaut_landmarks_are_sane(default_set):
    fs = default_set[0].faces
    i = fs.files.index("skimage:astronaut")
    assert fs.backends[i] == "mediapipe"
    kp, lm, box, mask = fs.keypoints[i], fs.landmarks[i], fs.boxes[i], fs.masks[i]
    left_eye, right_eye, nose, mouth_l, mouth_r = kp
    assert left_eye[0] < nose[0] < right_eye[0] and mouth_l[0] < mouth_r[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_l[1], mouth_r[1])
    assert 0 <= box[0] < box[2] <= 256 and 0 <= box[1] < box[3] <= 256
    assert np.allclose(box, geometry.bbox(lm))
    # mask: full inside the landmarks' hull (away from the feathered rim), nothing outside it
    hull = cv2.convexHull(lm.astype(np.float32))
    ys, xs = np.mgrid[0:256, 0:256]
    dist = np.array(
        [
            cv2.pointPolygonTest(hull, (float(x) + 0.5, float(y) + 0.5), True)
            for x, y in zip(xs.ravel()[::7], ys.ravel()[::7])
        ]
    )
    m = mask.ravel()[::7]
    rim = 0.08 * (box[2:] - box[:2]).max() + 2
    assert (m[dist > rim] == 255).all()
    assert (m[dist < -1] == 0).all()
    assert (m[dist > 0] > 0).mean() > 0.95
    # the mesh points themselves (except the outline) are inside the mask
    inner = np.setdiff1d(np.arange(468), geometry.FACE_OVAL)
    assert (mask[lm[inner, 1].astype(int), lm[inner, 0].astype(int)] > 0).mean() > 0.97


def test_geometry_tables_match_mediapipe():
    import mediapipe as mp

    fm = mp.solutions.face_mesh
    oval = geometry.FACE_OVAL
    assert {(oval[i], oval[(i + 1) % len(oval)]) for i in range(len(oval))} == set(fm.FACEMESH_FACE_OVAL)
    assert set(geometry.EYE_IMAGE_LEFT) == {i for e in fm.FACEMESH_RIGHT_EYE for i in e}
    assert set(geometry.EYE_IMAGE_RIGHT) == {i for e in fm.FACEMESH_LEFT_EYE for i in e}


def test_cache_load_is_fast_and_equal(default_set):
    res, cache_dir = default_set
    t0 = time.perf_counter()
    fs = load_faces(str(cache_dir))
    assert time.perf_counter() - t0 < 0.5
    for name in ("images", "masks", "landmarks", "keypoints", "boxes"):
        assert np.array_equal(getattr(fs, name), getattr(res.faces, name)), name
    assert fs.files == res.faces.files and fs.backends == res.faces.backends
    again = prepare("default", cache_dir)
    assert again.from_cache and again.set_dir == res.set_dir


# ---------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """A folder with one of everything, prepared once."""
    root = tmp_path_factory.mktemp("messy")
    face = astronaut(256)
    write(root / "good.jpg", face)
    (root / "nested" / "deeper").mkdir(parents=True)
    write(root / "nested" / "deeper" / "Grace Hopper façade ünï 写真.PNG", face)
    write(root / "sixteen.png", raw=(cv2.cvtColor(face, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257))
    write(
        root / "alpha.png", raw=np.dstack([cv2.cvtColor(face, cv2.COLOR_RGB2BGR), np.full((256, 256), 255, np.uint8)])
    )
    write(root / "grey.png", raw=cv2.cvtColor(face, cv2.COLOR_RGB2GRAY))
    write(root / "photo.webp", face)
    write(root / "photo.BMP", face)
    with open(os.path.join(os.fsencode(root), b"latin1-\xe9t\xe9.jpg"), "wb") as f:  # not UTF-8
        f.write((root / "good.jpg").read_bytes())
    (root / "empty.jpg").write_bytes(b"")
    data = (root / "good.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(data[: len(data) * 2 // 3])
    (root / "notes.jpg").write_text("this is not a picture\n")
    write(root / "tiny.png", np.zeros((1, 1, 3), np.uint8))
    huge_png(root / "huge.png")
    write(root / "blank.png", np.full((200, 300, 3), 128, np.uint8))
    (root / "readme.txt").write_text("not an image, ignored")
    os.symlink("loop.jpg", root / "loop.jpg")
    os.symlink("..", root / "nested" / "up")
    locked = write(root / "locked.jpg", face)
    os.chmod(locked, 0)
    return root


def _run_messy(messy, monkeypatch, tmp_path):
    real_read = decode._read_file

    def read(path):  # root can read anything: simulate what chmod 000 does for a user
        if os.path.basename(path) == "locked.jpg":
            raise PermissionError(13, "Permission denied", path)
        return real_read(path)

    if os.access(messy / "locked.jpg", os.R_OK):
        monkeypatch.setattr(decode, "_read_file", read)
    return prepare(str(messy), tmp_path / "cache")


def test_bad_files_are_skipped_with_reasons(messy, monkeypatch, tmp_path):
    t0 = time.perf_counter()
    res = _run_messy(messy, monkeypatch, tmp_path)
    assert time.perf_counter() - t0 < 20  # the 144-megapixel PNG was not decoded
    reasons = {s["file"]: s["reason"] for s in res.report["skipped"]}
    assert reasons["empty.jpg"].startswith("empty file")
    assert "truncated JPEG" in reasons["truncated.jpg"]
    assert reasons["notes.jpg"].startswith("not an image")
    assert "too small" in reasons["tiny.png"] and "minimum side 32" in reasons["tiny.png"]
    assert "too large" in reasons["huge.png"] and "12000x12000" in reasons["huge.png"]
    assert reasons["blank.png"] == "no face found"
    assert reasons["loop.jpg"] == "symlink loop"
    assert reasons["nested/up/"].startswith("symlink loop")
    assert "permission denied" in reasons["locked.jpg"]
    assert res.report["ignored"] == ["readme.txt"]
    kept = {k["file"]: k for k in res.report["kept"]}
    assert set(kept) == {
        "good.jpg",
        "nested/deeper/Grace Hopper façade ünï 写真.PNG",
        "sixteen.png",
        "alpha.png",
        "grey.png",
        "photo.webp",
        "photo.BMP",
        os.fsdecode(b"latin1-\xe9t\xe9.jpg"),
    }
    assert set(res.faces.files) == set(kept)
    # nothing lost: every file in the folder is accounted for exactly once
    listed = {
        os.path.relpath(os.path.join(d, f), messy).replace(os.sep, "/") for d, _, fs in os.walk(messy) for f in fs
    }
    assert listed == set(kept) | set(reasons) - {"nested/up/"} | {"readme.txt"}
    # report.json on disk says the same, and survives non-ASCII / non-UTF-8 names
    with open(os.path.join(res.set_dir, "report.json"), encoding="utf-8") as f:
        assert json.load(f)["skipped"] == res.report["skipped"]


def test_cli_summary_lists_every_skipped_file(messy, monkeypatch, tmp_path, capsys):
    _run_messy(messy, monkeypatch, tmp_path)  # (patches the unreadable file for root)
    assert cli(["prepare", str(messy), "--out", str(tmp_path / "cache"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    for line in (
        "skipped empty.jpg: empty file",
        "skipped huge.png: too large",
        "skipped loop.jpg: symlink loop",
        "skipped blank.png: no face found",
        "faces kept: 8 (mediapipe 8); skipped: 9; ignored: 1",
        "loaded from cache",
    ):
        assert line in out, line


def test_converted_formats_match_the_8bit_photo(messy, monkeypatch, tmp_path):
    fs = _run_messy(messy, monkeypatch, tmp_path).faces
    ref = fs.files.index("photo.BMP")  # lossless 8-bit RGB
    for name in ("sixteen.png", "alpha.png", "nested/deeper/Grace Hopper façade ünï 写真.PNG"):
        i = fs.files.index(name)
        assert np.abs(fs.landmarks[i] - fs.landmarks[ref]).max() < 0.5, name
        assert np.abs(fs.images[i].astype(int) - fs.images[ref]).mean() < 1.0, name
    g = fs.images[fs.files.index("grey.png")]
    assert np.array_equal(g[..., 0], g[..., 1]) and np.array_equal(g[..., 1], g[..., 2])


def test_max_pixels_is_checked_from_the_header(tmp_path):
    p = write(tmp_path / "a.png", astronaut(256))
    with pytest.raises(decode.SkipImage, match="max_pixels=10000"):
        decode.read_image(p, max_pixels=10_000)


def test_to_rgb8_conversions():
    g16 = np.array([[0, 65535], [257, 32896]], np.uint16)
    assert decode.to_rgb8(g16)[..., 0].tolist() == [[0, 255], [1, 128]]
    bgra = np.zeros((2, 2, 4), np.uint8)
    bgra[..., 2] = 255  # red in BGR order
    bgra[0, 0, 3], bgra[0, 1, 3] = 255, 0  # opaque red, transparent
    rgb = decode.to_rgb8(bgra)
    assert rgb[0, 0].tolist() == [255, 0, 0] and rgb[0, 1].tolist() == [128, 128, 128]


def test_big_jpeg_is_decoded_reduced_then_refined(tmp_path):
    p = write(tmp_path / "big.jpg", astronaut(1600))
    img, r, size = decode.read_image(p)
    assert r == 2 and img.shape[:2] == (800, 800) and size == (1600, 1600)
    # canvas 512 needs more pixels than the 1/2 decode has: the face is re-read at full size
    face = process(Item(name="big.jpg", path=p), Settings(canvas=512))
    assert face.backend == "mediapipe" and face.image.shape == (512, 512, 3)
    assert abs((face.box[2:] - face.box[:2]).max() / 512 - 0.4) < 0.01
    small = process(Item(name="a", load=lambda: astronaut(512)), Settings(canvas=512))
    assert np.abs(face.keypoints - small.keypoints).max() < 3.0
    # reported boxes are in the photo's full-resolution pixels, reduced decode or not
    reduced = process(Item(name="big.jpg", path=p), Settings(canvas=256))
    assert reduced.source_size == (1600, 1600)
    assert np.abs(reduced.source_box - small.source_box * 1600 / 512).max() < 8
    assert np.abs(face.source_box - small.source_box * 1600 / 512).max() < 8


def test_no_face_folder_raises_and_cli_exits_nonzero(tmp_path, capsys):
    folder = tmp_path / "nothing here"
    folder.mkdir()
    write(folder / "flat.png", np.full((120, 160, 3), 90, np.uint8))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    with pytest.raises(FaceDataError) as err:
        load_faces(str(folder), tmp_path / "c")
    msg = str(err.value)
    assert str(folder) in msg and "no face found" in msg and "broken.jpg" in msg
    assert cli(["prepare", str(folder), "--out", str(tmp_path / "c"), "--no-progress"]) == 1
    assert "no usable face" in capsys.readouterr().err
    assert not fcache.complete_sets(str(tmp_path / "c"))


def test_missing_source_exits_2(tmp_path):
    missing = tmp_path / "does-not-exist"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_faces(str(missing))
    out = subprocess.run(
        [sys.executable, "-m", "envs.faces", "prepare", str(missing), "--out", str(tmp_path / "c")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2 and "does not exist" in out.stderr


# ---------------------------------------------------------------- cache


def test_cache_round_trip_and_rebuild_on_changes(tmp_path, capsys):
    src, cache_dir = tmp_path / "photos", tmp_path / "cache"
    src.mkdir()
    write(src / "a.jpg", astronaut(256))
    write(src / "b.png", astronaut(320)[:, ::-1])
    assert cli(["prepare", str(src), "--out", str(cache_dir), "--no-progress"]) == 0
    assert "faces kept: 2" in capsys.readouterr().out
    first = prepare(str(src), cache_dir)
    assert first.from_cache
    loaded = load_faces(str(cache_dir))
    assert np.array_equal(loaded.images, first.faces.images) and np.array_equal(loaded.masks, first.faces.masks)
    assert loaded.files == ("a.jpg", "b.png")
    # a different setting is a different set; the first one stays
    small = prepare(str(src), cache_dir, Settings(canvas=128))
    assert not small.from_cache and small.set_dir != first.set_dir and small.faces.images.shape[1] == 128
    assert fcache.read_marker(first.set_dir)
    assert load_faces(str(cache_dir), canvas=128).images.shape[1] == 128  # matching set preferred
    assert load_faces(str(cache_dir)).images.shape[1] == 256
    # a set damaged on disk is skipped when loading and rebuilt by prepare
    with open(os.path.join(small.set_dir, "shard-00000", "images.npy"), "r+b") as f:
        f.truncate(1000)
    with pytest.warns(UserWarning, match="differ from the requested"):
        assert load_faces(str(cache_dir), canvas=128).images.shape[1] == 256
    with pytest.warns(UserWarning, match="rebuilding"):
        fixed = prepare(str(src), cache_dir, Settings(canvas=128))
    assert not fixed.from_cache and fixed.set_dir == small.set_dir
    assert np.array_equal(load_faces(str(cache_dir), canvas=128).images, small.faces.images)
    # a changed source (new file) rebuilds too
    write(src / "c.jpg", astronaut(300))
    grown = prepare(str(src), cache_dir)
    assert not grown.from_cache and len(grown.faces) == 3


def test_write_failure_mid_set_keeps_previous_cache(tmp_path, monkeypatch):
    src, cache_dir = tmp_path / "photos", tmp_path / "cache"
    src.mkdir()
    write(src / "a.jpg", astronaut(256))
    good = prepare(str(src), cache_dir)
    sets_before = [d for d, _ in fcache.complete_sets(str(cache_dir))]

    def broken_writer(path, rows, shape, dtype):
        with open(path, "wb") as f:
            f.write(b"\x93NUMPY half an array")
        raise KeyboardInterrupt  # Ctrl-C in the middle of the write

    monkeypatch.setattr(fshards, "_write_rows", broken_writer)
    with pytest.raises(KeyboardInterrupt):
        prepare(str(src), cache_dir, Settings(canvas=128))
    assert [d for d, _ in fcache.complete_sets(str(cache_dir))] == sets_before  # nothing published
    builds = [n for n in os.listdir(cache_dir) if n.startswith(".build-")]
    assert len(builds) == 1 and not [n for n in os.listdir(cache_dir / builds[0]) if n.startswith((".tmp", "shard-"))]
    fs = load_faces(str(cache_dir))
    assert np.array_equal(fs.images, good.faces.images)
    monkeypatch.undo()
    again = prepare(str(src), cache_dir, Settings(canvas=128))  # the interrupted build finishes
    assert not again.from_cache and again.faces.images.shape[1] == 128
    assert not [n for n in os.listdir(cache_dir) if n.startswith(".build-")]


# ---------------------------------------------------------------- split


def test_split_is_deterministic_disjoint_and_stable(default_set):
    fs = default_set[0].faces
    train, held = fs.split("train"), fs.split("heldout")
    assert len(train) + len(held) + len(fs.split("validation")) == len(fs) and len(held) > 0 and len(train) > 0
    assert not set(train.files) & set(held.files)
    assert fs.split("heldout").files == held.files
    assert fs.split("heldout", seed=1).files != held.files
    assert fs.split("all") is fs
    assert 0.1 < len(held) / len(fs) < 0.3
    # adding files never moves existing ones
    names = [f"img{i}.jpg" for i in range(200)]
    a, b = heldout_mask(names[:100]), heldout_mask(names)
    assert np.array_equal(a, b[:100])
    # two faces: one in each part, whatever the fraction
    for frac in (0.01, 0.5, 0.99):
        two = heldout_mask(["x.jpg", "y.jpg"], frac)
        assert two.sum() == 1
    with pytest.raises(ValueError):
        fs.split("test")
    with pytest.raises(ValueError):
        fs.split("train", heldout_fraction=0.0)


def test_subset_and_validation(default_set):
    fs = default_set[0].faces
    sub = fs.subset([2, 0])
    assert sub.files == (fs.files[2], fs.files[0]) and np.array_equal(sub.images[1], fs.images[0])
    assert len(fs.subset(np.arange(len(fs)) < 3)) == 3 and len(fs.subset(slice(0, 4))) == 4
    assert load_faces(fs) is fs
    with pytest.raises(ValueError, match="landmarks"):
        FaceSet(
            fs.images[:1],
            fs.masks[:1],
            fs.landmarks[:1, :10],
            fs.keypoints[:1],
            fs.boxes[:1],
            fs.files[:1],
            fs.backends[:1],
        )


# ---------------------------------------------------------------- backends


def test_opencv_backend_gives_face_with_mask():
    face = process(Item(name="astronaut", load=lambda: astronaut(512)), Settings(backend="opencv"))
    assert face.backend == "opencv"
    assert face.landmarks.shape == (468, 2) and face.keypoints.shape == (5, 2)
    x0, y0, x1, y1 = face.box
    assert abs(max(x1 - x0, y1 - y0) / 256 - 0.4) < 0.02
    cx, cy = int((x0 + x1) / 2), int((y0 + y1) / 2)
    assert face.mask[cy, cx] == 255 and face.mask[0, 0] == 0 and face.mask[int(y0) - 2, cx] == 0
    # the box is on the real face (mediapipe's), and template keypoints land near the real ones
    mp_face = process(Item(name="astronaut", load=lambda: astronaut(512)), Settings(backend="mediapipe"))
    a, b = face.source_box, mp_face.source_box
    inter = np.prod(np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None))
    union = np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter
    assert inter / union > 0.6
    assert np.abs(face.keypoints - mp_face.keypoints).max() < 0.1 * 256


def test_auto_falls_back_to_opencv_when_mediapipe_finds_nothing(monkeypatch):
    monkeypatch.setattr(detect.MediapipeDetector, "detect", lambda self, img: None)
    face = process(Item(name="a", load=lambda: astronaut(512)), Settings(backend="auto"))
    assert face.backend == "opencv" and face.mask.max() == 255
    assert (
        process(Item(name="a", load=lambda: astronaut(512)), Settings(backend="mediapipe"))
        == "no face found (mediapipe backend)"
    )


def test_several_faces_keep_the_largest_and_count_them(tmp_path):
    from skimage import data

    face = data.astronaut()[0:300, 60:360]
    photo = np.full((360, 700, 3), 200, np.uint8)
    photo[30:330, 20:320] = cv2.resize(face, (300, 300))
    photo[30:280, 380:630] = cv2.resize(face, (250, 250))[:, ::-1]
    src = tmp_path / "group"
    src.mkdir()
    write(src / "two.png", photo)
    res = prepare(str(src), tmp_path / "c")
    kept = res.report["kept"][0]
    assert kept["n_faces"] == 2
    assert kept["box"][2] < 320  # the big face, on the left


def test_show_writes_contact_sheet(default_set, tmp_path):
    out = tmp_path / "grid ü.png"
    assert cli(["show", str(default_set[1]), "--out", str(out), "--max", "12", "--cols", "4"]) == 0
    img = cv2.imdecode(np.frombuffer(out.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (3 * 128, 4 * 128, 3)
