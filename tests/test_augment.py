"""envs.augment: the training-time camera augmentation and the cut mask keep the geometry exact."""

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the envs)
from envs.augment import Augmentation
from envs.face_fusion import DOWN, GROW, SHRINK, UP


def test_from_config_forms():
    assert Augmentation.from_config(False) is None and Augmentation.from_config(None) is None
    assert Augmentation.from_config(True) == Augmentation()
    assert Augmentation.from_config({"mask_cut_prob": 0.5, "mask_keep": [0.6, 0.7]}).mask_keep == (0.6, 0.7)
    with pytest.raises(ValueError, match="mask_cut"):
        Augmentation.from_config({"mask_cut": 0.5})
    with pytest.raises(ValueError, match="true, false or a dict"):
        Augmentation.from_config("yes")


def _oval(size: int = 84) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    return (((xx - 42) / 14.0) ** 2 + ((yy - 40) / 18.0) ** 2 <= 1.0).astype(np.uint8) * 255


def test_mask_cut_keeps_a_share_of_the_mask():
    mask, aug = _oval(), Augmentation(mask_cut_prob=1.0, mask_keep=(0.5, 0.85))
    rng = np.random.default_rng(0)
    shares = []
    for _ in range(50):
        cut = aug.source_mask(mask, rng)
        assert cut.dtype == np.uint8 and cut.shape == mask.shape
        assert np.all(cut <= mask)  # only ever removes
        shares.append(cut.astype(float).sum() / mask.astype(float).sum())
    assert 0.45 <= min(shares) and max(shares) <= 0.9  # the soft edge blurs the share a little
    assert np.ptp(shares) > 0.1  # the share and the line vary


def test_no_cut_takes_no_random_draw():
    """With mask_cut_prob 0 (the default) the random stream, and so every earlier run, is unchanged."""
    mask, rng = _oval(), np.random.default_rng(3)
    state = rng.bit_generator.state
    assert Augmentation().source_mask(mask, rng) is mask
    assert rng.bit_generator.state == state


@pytest.mark.parametrize("env_id", ["FaceFusion-v0", "FaceFusionSwap-v0"])
def test_augmented_episode_keeps_the_geometry(env_id):
    """Same seed, same episode; the augmented env has the plain env's ground truth and rewards,
    and in place (self mode) the composite is the target wherever the cut mask pastes."""
    plain = gym.make(env_id, split="train")
    aug = gym.make(env_id, split="train", augment={"mask_cut_prob": 1.0})
    for seed in range(5):
        o1, i1 = plain.reset(seed=seed)
        o2, i2 = aug.reset(seed=seed)
        np.testing.assert_array_equal(aug.reset(seed=seed)[0], o2)  # deterministic per seed
        assert i1 == i2 and plain.unwrapped._gt_box.tolist() == aug.unwrapped._gt_box.tolist()
        assert (o2[..., 2] > 0).sum() < (o1[..., 2] > 0).sum()  # the pasted mask was cut
        for action in (UP, GROW, DOWN, SHRINK):
            r1, r2 = plain.step(action)[1], aug.step(action)[1]
            assert r1 == pytest.approx(r2)
    if env_id == "FaceFusion-v0":
        obs, _ = aug.reset(seed=7, options={"offset": (0.0, 0.0), "scale": 1.0})
        inside = obs[..., 2] == 255
        assert inside.sum() > 50
        np.testing.assert_allclose(obs[..., 1][inside].astype(int), obs[..., 0][inside].astype(int), atol=1)
    plain.close()
    aug.close()
