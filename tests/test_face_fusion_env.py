"""FaceFusionEnv: Gymnasium API conformance, dynamics, rewards, ground truth, rendering."""

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.baselines import OraclePolicy, RandomPolicy, run_episode
from envs.face_fusion import DOWN, GROW, LEFT, RIGHT, SHRINK, STOP, UP


@pytest.fixture(scope="module")
def env():
    e = gym.make("FaceFusion-v0")
    yield e
    e.close()


@pytest.mark.parametrize("env_id", sorted(envs.ENV_IDS))
def test_check_env_without_warnings(env_id):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        e = gym.make(env_id)
        check_env(e.unwrapped)
        e.close()
    messages = [str(w.message) for w in caught if "gymnasium" in str(w.filename) or "envs" in str(w.filename)]
    assert messages == []


def test_make_forms_and_vector_envs():
    e = gym.make("envs:FaceFusion-v0", obs_size=64)
    assert e.observation_space.shape == (64, 64, 3)
    assert e.spec.max_episode_steps == envs.MAX_EPISODE_STEPS
    e.close()
    for mode in ("sync", "async"):
        vec = gym.make_vec("FaceFusion-v0", num_envs=2, vectorization_mode=mode)
        obs, info = vec.reset(seed=0)
        assert obs.shape == (2, 84, 84, 3) and obs.dtype == np.uint8
        obs, reward, term, trunc, info = vec.step(np.array([UP, GROW]))
        assert reward.shape == (2,)
        vec.close()


def _rollout(env, seed, n=20):
    obs, _ = env.reset(seed=seed)
    out = [obs]
    rng = np.random.default_rng(0)
    for _ in range(n):
        obs, r, term, trunc, info = env.step(int(rng.integers(6)))
        out.append(obs)
        out.append(np.array([r, info["position_error_px"]]))
    return out


def test_seeded_rollouts_are_deterministic(env):
    a, b, c = _rollout(env, 7), _rollout(env, 7), _rollout(env, 8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_pickle_round_trip(env):
    env.reset(seed=3)
    clone = pickle.loads(pickle.dumps(env))
    obs1, r1, *_ = env.step(RIGHT)
    obs2, r2, *_ = clone.step(RIGHT)
    assert np.array_equal(obs1, obs2) and r1 == r2


def _mask_centroid_and_area(obs):
    ys, xs = np.nonzero(obs[..., 2] > 127)
    return np.array([xs.mean(), ys.mean()]), len(xs)


@pytest.mark.parametrize("action, axis, sign", [(UP, 1, -1), (DOWN, 1, 1), (LEFT, 0, -1), (RIGHT, 0, 1)])
def test_shift_actions_move_the_face(env, action, axis, sign):
    obs, _ = env.reset(seed=0, options={"offset": (0.0, 0.0), "scale": 1.0})
    before, _ = _mask_centroid_and_area(obs)
    step_px = env.unwrapped.shift_step * env.unwrapped._face_px * env.unwrapped.k
    for _ in range(3):
        obs, *_ = env.step(action)
    after, _ = _mask_centroid_and_area(obs)
    moved = after - before
    assert sign * moved[axis] == pytest.approx(3 * step_px, rel=0.25)
    assert abs(moved[1 - axis]) < 0.5


@pytest.mark.parametrize("action, factor", [(GROW, 1), (SHRINK, -1)])
def test_scale_actions_resize_the_face(env, action, factor):
    obs, _ = env.reset(seed=0, options={"offset": (0.0, 0.0), "scale": 1.0})
    c0, area0 = _mask_centroid_and_area(obs)
    for _ in range(4):
        obs, *_ = env.step(action)
    c1, area1 = _mask_centroid_and_area(obs)
    expected = env.unwrapped.scale_step ** (2 * 4 * factor)
    assert area1 / area0 == pytest.approx(expected, rel=0.1)
    assert np.abs(c1 - c0).max() < 1.0  # scaling is about the face centre


@pytest.mark.parametrize("env_id", sorted(envs.ENV_IDS))
def test_oracle_succeeds_from_every_corner_of_the_initial_range(env_id):
    e = gym.make(env_id)
    u = e.unwrapped
    off, sc = u.max_offset, u.max_scale_change
    for target in range(0, len(u.faces), max(1, len(u.faces) // 6)):
        for dx in (-off, 0.0, off):
            for dy in (-off, off):
                for scale in (1 - sc, 1 + sc):
                    result = run_episode(
                        e, OraclePolicy(), seed=target, options={"target": target, "offset": (dx, dy), "scale": scale}
                    )
                    assert result["info"]["success"], (target, dx, dy, scale, result["info"])
                    assert result["steps"] < envs.MAX_EPISODE_STEPS
    e.close()


def test_random_policy_rarely_succeeds(env):
    successes = [run_episode(env, RandomPolicy(s), seed=s)["info"]["success"] for s in range(30)]
    assert np.mean(successes) < 0.2


def test_reward_sign_follows_the_error(env):
    env.reset(seed=0, options={"offset": (0.2, 0.0), "scale": 1.0})  # face is right of its place
    _, r_good, *_ = env.step(LEFT)
    _, r_bad, *_ = env.step(RIGHT)
    assert r_good > 0 > r_bad
    env.reset(seed=0, options={"offset": (0.0, 0.0), "scale": 0.88})  # face too small
    _, r_good, *_ = env.step(GROW)
    _, r_bad, *_ = env.step(SHRINK)
    assert r_good > 0 > r_bad


def test_stop_rewards_and_termination(env):
    _, info = env.reset(seed=0, options={"offset": (0.0, 0.0), "scale": 1.0})
    assert info["within_tolerance"] and info["position_error_px"] == 0 and info["iou"] == pytest.approx(1.0)
    assert not info["success"]  # success needs the stop action
    _, reward, terminated, truncated, info = env.step(STOP)
    assert reward == env.unwrapped.stop_bonus and terminated and not truncated
    assert info["success"] and info["stopped"]
    env.reset(seed=0, options={"offset": (0.25, 0.25), "scale": 1.0})
    _, reward, terminated, _, info = env.step(STOP)
    assert reward == -env.unwrapped.stop_penalty and terminated and not info["success"]


def test_truncation_at_max_episode_steps(env):
    env.reset(seed=0, options={"offset": (0.0, 0.0), "scale": 1.0})
    for i in range(envs.MAX_EPISODE_STEPS):
        _, _, terminated, truncated, info = env.step(UP if i % 2 else DOWN)
        assert not terminated
    assert truncated
    assert info["within_tolerance"] and not info["success"]  # hovering in place is no success


def test_info_keys(env):
    _, info = env.reset(seed=1)
    assert {
        "position_error_px",
        "scale_error",
        "iou",
        "success",
        "within_tolerance",
        "stopped",
        "target",
        "source",
    } <= set(info)
    # in place: 1; twice the size about the same centre: the true box is a quarter of it; 2 face sizes away: 0
    for offset, scale, iou in (((0.0, 0.0), 1.0, 1.0), ((0.0, 0.0), 2.0, 0.25), ((2.0, 0.0), 1.0, 0.0)):
        _, info = env.reset(seed=1, options={"offset": offset, "scale": scale})
        assert info["iou"] == pytest.approx(iou)


def test_swap_mode_uses_another_photo_and_keypoint_ground_truth():
    e = gym.make("FaceFusionSwap-v0")
    _, info = e.reset(seed=0, options={"offset": (0.0, 0.0), "scale": 1.0})
    u = e.unwrapped
    assert u.faces.files[info["source"]] != u.faces.files[info["target"]]
    # at the ground truth the source keypoints land on the target's (up to landmark noise)
    mapped = u.current_matrix()[:, :2] @ u.faces.keypoints[info["source"]].T + u.current_matrix()[:, 2:]
    residual = np.linalg.norm(mapped.T - u.faces.keypoints[info["target"]], axis=1).mean()
    assert residual < 0.06 * u._face_px
    e.close()


def _dots_centroid(channel):
    w = channel.astype(np.float64)
    ys, xs = np.indices(w.shape)
    return np.array([(xs * w).sum(), (ys * w).sum()]) / w.sum()


@pytest.mark.parametrize("env_id", ["FaceFusion-v0", "FaceFusionSwap-v0"])
def test_landmark_channels_show_both_keypoint_sets(env_id):
    """With landmarks=True channels 3 and 4 hold the target's and the moving source's keypoints:
    the source dots follow the moves, and their centroid lands on the target's at the goal (the
    least-squares keypoint fit maps centroid to centroid)."""
    e = gym.make(env_id, landmarks=True)
    check_env(e.unwrapped)
    obs, _ = e.reset(seed=0, options={"offset": (0.0, 0.0), "scale": 1.0})
    assert obs.shape == (84, 84, 5)
    u = e.unwrapped
    plain, _ = gym.make(env_id).reset(seed=0, options={"offset": (0.0, 0.0), "scale": 1.0})
    np.testing.assert_array_equal(obs[..., :3], plain)  # the first three channels as without landmarks
    target, source = _dots_centroid(obs[..., 3]), _dots_centroid(obs[..., 4])
    assert np.abs(target - source).max() < 0.25
    if u.mode == "self":
        np.testing.assert_array_equal(obs[..., 3], obs[..., 4])
    step_px = u.shift_step * u._face_px * u.k
    for _ in range(3):
        obs, *_ = e.step(RIGHT)
    moved = _dots_centroid(obs[..., 4]) - source
    assert moved[0] == pytest.approx(3 * step_px, rel=0.1) and abs(moved[1]) < 0.1
    np.testing.assert_array_equal(_dots_centroid(obs[..., 3]), target)  # the target's dots stay
    e.close()


def test_render_draws_boxes_and_blends_differ():
    e = gym.make("FaceFusion-v0", render_mode="rgb_array")
    e.reset(seed=2)
    frame = e.render()
    assert frame.shape == (e.unwrapped.canvas, e.unwrapped.canvas, 3) and frame.dtype == np.uint8
    x0, y0, x1, y1 = np.round(e.unwrapped._gt_box).astype(int)
    assert (frame[y0, x0:x1] == (0, 255, 0)).all(axis=1).mean() > 0.5  # ground-truth box in green
    images = {b: e.unwrapped.fused_image(b) for b in ("paste", "color", "seamless")}
    assert not np.array_equal(images["paste"], images["color"])
    assert not np.array_equal(images["paste"], images["seamless"])
    e.close()


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode must be one of"):
        gym.make("FaceFusion-v0", mode="other")
    with pytest.raises(ValueError, match="realism_fn"):
        gym.make("FaceFusion-v0", realism_weight=1.0)
    e = gym.make("FaceFusion-v0")
    e.reset(seed=0)
    with pytest.raises(ValueError, match="invalid action"):
        e.step(9)


class CountingCritic:
    """A deterministic stand-in critic (mean brightness of the crop) that counts crops scored."""

    def __init__(self):
        self.crops = 0

    def __call__(self, crops):
        self.crops += len(crops)
        return crops.reshape(len(crops), -1).mean(1) / 255.0


def _realism_run(cache: bool, actions):
    critic = CountingCritic()
    e = gym.make("FaceFusion-v0", realism_fn=critic, realism_weight=1.0, realism_cache=cache)
    e.reset(seed=3, options={"offset": (0.1, -0.1), "scale": 1.1})
    rewards = [e.step(a)[1] for a in actions]
    return np.array(rewards), critic.crops, e


def test_realism_memo_skips_revisited_placements_and_keeps_rewards():
    # back and forth: RIGHT/LEFT and GROW/SHRINK return to placements already scored
    actions = [RIGHT, LEFT, RIGHT, LEFT, GROW, SHRINK, GROW, UP, DOWN, UP]
    cached, cached_calls, e = _realism_run(True, actions)
    plain, plain_calls, _ = _realism_run(False, actions)
    assert plain_calls == 1 + len(actions)  # reset + every step
    # distinct placements: start, right, grow, grow+up -> 4 crops
    assert cached_calls == 4
    np.testing.assert_allclose(cached, plain, atol=1e-12)
    # a new episode forgets the old one's scores: same placements, yet scored afresh
    critic = e.unwrapped.realism_fn
    e.reset(seed=4, options={"offset": (0.1, -0.1), "scale": 1.1})
    e.step(RIGHT)
    assert critic.crops == cached_calls + 2


def test_alpha_composite_is_exact_for_every_value_triple():
    from envs.fusion import alpha_composite

    s, t, a = (
        v.astype(np.uint8).reshape(4096, 4096)
        for v in np.meshgrid(np.arange(256), np.arange(256), np.arange(256), indexing="ij")
    )
    expected = (s.astype(np.int32) * a + t.astype(np.int32) * (255 - a.astype(np.int32)) + 127) // 255
    np.testing.assert_array_equal(alpha_composite(t, s, a), expected.astype(np.uint8))
    # colour images with a 2-D alpha, from non-contiguous views (as the env passes them)
    rgba = np.random.default_rng(0).integers(0, 256, (64, 64, 4), dtype=np.uint8)
    target = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    al = rgba[..., 3:].astype(np.int32)
    expected = (rgba[..., :3].astype(np.int32) * al + target.astype(np.int32) * (255 - al) + 127) // 255
    np.testing.assert_array_equal(alpha_composite(target, rgba[..., :3], rgba[..., 3]), expected.astype(np.uint8))
