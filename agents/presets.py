"""Hyperparameter presets, as data keyed by env id.

A preset has four sections that map onto RLlib's config builders (`training`, `model` ->
DefaultModelConfig, `env_runners`, `evaluation`) and a `stop` section with the default
stop criteria. `--config FILE` (JSON) deep-merges over the preset, so a user can change one
value without restating the rest.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

# RLlib's tuned CartPole DQN (rllib/tuned_examples/dqn/cartpole_dqn.py, new API stack), with
# changes measured here (BENCHMARKS.md). RLlib's fixed cost per training step is large (sample,
# replay, update, weight sync) and its example samples only 5 env steps per training step, so
# a fragment of 16 steps cuts that overhead. The replay ratio is raised to stable-baselines3
# zoo's (32 replayed per sampled step: 0.5 updates of 64 per env step), with a higher
# learning rate and a shorter epsilon decay: 15-29k env steps to greedy 475 over seeds 0-2,
# against 76k for the example (seed 0). A fixed fragment needs an integer n_step (RLlib 2.60),
# hence 3 instead of (2, 5).
CARTPOLE = {
    "training": {
        "lr": 1e-3,
        "train_batch_size_per_learner": 64,
        "replay_buffer_config": {
            "type": "PrioritizedEpisodeReplayBuffer",
            "capacity": 50000,
            "alpha": 0.6,
            "beta": 0.4,
        },
        "n_step": 3,
        "double_q": True,
        "dueling": True,
        "num_atoms": 1,
        "noisy": False,
        "epsilon": [[0, 1.0], [8000, 0.04]],
        # Replayed/sampled step ratio; agents.config keeps it whatever the env runner count.
        "training_intensity": 32.0,
    },
    "model": {
        "fcnet_hiddens": [256],
        "fcnet_activation": "tanh",
        "fcnet_bias_initializer": "zeros_",
        "head_fcnet_hiddens": [256],
        "head_fcnet_bias_initializer": "zeros_",
    },
    "env_runners": {"rollout_fragment_length": 16},
    "evaluation": {"evaluation_interval": 1, "evaluation_duration": 5},
    "stop": {"return": 450.0, "timesteps": 200_000, "minutes": 30.0},
}

# FaceFusion (BENCHMARKS.md, "FaceFusion preset", rounds 1 and 3; validation faces only, held-out
# faces never looked at). What the ablations showed:
# - epsilon 1 -> 0.05 over 10k env steps (~3-4 minutes here): the first round's 50k-step
#   schedule kept the policy exploring for most of a 10-minute budget;
# - a CNN whose last conv keeps stride 1 (an 11x11 grid; agents.config.conv_filters_for)
#   instead of the 6x6 grid of sessions 1-4 (the stop needs placement to within 2 px);
#   stable-baselines3's NatureCNN (7x7 grid, ~1.5x the multiply-adds) learned no faster per
#   wall second and, with mirrored replay, collapsed on one of two seeds;
# - mirrored replay (agents.replay, `mirror`): the env's rules are left-right symmetric, so
#   half of each batch is replayed mirrored with left/right swapped; twice the distinct
#   data for the same env steps: both seeds >= 0.95 validation by 5.3 minutes, and stable;
# - n-step 1 and uniform replay (round 1: n-step 3 0.47 vs 0.90, prioritised replay no
#   better); dueling heads (round 1: 0.95 vs 0.90) and double Q;
# - 10% aligned starts (the stop action early) and camera augmentation (real photos): see
#   env_config. 25%, or 25% decaying to 10%, learnt the stop sooner but reached the stop bar
#   later (session 17).
# 8 replayed per sampled step (one batch of 64 per 8 env steps; session 15): the cost per update
# bounds the wall time, and against 16 (one batch per 4 env steps, as stable-baselines3's
# train_freq 4) it took more env steps but less wall time to the validation bar, first
# validation >= 0.9 sooner on each of seeds 0-2 (BENCHMARKS.md, "Replay ratio").
FACEFUSION = {
    "training": {
        "lr": 2.5e-4,
        "train_batch_size_per_learner": 64,
        "replay_buffer_config": {"type": "EpisodeReplayBuffer", "capacity": 50000, "mirror": True},
        "n_step": 1,
        "double_q": True,
        "dueling": True,
        "num_atoms": 1,
        "noisy": False,
        "gamma": 0.9,
        "grad_clip": 10.0,
        "epsilon": [[0, 1.0], [10000, 0.05]],
        "target_network_update_freq": 1000,
        "num_steps_sampled_before_learning_starts": 2000,
        "training_intensity": 8.0,
    },
    "model": {
        # conv_filters are derived from the observation size when absent (see agents.config).
        "conv_activation": "relu",
        "head_fcnet_hiddens": [256],
        "fcnet_hiddens": [],
    },
    # 4 envs per runner: one batched forward acts for four envs, so an env step costs less of
    # the learner's core (BENCHMARKS.md, "4 envs per runner"); a fragment is 8 steps per env.
    "env_runners": {"rollout_fragment_length": 8, "num_envs_per_env_runner": 4},
    # 10% of training episodes start in place (curriculum for the stop action); every episode
    # sees its photo through random camera settings. Validation and evaluation use neither.
    "env_config": {"aligned_start_prob": 0.1, "augment": True},
    # Iterations of 500 env steps (~13 s here; RLlib's DQN default is 1,000): validation, the
    # stop and the progress bar run between iterations, so this is their resolution (a
    # validation every ~42 s instead of ~55 s; same cost per env step; BENCHMARKS.md).
    "reporting": {"min_sample_timesteps_per_iteration": 500},
    # No RLlib evaluation: agents.validation plays the same 100 validation episodes each time,
    # through the training's camera augmentation (fixed per episode seed): models that have
    # learnt the embedded faces' look but hesitate to stop on other cameras show it there, as
    # steps over the oracle's, and not on the plain faces (BENCHMARKS.md, "Real photos").
    "evaluation": {},
    "validation": {"episodes": 100, "interval_seconds": 30.0, "env_config": {"split": "validation", "augment": True}},
    # Stop once validation success holds (two validations in a row) at <= 1.3x the oracle's
    # steps, else at the wall budget.
    "stop": {
        "return": None,
        "success": 0.95,
        "success_consecutive": 2,
        "steps_over_oracle": 1.3,
        "timesteps": None,
        "minutes": 10.0,
    },
}

# Cross-identity placement: the goal is the keypoint fit between two faces, which the pixels
# show only loosely; with the keypoint channels (`landmarks`) the stop decision becomes
# learnable (BENCHMARKS.md, "Swap"). It learns more slowly than self mode, so its budget is
# 15 minutes. Otherwise the same preset, replay ratio included: 8 against 16 validated better
# on each of seeds 0-2 in swap too (session 16, BENCHMARKS.md "Replay ratio").
FACEFUSION_SWAP = {
    **FACEFUSION,
    "env_config": {**FACEFUSION["env_config"], "landmarks": True},
    "stop": {**FACEFUSION["stop"], "minutes": 15.0},
}

# Weight of the realism term when `--env-config realism_checkpoint=DIR` puts the GAN critic in
# the reward and no `realism_weight` is given (the env's own default, without a critic, is 0).
REALISM_WEIGHT = 0.5

PRESETS: dict[str, dict[str, Any]] = {
    "CartPole-v1": CARTPOLE,
    "FaceFusion-v0": FACEFUSION,
    "FaceFusionSwap-v0": FACEFUSION_SWAP,
}
# What agents.options.TrainOptions.resolved_stops reads from a preset's `stop` section.
STOP_KEYS = ("return", "success", "success_consecutive", "steps_over_oracle", "timesteps", "minutes")
SECTIONS = (
    "training",
    "model",
    "env_runners",
    "evaluation",
    "validation",
    "stop",
    "env_config",
    "learners",
    "reporting",
)


def deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def preset_for(env_id: str, override_file: str | Path | None = None) -> dict[str, Any]:
    """The preset for `env_id`, with the JSON file's sections merged over it."""
    if env_id not in PRESETS:
        raise ValueError(f"no preset for env {env_id!r}; known: {', '.join(sorted(PRESETS))}")
    preset = copy.deepcopy(PRESETS[env_id])
    if override_file is None:
        return preset
    path = Path(override_file)
    try:
        override = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"--config {path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"--config {path}: not valid JSON ({exc})") from None
    if not isinstance(override, dict):
        raise ValueError(f"--config {path}: expected a JSON object with sections {SECTIONS}")
    unknown = sorted(set(override) - set(SECTIONS))
    if unknown:
        raise ValueError(f"--config {path}: unknown section(s) {unknown}; expected some of {SECTIONS}")
    return check_preset(deep_merge(preset, override), f"--config {path}")


def check_preset(preset: dict[str, Any], where: str) -> dict[str, Any]:
    """Catch stop keys nothing reads (a typo would silently never stop the run) and
    combinations RLlib 2.60 rejects with a bare TypeError deep inside `validate()`."""
    unknown = sorted(set(preset.get("stop") or {}) - set(STOP_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown stop key(s) {unknown}; expected some of {STOP_KEYS}")
    n_step = preset.get("training", {}).get("n_step")
    fragment = preset.get("env_runners", {}).get("rollout_fragment_length", "auto")
    if isinstance(n_step, (list, tuple)) and fragment != "auto":
        raise ValueError(
            f"{where}: a fixed env_runners.rollout_fragment_length ({fragment}) needs an "
            f"integer training.n_step, not the range {list(n_step)} (RLlib 2.60 compares them)"
        )
    return preset
