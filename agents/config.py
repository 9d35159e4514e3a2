"""Builds the RLlib DQN config (new API stack) for an env id from its preset."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from ray.rllib.algorithms.dqn import DQNConfig
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.tune.registry import register_env

from agents.callbacks import FusionMetricsCallback
from agents.connectors import lean_connector_settings, lean_connectors_apply
from agents.curriculum import schedule_callbacks, split_schedules
from agents.fast_dqn import FastDQNConfig
from agents.modules import ImageDQNTorchRLModule, LeanDQNTorchRLModule
from agents.presets import REALISM_WEIGHT

# "fast": agents.fast_dqn (numpy transition buffer, ready tensors to the learner), the default;
# "rllib": RLlib 2.60's DQN as shipped (episode buffer + learner connector), for side-by-side runs.
PATHS = ("fast", "rllib")
# Preset keys only FastDQNConfig knows; dropped on the "rllib" path.
FAST_ONLY_KEYS = (
    "updates_per_learner_call",
    "weights_sync_interval",
    "sample_ahead",
    "learner_threads",
    "store_buffer_in_checkpoints",
)
# RLlib's episode buffers and the TransitionReplayBuffer mode that replaces each on the fast path.
FAST_BUFFER_FOR = {"PrioritizedEpisodeReplayBuffer": True, "EpisodeReplayBuffer": False}


def make_env(env_id: str, env_config: dict | None = None) -> gym.Env:
    """Creates a registered env; runs inside every env runner, also on remote nodes."""
    import torch

    import envs  # noqa: F401  registers FaceFusion-v0 / FaceFusionSwap-v0

    # One torch thread per process (env runners, and the driver whose learner and local
    # runner call this too): small CNN/MLP ops lose more to thread sync than they gain,
    # measured ~2x throughput on 2 cores.
    torch.set_num_threads(1)
    env_config = dict(env_config or {})
    realism_checkpoint = env_config.pop("realism_checkpoint", None)
    if realism_checkpoint is not None:  # the GAN critic as auxiliary reward (detectors/)
        from detectors import Realism

        env_config["realism_fn"] = Realism.from_checkpoint(realism_checkpoint)
        env_config.setdefault("realism_weight", REALISM_WEIGHT)
    return gym.make(env_id, **env_config)


def register(env_id: str) -> None:
    """Registers `env_id` with Ray Tune's registry so remote env runners can build it."""
    register_env(env_id, lambda cfg, _id=env_id: make_env(_id, dict(cfg)))


def conv_filters_for(size: int) -> list:
    """The CNN for a square image observation of `size` px: three convs, RLlib's "same"
    padding, the last with stride 1 so that placement to within 2 px stays visible
    (84 px -> 21 -> 11 -> an 11x11x32 grid, ~4.4M multiply-adds; BENCHMARKS.md, round 3).
    RLlib needs filters explicit for sizes other than 42/64/84/96."""
    if size >= 64:
        return [[16, [8, 8], 4], [32, [4, 4], 2], [32, [3, 3], 1]]
    if size >= 32:
        return [[16, [4, 4], 2], [32, [4, 4], 2], [32, [3, 3], 1]]
    raise ValueError(f"observation size {size} px is too small for the CNN (need >= 32)")


def model_config(preset_model: dict, observation_space: gym.Space) -> DefaultModelConfig:
    model = dict(preset_model)
    if len(observation_space.shape) == 3 and "conv_filters" not in model:
        model["conv_filters"] = conv_filters_for(int(observation_space.shape[0]))
    if len(observation_space.shape) == 3:
        model.setdefault("fcnet_hiddens", [])
    return DefaultModelConfig(**model)


def build_config(
    env_id: str,
    preset: dict[str, Any],
    *,
    num_env_runners: int = 0,
    num_eval_runners: int = 0,
    cpus_per_runner: float = 1,
    seed: int | None = None,
    env_config: dict | None = None,
    max_runner_restarts: int = 1000,
    num_learners: int | None = None,
    num_gpus_per_learner: float | None = None,
    envs_per_runner: int | None = None,
    learner_threads: int | None = None,
    path: str = "fast",
) -> DQNConfig:
    """DQNConfig for `env_id` with the preset's sections applied.

    `path`: "fast" (agents.fast_dqn) or "rllib" (RLlib's DQN as shipped). The preset's
    `learners` section (num_learners, num_gpus_per_learner) and
    `env_runners.num_envs_per_env_runner` go to RLlib; the keyword arguments win over them.
    `learner_threads` (fast path): torch threads per learner update, default "auto"."""
    if path not in PATHS:
        raise ValueError(f"training path {path!r}: expected one of {PATHS}")
    register(env_id)
    env_config, schedules = split_schedules({**preset.get("env_config", {}), **(env_config or {})})
    probe = make_env(env_id, env_config)
    obs_space, action_space = probe.observation_space, probe.action_space
    mirror_actions = getattr(probe.unwrapped, "mirror_actions", None)
    probe.close()

    training = training_section(preset, path, num_env_runners, mirror_actions)
    if learner_threads is not None and path == "fast":
        training["learner_threads"] = learner_threads
    learners = dict(preset.get("learners", {}))
    if num_learners is not None:
        learners["num_learners"] = num_learners
    if num_gpus_per_learner is not None:
        learners["num_gpus_per_learner"] = num_gpus_per_learner
    runner_settings = dict(preset.get("env_runners", {}))
    if envs_per_runner is not None:
        runner_settings["num_envs_per_env_runner"] = envs_per_runner
    if path == "fast" and lean_connectors_apply(obs_space, action_space):
        runner_settings = {**lean_connector_settings(), **runner_settings}
    evaluation = dict(preset.get("evaluation", {}))
    eval_overrides = evaluation.pop("evaluation_config", {})
    if "env_config" in eval_overrides:  # merged over the training env_config, not replacing it
        eval_overrides = {**eval_overrides, "env_config": {**env_config, **eval_overrides["env_config"]}}
    config = (
        (FastDQNConfig() if path == "fast" else DQNConfig())
        .environment(env=env_id, env_config=env_config)
        .framework("torch")
        .env_runners(
            num_env_runners=num_env_runners,
            num_cpus_per_env_runner=cpus_per_runner,
            **runner_settings,
        )
        .training(**training)
        .learners(**learners)
        .rl_module(
            model_config=model_config(preset.get("model", {}), obs_space),
            rl_module_spec=module_spec(path, obs_space),
        )
        .evaluation(
            evaluation_num_env_runners=num_eval_runners,
            evaluation_config=DQNConfig.overrides(explore=False, **eval_overrides),
            evaluation_duration_unit="episodes",
            **evaluation,
        )
        .fault_tolerance(
            restart_failed_env_runners=True,
            max_num_env_runner_restarts=max_runner_restarts,
            delay_between_env_runner_restarts_s=1.0,
        )
        .callbacks(FusionMetricsCallback, **schedule_callbacks(schedules))
        .debugging(seed=seed)
        .reporting(**{"metrics_num_episodes_for_smoothing": 20, **preset.get("reporting", {})})
    )
    return config


def training_section(preset: dict[str, Any], path: str, num_env_runners: int, mirror_actions=None) -> dict[str, Any]:
    """The preset's `training` section as DQNConfig.training() takes it on `path`.
    `replay_buffer_config.mirror: true` replays mirrored transitions too, with the env's
    `mirror_actions` (see agents.replay)."""
    training = dict(preset.get("training", {}))
    buffer = dict(training.get("replay_buffer_config", {}))
    if buffer.pop("mirror", False):
        if path != "fast":
            raise ValueError("replay_buffer_config.mirror: only the fast path (agents.replay) mirrors replay")
        if mirror_actions is None:
            raise ValueError(
                "replay_buffer_config.mirror: this env declares no mirror_actions (its rules may not be symmetric)"
            )
        buffer["mirror_actions"] = list(mirror_actions)
    if path == "fast":
        training["replay_buffer_config"] = fast_buffer_config(buffer)
    else:
        if "replay_buffer_config" in training:
            training["replay_buffer_config"] = buffer
        for key in FAST_ONLY_KEYS:
            training.pop(key, None)
    if isinstance(training.get("n_step"), list):  # JSON has no tuples; RLlib wants (min, max)
        training["n_step"] = tuple(training["n_step"])
    if training.get("training_intensity") and num_env_runners > 0:
        # RLlib 2.60's calculate_rr_weights counts the local env runner as a sampler too
        # (num_env_runners + 1), but on the new API stack it samples only when there are no
        # remote runners: without this, 1 runner would replay 2x and 2 runners 1.5x the preset's
        # ratio (more updates per env step, so slower per step, not a like-for-like comparison).
        training["training_intensity"] *= num_env_runners / (num_env_runners + 1)
    return training


def fast_buffer_config(spec: dict) -> dict:
    """The preset's replay_buffer_config for agents.replay.TransitionReplayBuffer: RLlib's
    episode buffer types map onto it (prioritised or uniform), other keys carry over."""
    spec = dict(spec)
    kind = spec.get("type", "PrioritizedEpisodeReplayBuffer")
    if isinstance(kind, str) and kind.rsplit(".", 1)[-1] in FAST_BUFFER_FOR:
        spec.setdefault("prioritized", FAST_BUFFER_FOR[kind.rsplit(".", 1)[-1]])
        spec["type"] = "agents.replay.TransitionReplayBuffer"
    elif kind not in ("agents.replay.TransitionReplayBuffer",):
        raise ValueError(
            f"replay_buffer_config.type {kind!r}: the fast path replays from "
            f"agents.replay.TransitionReplayBuffer (or an RLlib episode buffer type it replaces); "
            f"use path 'rllib' for other buffers"
        )
    return spec


def module_spec(path: str, obs_space: gym.Space) -> RLModuleSpec | None:
    if path == "fast":
        return RLModuleSpec(module_class=LeanDQNTorchRLModule)
    return RLModuleSpec(module_class=ImageDQNTorchRLModule) if len(obs_space.shape) == 3 else None
