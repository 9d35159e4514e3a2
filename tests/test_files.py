"""envs.files: atomic writes (old or new content, never half, no temp files left) and the mosaic."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from envs import files


def test_writes_replace_whole_files_and_leave_no_temp_files(tmp_path):
    path = tmp_path / "sub" / "out.json"  # the folder is created
    files.write_json(path, {"b": 1, "a": tmp_path})
    assert json.loads(path.read_text()) == {"a": str(tmp_path), "b": 1}
    files.write_text(path, "new")
    assert path.read_text() == "new" and os.listdir(path.parent) == ["out.json"]
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # the permissions an ordinary open() gives, not mkstemp's owner-only
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_a_failed_write_keeps_the_old_file_and_removes_its_temp_file(tmp_path):
    path = tmp_path / "x.json"
    files.write_json(path, [1])
    with pytest.raises(TypeError):
        files.write_bytes(path, "not bytes")
    assert json.loads(path.read_text()) == [1] and os.listdir(tmp_path) == ["x.json"]


def test_png_round_trip(tmp_path):
    import cv2

    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    files.write_png(tmp_path / "é.png", rgb)  # non-ASCII names work
    data = np.fromfile(tmp_path / "é.png", np.uint8)
    np.testing.assert_array_equal(cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB), rgb)


def test_grid_places_images_row_by_row_with_padding():
    images = np.stack([np.full((3, 4, 3), v, np.uint8) for v in (10, 20, 30)])
    out = files.grid(images, cols=2, pad=1, fill=255)
    assert out.shape == (2 * (3 + 1) + 1, 2 * (4 + 1) + 1, 3)
    assert (out[1:4, 1:5] == 10).all() and (out[1:4, 6:10] == 20).all() and (out[5:8, 1:5] == 30).all()
    assert (out[5:8, 6:10] == 255).all() and (out[0] == 255).all() and (out[:, 5] == 255).all()
    assert files.grid(images, cols=8).shape[1] == 3 * (4 + 2) + 2  # never wider than the images need
