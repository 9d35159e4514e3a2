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


def run_episode(env, policy, *, seed: int | None = None, options: dict | None = None, record: bool = False) -> dict:
    """Roll out one episode; returns the final info, return, step count (and frames). A policy
    with memory of the episode (a `reset()` method) is reset first."""
    if hasattr(policy, "reset"):
        policy.reset()
    obs, info = env.reset(seed=seed, options=options)
    frames = [_frame(env)] if record else None
    total, steps, done = 0.0, 0, False
    while not done:
        obs, reward, terminated, truncated, info = env.step(policy(obs, env))
        total += reward
        steps += 1
        done = terminated or truncated
        if record:
            frames.append(_frame(env))
    return {"return": total, "steps": steps, "info": info, "frames": frames}


def _frame(env):
    """The fused image, with the boxes drawn when the env renders rgb_array."""
    return env.render() if env.unwrapped.render_mode == "rgb_array" else env.unwrapped.fused_image()


class LandmarkPolicy:
    """Classical one-shot alignment, no RL: detect landmarks on the target photo and on the
    source face at observation resolution (what the agent sees), fit a similarity transform
    between their keypoints, put the face there, stop. Takes one step; fails where detection
    fails. In "self" mode source and target are one photo, so it is exact by construction;
    "swap" mode is where it is informative."""

    name = "landmark"

    def __init__(self, backend: str = "auto"):
        self.backend = backend
        self._placed_episode = None

    def _keypoints(self, image: np.ndarray, size: int) -> np.ndarray | None:
        import cv2

        from envs.faces.detect import detect
        from envs.faces.geometry import keypoints

        small = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        found = detect(small, self.backend)
        return None if found is None else keypoints(found.landmarks) * (image.shape[0] / size)

    def __call__(self, observation, env) -> int:
        from envs import fusion
        from envs.face_fusion import STOP

        u = env.unwrapped
        src = self._keypoints(u.faces.images[u.source_index], u.obs_size)
        dst = self._keypoints(u.faces.images[u.target_index], u.obs_size)
        if src is not None and dst is not None:
            u.place(fusion.estimate_similarity(src, dst))
        return STOP
