"""FaceFusionEnv rules that had no test: hover cost, the aligned-start curriculum (and its
evaluation override), clamping, the landmark baseline in swap mode; `summarize` on RLlib's
nested result."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401
from envs.face_fusion import DOWN, GROW, LEFT, RIGHT, SHRINK, UP


@pytest.fixture(scope="module")
def faces():
    from envs.faces import load_faces

    return load_faces("default")


def _env(faces, **kwargs):
    return gym.make("FaceFusion-v0", faces=faces, **kwargs).unwrapped  # no time limit: clamping needs long walks


# ---- hover cost ---------------------------------------------------------------------------------


def test_hover_cost_is_charged_only_for_moves_made_in_place(faces):
    """A move made while within tolerance costs `hover_cost` on top of its usual reward; the same
    move from outside tolerance costs nothing extra."""
    rewards = {}
    for hover in (0.0, 0.3):
        env = _env(faces, hover_cost=hover)
        for start, offset in (("in_place", (0.0, 0.0)), ("away", (0.2, 0.0))):
            env.reset(seed=0, options={"offset": offset, "scale": 1.0})
            assert env.within_tolerance() == (start == "in_place")
            rewards[hover, start] = env.step(UP)[1]
    assert rewards[0.3, "in_place"] == pytest.approx(rewards[0.0, "in_place"] - 0.3)
    assert rewards[0.3, "away"] == pytest.approx(rewards[0.0, "away"])


# ---- aligned-start curriculum -------------------------------------------------------------------


def _aligned_fraction(env, seeds=range(400)) -> float:
    """Fraction of starts the curriculum placed: in place, scale exactly 1 (an ordinary start is
    never in place: it is redrawn, and its scale is drawn from a continuum)."""
    aligned = 0
    for seed in seeds:
        env.reset(seed=seed)
        if env.placement.scale == 1.0:
            assert env.within_tolerance()
            aligned += 1
        else:
            assert not env.within_tolerance()
    return aligned / len(seeds)


@pytest.mark.parametrize("prob", [0.0, 0.3])
def test_aligned_start_prob_is_the_fraction_of_starts_in_place(faces, prob):
    fraction = _aligned_fraction(_env(faces, aligned_start_prob=prob))
    assert abs(fraction - prob) <= 4 * np.sqrt(0.3 * 0.7 / 400)  # 4 sigma of a binomial at 0.3


def test_evaluation_env_config_override_of_zero_turns_the_curriculum_off(faces):
    """Training keeps the curriculum; an evaluation override of 0 (merged over the training
    env_config) and validation (which drops the key) play ordinary starts only."""
    from agents.config import build_config
    from agents.presets import preset_for
    from agents.validation import validation_env_config

    preset = preset_for("FaceFusion-v0")
    preset["evaluation"] = {"evaluation_interval": 1, "evaluation_config": {"env_config": {"aligned_start_prob": 0.0}}}
    config = build_config("FaceFusion-v0", preset, env_config={"aligned_start_prob": 0.5})
    train_config = dict(config.env_config)
    eval_config = dict(config.get_evaluation_config_object().env_config)  # what evaluation runners get
    assert train_config["aligned_start_prob"] == 0.5 and eval_config["aligned_start_prob"] == 0.0
    assert eval_config["augment"] == train_config["augment"]  # the rest of the training env_config is kept
    for env_config, lo, hi in (
        (train_config, 0.35, 0.65),
        (eval_config, 0.0, 0.0),
        (validation_env_config(preset, train_config), 0.0, 0.0),
    ):
        kwargs = {k: v for k, v in env_config.items() if k not in ("augment", "split")}
        assert lo <= _aligned_fraction(_env(faces, **kwargs), range(200)) <= hi, env_config


# ---- clamping -----------------------------------------------------------------------------------


@pytest.mark.parametrize("action,bound", [(GROW, 2.0), (SHRINK, 0.5)])
def test_scale_is_clamped_to_half_and_double(faces, action, bound):
    env = _env(faces)
    env.reset(seed=0, options={"scale": 1.0})
    scales = []
    for _ in range(40):  # 1.04 ** 18 > 2
        env.step(action)
        scales.append(env.placement.scale)
    assert scales[-1] == bound and scales.count(bound) > 10
    assert all(0.5 <= s <= 2.0 for s in scales)


@pytest.mark.parametrize("action,axis,sign", [(RIGHT, 0, 1), (LEFT, 0, -1), (DOWN, 1, 1), (UP, 1, -1)])
def test_position_is_clamped_to_half_a_canvas(faces, action, axis, sign):
    env = _env(faces)
    env.reset(seed=0, options={"offset": (0.0, 0.0)})
    steps = int(env.canvas / (env.shift_step * env._face_px)) + 20  # more than enough to leave the canvas
    for _ in range(steps):
        obs, *_ = env.step(action)
    p = env.placement
    assert (p.dx, p.dy)[axis] == sign * env.canvas / 2 and (p.dx, p.dy)[1 - axis] == 0.0
    assert obs.shape == env.observation_space.shape


def test_place_clamps_the_scale_of_a_one_shot_estimate(faces):
    env = _env(faces)
    env.reset(seed=0)
    for factor, bound in ((3.0, 2.0), (0.2, 0.5)):
        m = env._gt.copy()
        m[:, :2] *= factor
        env.place(m)
        assert env.placement.scale == bound


# ---- landmark baseline in swap mode -------------------------------------------------------------


def test_landmark_policy_aligns_another_photos_face_in_one_step(faces):
    """Swap mode, where the baseline is informative: keypoints detected at observation size are
    not the ground truth's, but they land the face near it from any start."""
    from envs.baselines import LandmarkPolicy, run_episode

    env = gym.make("FaceFusionSwap-v0", faces=faces)
    policy = LandmarkPolicy()
    starts, finals, successes = [], [], 0
    for seed in range(8):
        _, info = env.reset(seed=seed)
        starts.append(info["position_error_px"])
        out = run_episode(env, policy, seed=seed)
        info = out["info"]
        assert out["steps"] == 1 and info["stopped"]
        assert faces.files[info["target"]] != faces.files[info["source"]]
        finals.append(info["position_error_px"])
        successes += info["success"]
    assert np.median(finals) < np.median(starts) / 4
    assert successes >= 5


# ---- summarize ----------------------------------------------------------------------------------


def test_summarize_reads_rllibs_nested_result():
    from agents.training import summarize

    result = {
        "env_runners": {
            "num_env_steps_sampled_lifetime": 1234.0,
            "episode_return_mean": 0.5,
            "episode_len_mean": 12.0,
            "fusion/success_rate": 0.25,
        },
        "evaluation": {
            "env_runners": {
                "episode_return_mean": 0.9,
                "fusion/success_rate": 0.8,
                "fusion/final_position_error_px": 1.5,
                "fusion/steps_per_episode": 9.0,
            }
        },
        "learners": {"default_policy": {"total_loss": 0.125}, "__all_modules__": {"total_loss": 99.0}},
        "fault_tolerance": {"num_healthy_workers": 2, "num_remote_worker_restarts": 1},
    }
    s = summarize(result)
    assert s["env_steps"] == 1234 and isinstance(s["env_steps"], int)
    assert (s["train_return"], s["train_episode_len"], s["train_success_rate"]) == (0.5, 12.0, 0.25)
    assert (s["eval_return"], s["eval_success_rate"]) == (0.9, 0.8)
    assert (s["eval_position_error_px"], s["eval_steps_per_episode"]) == (1.5, 9.0)
    assert s["learner_loss"] == 0.125 and s["num_healthy_env_runners"] == 2

    # before the first episode ends RLlib reports NaN, and without evaluation there is no section
    early = summarize({"env_runners": {"num_env_steps_sampled_lifetime": 64, "episode_return_mean": float("nan")}})
    assert early["env_steps"] == 64
    assert all(v is None for k, v in early.items() if k != "env_steps"), early
