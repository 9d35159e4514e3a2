"""Lean connector pipelines for DQN env runners: one piece each way instead of RLlib's defaults.

Why: an env runner acts one env step at a time, and RLlib 2.60's default pipelines run five
pieces to the module (observations from episodes, time rank, states, batching, to tensor) and
six back (actions, to numpy, unbatching, agent mapping, time rank, clipping, listify), each with
its own timer: ~0.9 of a CartPole env step's 1.3 ms here (cProfile, BENCHMARKS.md). For a
stateless single-agent module with a Box observation and a Discrete action, the runner already
hands over this step's observations and the module already outputs the actions; the pieces
below only stack and convert them. Their pipelines run untimed (`untimed`): RLlib's pipeline
times itself and each piece and logs two episode-length sums, six metrics pushes per env step
(~10% of a CartPole env step) for diagnostics of pieces that only stack and convert; the env
runner's own timers (sampling, module inference, env step) stay.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.connectors.env_to_module import EnvToModulePipeline
from ray.rllib.connectors.module_to_env import ModuleToEnvPipeline
from ray.rllib.core.columns import Columns


class ObservationsToTensor(ConnectorV2):
    """Env to module: the runner's observations of this step, one row per env, as a tensor."""

    def __init__(self, input_observation_space=None, input_action_space=None, *, device=None, **kwargs):
        super().__init__(input_observation_space, input_action_space, **kwargs)
        self.device = device

    def __call__(self, *, rl_module, batch, episodes, explore=None, shared_data=None, metrics=None, **kwargs):
        observations = kwargs.get(Columns.OBS)
        if observations is None:  # called without them: the latest observation of each episode
            observations = [episode.get_observations(-1) for episode in episodes]
        tensor = torch.from_numpy(np.stack(observations))
        batch[Columns.OBS] = tensor if self.device is None else tensor.to(self.device)
        return batch


class ActionsToNumpy(ConnectorV2):
    """Module to env: the module's actions (one per env) as a numpy array for the vector env."""

    def __call__(self, *, rl_module, batch, episodes, explore=None, shared_data=None, metrics=None, **kwargs):
        batch[Columns.ACTIONS] = batch[Columns.ACTIONS].cpu().numpy()
        return batch


def lean_connectors_apply(observation_space: gym.Space, action_space: gym.Space) -> bool:
    """The lean pieces cover a Box observation and a Discrete action (our envs and CartPole);
    anything else keeps RLlib's default pipelines."""
    return isinstance(observation_space, gym.spaces.Box) and isinstance(action_space, gym.spaces.Discrete)


def lean_connector_settings() -> dict[str, Any]:
    """`AlgorithmConfig.env_runners(...)` keyword arguments that install the lean pipelines."""
    return {
        "env_to_module_connector": lambda env=None, spaces=None, device=None: ObservationsToTensor(device=device),
        "module_to_env_connector": lambda env=None, spaces=None: ActionsToNumpy(),
        "add_default_connectors_to_env_to_module_pipeline": False,
        "add_default_connectors_to_module_to_env_pipeline": False,
    }


class UntimedEnvToModulePipeline(EnvToModulePipeline):
    """RLlib's env-to-module pipeline without its per-call metrics (see the module docstring)."""

    def __call__(self, *, metrics=None, **kwargs):
        return super().__call__(metrics=None, **kwargs)


class UntimedModuleToEnvPipeline(ModuleToEnvPipeline):
    """RLlib's module-to-env pipeline without its per-call metrics."""

    def __call__(self, *, metrics=None, **kwargs):
        return super().__call__(metrics=None, **kwargs)


_UNTIMED = {
    EnvToModulePipeline: (UntimedEnvToModulePipeline, ObservationsToTensor),
    ModuleToEnvPipeline: (UntimedModuleToEnvPipeline, ActionsToNumpy),
}


def untimed(pipeline):
    """The same pipeline, untimed, when it is exactly the lean piece; any other pipeline (a
    user's connectors, RLlib's defaults) is returned as it is, timers and all."""
    untimed_class, lean_piece = _UNTIMED.get(type(pipeline), (None, None))
    if untimed_class is None or [type(c) for c in pipeline.connectors] != [lean_piece]:
        return pipeline
    return untimed_class(pipeline.input_observation_space, pipeline.input_action_space, connectors=pipeline.connectors)
