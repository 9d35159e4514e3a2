"""Env settings that follow a schedule over the run's env steps (a curriculum).

An env setting given as a piecewise-linear schedule, `[[env_steps, value], ...]` (the format of
RLlib's epsilon schedule), starts every env at the first value; after each training iteration
the driver sets the value for the run's sampled env steps on every env of every env runner.
The env itself knows nothing of schedules or of the run's step count: it keeps a plain
attribute, read at its next reset. Schedulable settings are the env attributes listed in
SCHEDULABLE.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

# FaceFusion's share of training episodes that start in place (envs.face_fusion).
SCHEDULABLE = ("aligned_start_prob",)
# Push a new value to the env runners only when it moved by this much (each push is a call
# on every runner).
MIN_CHANGE = 0.005


def is_schedule(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(isinstance(p, (list, tuple)) for p in value)


def check_schedule(name: str, value: Any) -> list[tuple[float, float]]:
    """The schedule as (env_steps, value) pairs, or a ValueError naming the setting."""
    try:
        points = [(float(t), float(v)) for t, v in value]
    except (TypeError, ValueError):
        raise ValueError(f"env_config {name}: a schedule is [[env_steps, value], ...], got {value!r}") from None
    steps = [t for t, _ in points]
    if steps[0] != 0 or any(b <= a for a, b in zip(steps, steps[1:])):
        raise ValueError(f"env_config {name}: schedule steps must start at 0 and increase, got {steps}")
    return points


def value_at(points: list[tuple[float, float]], env_steps: float) -> float:
    """Linear between the points, the last value after the last point."""
    steps, values = zip(*points)
    return float(np.interp(env_steps, steps, values))


def split_schedules(env_config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[tuple[float, float]]]]:
    """(env_config with each schedule replaced by its first value, {name: schedule})."""
    plain, schedules = dict(env_config), {}
    for name, value in env_config.items():
        if not is_schedule(value):
            continue
        if name not in SCHEDULABLE:
            raise ValueError(f"env_config {name}: only {SCHEDULABLE} may be a schedule, got {value!r}")
        schedules[name] = check_schedule(name, value)
        plain[name] = schedules[name][0][1]
    return plain, schedules


class ScheduleCallback:
    """Keeps the env runners' envs on the schedules' values for the run's sampled env steps:
    after every iteration (`on_train_result`; a value is pushed when it moved), on env runners
    that were recreated after a failure (`on_env_runners_recreated`: they start from the
    env_config's first values) and after a checkpoint is loaded (`on_checkpoint_loaded`). The
    last two push at once and need no state shared with the first, so copies of the config
    (RLlib copies it) cannot leave a runner on a stale value."""

    def __init__(self, schedules: dict[str, list[tuple[float, float]]]):
        self.schedules = schedules
        self.current: dict[str, float] = {}

    def values(self, algorithm) -> dict[str, float]:
        steps = algorithm.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0)
        return {name: value_at(points, float(steps)) for name, points in self.schedules.items()}

    def on_train_result(self, *, algorithm, **kwargs) -> None:
        moved = {
            name: value
            for name, value in self.values(algorithm).items()
            if name not in self.current or abs(value - self.current[name]) >= MIN_CHANGE
        }
        push(algorithm.env_runner_group, moved)
        self.current.update(moved)

    def on_env_runners_recreated(self, *, algorithm, env_runner_group, env_runner_indices, is_evaluation, **kwargs):
        if not is_evaluation:  # evaluation plays the plain start distribution
            push(env_runner_group, self.values(algorithm), env_runner_indices)

    def on_checkpoint_loaded(self, *, algorithm, **kwargs) -> None:
        push(algorithm.env_runner_group, self.values(algorithm))


def push(runner_group, values: dict[str, float], runner_ids: list[int] | None = None) -> None:
    """Set `values` on every env of the local runner and of the remote ones (or of `runner_ids`)."""
    if not values:
        return

    def set_all(runner):
        env = getattr(runner, "env", None)  # the local runner has none when remote ones sample
        if env is not None:
            for name, value in values.items():
                env.unwrapped.set_attr(name, value)  # on each sub-env of the vector env

    runner_group.foreach_env_runner(set_all, local_env_runner=runner_ids is None, remote_worker_ids=runner_ids)


def schedule_callbacks(schedules: dict[str, list[tuple[float, float]]]) -> dict[str, Any]:
    """AlgorithmConfig.callbacks() keyword arguments that run the schedules (none without)."""
    if not schedules:
        return {}
    callback = ScheduleCallback(schedules)
    return {
        "on_train_result": callback.on_train_result,
        "on_env_runners_recreated": callback.on_env_runners_recreated,
        "on_checkpoint_loaded": callback.on_checkpoint_loaded,
    }
