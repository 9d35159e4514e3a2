"""Baseline policies for FaceFusionEnv, with one signature: `policy(observation, env) -> action`."""
from __future__ import annotations

import numpy as np


class RandomPolicy:
    """Uniformly random actions (stop included), seeded."""

    name = "random"

    def __init__(self, seed: int | None = None):
        self.rng = np.random.default_rng(seed)

    def __call__(self, observation, env) -> int:
        return int(self.rng.integers(env.action_space.n))


class OraclePolicy:
    """Greedy on the ground truth; the optimum the learned policy is measured against."""

    name = "oracle"

    def __call__(self, observation, env) -> int:
        return env.unwrapped.oracle_action()


def run_episode(env, policy, *, seed: int | None = None, options: dict | None = None,
                record: bool = False) -> dict:
    """Roll out one episode; returns the final info, return, step count (and frames)."""
    obs, info = env.reset(seed=seed, options=options)
    frames = [env.unwrapped.fused_image()] if record else None
    total, steps, done = 0.0, 0, False
    while not done:
        obs, reward, terminated, truncated, info = env.step(policy(obs, env))
        total += reward
        steps += 1
        done = terminated or truncated
        if record:
            frames.append(env.unwrapped.fused_image())
    return {"return": total, "steps": steps, "info": info, "frames": frames}
