"""Train / validation / held-out parts: disjoint, deterministic by file name, held-out unchanged."""

import numpy as np
import pytest

from envs.faces.split import heldout_mask, part_mask

NAMES = [f"photos/img{i:04d}.jpg" for i in range(400)]


def parts(names, **kw):
    return {p: part_mask(names, p, **kw) for p in ("train", "validation", "heldout")}


def test_parts_are_disjoint_and_cover_all():
    m = parts(NAMES)
    total = m["train"].astype(int) + m["validation"] + m["heldout"]
    assert (total == 1).all()
    assert 0.1 < m["validation"].mean() < 0.2 and 0.15 < m["heldout"].mean() < 0.25


def test_heldout_does_not_depend_on_validation_fraction():
    for vf in (0.0, 0.1, 0.3):
        assert np.array_equal(part_mask(NAMES, "heldout", validation_fraction=vf), heldout_mask(NAMES))
    assert not part_mask(NAMES, "validation", validation_fraction=0.0).any()


def test_membership_is_per_file_and_stable_under_additions_and_order():
    a = parts(NAMES[:150])
    b = parts(NAMES)
    rev = parts(NAMES[::-1])
    for p in a:
        assert np.array_equal(a[p], b[p][:150])
        assert np.array_equal(rev[p][::-1], b[p])
    # faces of one photo share its file name, so they share a part
    dup = NAMES[:50] + NAMES[:50]
    m = parts(dup)
    for p in m:
        assert np.array_equal(m[p][:50], m[p][50:])


def test_small_sets_still_get_a_validation_photo():
    names = [f"p{i}.jpg" for i in range(5)]
    m = parts(names)
    assert m["validation"].sum() >= 1 and m["heldout"].sum() >= 1 and m["train"].sum() >= 1


@pytest.mark.parametrize("bad", [-0.1, 0.8, 1.0])
def test_bad_validation_fraction_is_named(bad):
    with pytest.raises(ValueError, match="validation_fraction"):
        part_mask(NAMES, "train", validation_fraction=bad)


def test_env_validation_split_is_disjoint_from_heldout_and_train():
    import gymnasium as gym

    import envs  # noqa: F401

    files = {}
    for split in ("train", "validation", "heldout"):
        env = gym.make("FaceFusion-v0", split=split)
        files[split] = set(env.unwrapped.faces.files)
        env.close()
    assert files["validation"] and files["heldout"] and files["train"]
    assert not files["validation"] & files["heldout"]
    assert not files["validation"] & files["train"]
    assert not files["train"] & files["heldout"]
