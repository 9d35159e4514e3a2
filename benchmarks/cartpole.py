"""Env steps and wall seconds to greedy evaluation return >= 475 on CartPole-v1: our
`train.py` (RLlib DQN, tuned preset) with 0, 1 and 2 env runners vs stable-baselines3 DQN with
rl-baselines3-zoo's CartPole-v1 hyperparameters, same seeds, same run, same evaluation
protocol (5 greedy episodes every 1000 env steps).

    pip install -e ".[bench]"
    python benchmarks/cartpole.py --seeds 0 1 2 --runners 0 1 2 --out benchmarks/results/cartpole.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 475.0
MAX_STEPS = 100_000

# rl-baselines3-zoo hyperparams/dqn.yml, CartPole-v1
SB3_ZOO = dict(
    learning_rate=2.3e-3,
    batch_size=64,
    buffer_size=100_000,
    learning_starts=1000,
    gamma=0.99,
    target_update_interval=10,
    train_freq=256,
    gradient_steps=128,
    exploration_fraction=0.16,
    exploration_final_eps=0.04,
    policy_kwargs=dict(net_arch=[256, 256]),
)
SB3_ZOO_TIMESTEPS = 50_000


def run_ours(seed: int, runners: int, max_steps: int, max_minutes: float, config: str | None = None) -> dict:
    run_dir = Path(tempfile.mkdtemp(prefix="bench-cartpole-")) / "run"
    # one torch thread, as SB3 here (the learner's "auto" threads follow OMP_NUM_THREADS)
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "train.py",
        "--env",
        "CartPole-v1",
        "--stop-return",
        str(TARGET),
        "--stop-timesteps",
        str(max_steps),
        "--stop-minutes",
        str(max_minutes),
        "--num-env-runners",
        str(runners),
        "--seed",
        str(seed),
        "--run-dir",
        str(run_dir),
        "--checkpoint-every",
        "0",
        "--no-progress",
    ] + (["--config", config] if config else [])
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    result = json.loads((run_dir / "result.json").read_text())
    return {
        "impl": f"ours ({runners} runners{', ' + Path(config).stem if config else ''})",
        "seed": seed,
        "reached": result["stopped_because"] == "stop_return",
        "env_steps": result["env_steps"],
        "wall_seconds": result["wall_seconds"],
    }


def run_sb3(seed: int, max_steps: int) -> dict:
    import gymnasium as gym
    import numpy as np
    import torch
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback

    torch.set_num_threads(1)

    class EvalStop(BaseCallback):
        def __init__(self):
            super().__init__()
            self.eval_env = gym.make("CartPole-v1")
            self.reached_at = None

        def _on_step(self) -> bool:
            if self.num_timesteps % 1000:
                return True
            returns = []
            for k in range(5):
                obs, _ = self.eval_env.reset(seed=seed * 1000 + self.num_timesteps + k)
                done, total = False, 0.0
                while not done:
                    action, _ = self.model.predict(obs, deterministic=True)
                    obs, r, term, trunc, _ = self.eval_env.step(action)
                    total += r
                    done = term or trunc
                returns.append(total)
            if np.mean(returns) >= TARGET:
                self.reached_at = self.num_timesteps
                return False
            return True

    t0 = time.time()
    model = DQN("MlpPolicy", gym.make("CartPole-v1"), seed=seed, verbose=0, **SB3_ZOO)
    callback = EvalStop()
    model.learn(total_timesteps=max_steps, callback=callback)
    return {
        "impl": "sb3 (zoo)",
        "seed": seed,
        "reached": callback.reached_at is not None,
        "env_steps": callback.reached_at or model.num_timesteps,
        "wall_seconds": round(time.time() - t0, 2),
    }


def partial(out: str, rows: list) -> None:
    """Rows so far, so an interrupted run still leaves its data."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({"rows": rows, "complete": False}, indent=2))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--runners", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", default="benchmarks/results/cartpole.json")
    p.add_argument("--max-steps", type=int, default=MAX_STEPS, help="give up on a run after this many env steps")
    p.add_argument("--max-minutes", type=float, default=30.0, help="give up on one of our runs after this long")
    p.add_argument(
        "--configs",
        nargs="+",
        default=[None],
        help="train.py --config JSON files: our runs with each (a preset variant), beside the preset itself "
        "when 'preset' is one of them (default: the preset alone)",
    )
    p.add_argument("--no-sb3", action="store_true", help="our runs only (preset sweeps)")
    args = p.parse_args()
    rows = []
    for seed in args.seeds:  # interleaved, so machine load affects every contender alike
        if not args.no_sb3:
            rows.append(run_sb3(seed, args.max_steps))
            print(rows[-1], flush=True)
            partial(args.out, rows)
        for runners in args.runners:
            for config in args.configs:
                config = None if config in (None, "preset") else config
                rows.append(run_ours(seed, runners, args.max_steps, args.max_minutes, config))
                print(rows[-1], flush=True)
                partial(args.out, rows)
    write_summary(args.out, rows)


def write_summary(out: str, rows: list) -> None:
    """Medians per contender (runs that missed 475 count with the steps and time they used),
    the wall-time ratio to SB3, as JSON and a Markdown table."""
    summary = {}
    for impl in dict.fromkeys(r["impl"] for r in rows):
        rs = [r for r in rows if r["impl"] == impl]
        summary[impl] = {
            "reached": sum(r["reached"] for r in rs),
            "runs": len(rs),
            "median_env_steps": statistics.median(r["env_steps"] for r in rs),
            "median_wall_seconds": statistics.median(r["wall_seconds"] for r in rs),
        }
    sb3 = summary.get("sb3 (zoo)", {}).get("median_wall_seconds")
    for s in summary.values():
        s["wall_ratio_vs_sb3"] = round(s["median_wall_seconds"] / sb3, 2) if sb3 else None
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({"rows": rows, "summary": summary, "complete": True}, indent=2))
    print("| implementation | reached 475 | median env steps | median wall s | wall ratio vs SB3 |")
    print("|---|---|---|---|---|")
    for impl, s in summary.items():
        print(
            f"| {impl} | {s['reached']}/{s['runs']} | {s['median_env_steps']:.0f} | "
            f"{s['median_wall_seconds']:.1f} | {s['wall_ratio_vs_sb3'] or '-'} |"
        )


if __name__ == "__main__":
    main()
