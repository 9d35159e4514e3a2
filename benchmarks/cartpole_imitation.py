"""CartPole-v1 without RL: the classic tutorial baseline of imitating lucky random games.

    python benchmarks/cartpole_imitation.py --seeds 0 1 2 --out benchmarks/results/cartpole_imitation.json

Per seed: play `--games` random games (uniform actions), keep those whose return reaches
`--score-threshold`, train a small classifier (scikit-learn MLP, 2 x 128 hidden units) on their
(observation, action) pairs, then play `--eval-episodes` greedy episodes with it (the action
it rates most likely). Reports the env steps of the random games (the only samples it uses),
wall and CPU seconds for collect + train (CPU time is what to compare on a shared machine), and the greedy return, per seed and summarised. Compare
with RLlib DQN and stable-baselines3 in BENCHMARKS.md's CartPole section (env steps and wall
time to a greedy return of 475).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np


def collect(
    env: gym.Env, games: int, threshold: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Random games; (observations, actions) of those with return >= threshold, and counts."""
    obs_kept, act_kept, steps, returns = [], [], 0, []
    for _ in range(games):
        obs, _ = env.reset(seed=int(rng.integers(2**31)))
        episode_obs, episode_act, done = [], [], False
        while not done:
            action = int(rng.integers(2))
            episode_obs.append(obs)  # the observation the action was chosen on
            episode_act.append(action)
            obs, reward, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
        steps += len(episode_act)
        returns.append(len(episode_act))  # reward 1 per step
        if len(episode_act) >= threshold:
            obs_kept += episode_obs
            act_kept += episode_act
    if not act_kept:
        raise ValueError(f"no random game reached --score-threshold {threshold} in {games} games")
    stats = {
        "env_steps": steps,
        "games": games,
        "kept_games": int(sum(r >= threshold for r in returns)),
        "pairs": len(act_kept),
        "random_mean_return": float(np.mean(returns)),
    }
    return np.array(obs_kept, np.float32), np.array(act_kept), stats


def greedy_returns(env: gym.Env, model, episodes: int, seed: int) -> list[float]:
    out = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(int(model.predict(obs[None])[0]))
            total += reward
            done = terminated or truncated
        out.append(total)
    return out


def run(seed: int, games: int, threshold: float, eval_episodes: int) -> dict:
    from sklearn.neural_network import MLPClassifier

    env = gym.make("CartPole-v1")
    t0, c0 = time.perf_counter(), time.process_time()
    x, y, stats = collect(env, games, threshold, np.random.default_rng(seed))
    model = MLPClassifier(hidden_layer_sizes=(128, 128), max_iter=200, early_stopping=True, random_state=seed)
    model.fit(x, y)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    returns = greedy_returns(env, model, eval_episodes, seed=10_000 + 100 * seed)
    env.close()
    return {
        "seed": seed,
        **stats,
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "greedy_mean_return": float(np.mean(returns)),
        "greedy_returns": returns,
        "train_accuracy": float(model.score(x, y)),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--games", type=int, default=10_000, help="random games per seed (the tutorial's 10,000)")
    ap.add_argument("--score-threshold", type=float, default=50, help="keep random games with return >= this")
    ap.add_argument("--eval-episodes", type=int, default=10, help="greedy episodes per seed")
    ap.add_argument("--out", default=None, help="JSON file for the rows and summary")
    a = ap.parse_args(argv)
    rows = []
    for seed in a.seeds:
        rows.append(run(seed, a.games, a.score_threshold, a.eval_episodes))
        r = rows[-1]
        print(
            f"seed {seed}: {r['env_steps']:,} env steps ({r['kept_games']}/{r['games']} games kept, "
            f"{r['pairs']:,} pairs), {r['wall_seconds']:.1f} s ({r['cpu_seconds']:.1f} s CPU), greedy return {r['greedy_mean_return']:.1f}",
            flush=True,
        )
    summary = {
        k: statistics.median(r[k] for r in rows)
        for k in ("env_steps", "wall_seconds", "cpu_seconds", "greedy_mean_return")
    }
    summary["reached_475"] = sum(r["greedy_mean_return"] >= 475 for r in rows)
    print(
        f"median: {summary['env_steps']:,.0f} env steps, {summary['wall_seconds']:.1f} s, greedy return "
        f"{summary['greedy_mean_return']:.1f}; {summary['reached_475']}/{len(rows)} seeds >= 475"
    )
    if a.out:
        path = Path(a.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        command = "python benchmarks/cartpole_imitation.py " + " ".join(sys.argv[1:] if argv is None else argv)
        tmp.write_text(
            json.dumps({"command": command, "settings": vars(a), "rows": rows, "summary": summary}, indent=2)
        )
        tmp.replace(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
