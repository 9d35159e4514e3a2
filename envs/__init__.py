"""Gymnasium environments for RL face fusion. Importing this package registers them:

import gymnasium as gym
import envs  # noqa: F401
env = gym.make("FaceFusion-v0")            # or gym.make("envs:FaceFusion-v0") without the import
"""

from gymnasium.envs.registration import register, registry

MAX_EPISODE_STEPS = 50

ENV_IDS = {"FaceFusion-v0": {"mode": "self"}, "FaceFusionSwap-v0": {"mode": "swap"}}

for _env_id, _kwargs in ENV_IDS.items():
    if _env_id not in registry:
        register(
            id=_env_id,
            entry_point="envs.face_fusion:FaceFusionEnv",
            max_episode_steps=MAX_EPISODE_STEPS,
            kwargs=_kwargs,
        )


def __getattr__(name):  # lazy: `import envs` must stay cheap for registration
    if name == "FaceFusionEnv":
        from envs.face_fusion import FaceFusionEnv

        return FaceFusionEnv
    raise AttributeError(name)


__all__ = ["ENV_IDS", "FaceFusionEnv", "MAX_EPISODE_STEPS"]
