"""FaceFusionEnv step throughput vs the bare cost of its core work (one warp + one alpha
composite at the observation size), measured interleaved in one process so the ratio holds
on a noisy machine.

    python benchmarks/env_step.py [--obs-size 84] [--steps 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import cv2
import gymnasium as gym
import numpy as np

import envs  # noqa: F401
from envs import fusion


def time_per_call(fn, n: int, clock=time.perf_counter) -> float:
    t0 = clock()
    for _ in range(n):
        fn()
    return (clock() - t0) / n


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--obs-size", type=int, default=84)
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    cv2.setNumThreads(1)

    env = gym.make("FaceFusion-v0", obs_size=args.obs_size)  # registered wrappers included
    bare_env = env.unwrapped
    env.reset(seed=0)
    counter = iter(range(10**9))

    def env_step():
        _, _, terminated, truncated, _ = env.step(next(counter) % 6)
        if terminated or truncated:
            env.reset()

    size = (args.obs_size, args.obs_size)
    pair = np.ascontiguousarray(bare_env._face_obs(0))
    target = np.ascontiguousarray(bare_env._face_obs(0)[..., 0])
    # a typical step's placement: scaled about the centre and shifted, as the env displaces a face
    matrix = fusion.displaced(np.eye(2, 3), (args.obs_size / 2, args.obs_size / 2), 1.03, (1.5, -2.0))

    def bare():
        warped = cv2.warpAffine(pair, matrix, size)
        return fusion.alpha_composite(target, warped[..., 0], warped[..., 1])

    # wall clock, and this process's CPU time (less sensitive to other load on a shared machine)
    steps, bares, cpu_steps, cpu_bares = [], [], [], []
    for _ in range(args.rounds):
        bares.append(time_per_call(bare, args.steps))
        steps.append(time_per_call(env_step, args.steps))
        cpu_bares.append(time_per_call(bare, args.steps, time.process_time))
        cpu_steps.append(time_per_call(env_step, args.steps, time.process_time))
    step_s, bare_s = statistics.median(steps), statistics.median(bares)
    ratios = [s / b for s, b in zip(steps, bares)]
    print(
        json.dumps(
            {
                "obs_size": args.obs_size,
                "env_steps_per_s": round(1 / step_s),
                "bare_warp_composite_per_s": round(1 / bare_s),
                "env_step_us": round(step_s * 1e6, 1),
                "bare_us": round(bare_s * 1e6, 1),
                "ratio_median": round(statistics.median(ratios), 2),
                "ratios": [round(r, 2) for r in ratios],
                "cpu_env_steps_per_s": round(1 / statistics.median(cpu_steps)),
                "cpu_bare_per_s": round(1 / statistics.median(cpu_bares)),
                "cpu_ratio_median": round(statistics.median(cpu_steps) / statistics.median(cpu_bares), 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
