"""Greedy validation of the learner's current policy on a fixed set of episodes.

Why not RLlib's evaluation: it plays fresh random episodes each time, so two evaluations of
40 episodes differ by +-0.1 in success from chance alone, and choosing a best checkpoint on
that is luck. Here every validation plays the *same* episodes (same faces, same start
placements: env seeds `seed, seed + 1, ...`) on the validation faces, so two checkpoints are
compared on equal terms, and 100 episodes tell 0.85 from 0.95. The envs are stepped together
and the Q-network sees them as one batch, so a validation costs ~1-2 s on one core. The
policy plays as `agents.evaluate` plays it: greedily, stopped at a loop (agents.greedy).
Held-out faces are never used here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from agents.greedy import LoopBreaker, module_scores, stop_action


def play_greedy(
    act: Callable[[np.ndarray], np.ndarray], envs: list, seeds: list[int], loops: str = "stop"
) -> list[dict]:
    """Play one episode per seed, `len(envs)` episodes at a time, with `act(observations)` (a
    batch in): either actions (N,), played as given, or per-action scores (N, n_actions),
    played greedily with the loop rule `loops` (agents.greedy.LOOP_RULES).
    Returns, per seed, the final info plus `steps`, `return` and, for scores, `loop_breaks`."""
    out: list[dict] = []
    breakers = [LoopBreaker(loops) for _ in envs]
    for start in range(0, len(seeds), len(envs)):
        chunk = seeds[start : start + len(envs)]
        live = list(range(len(chunk)))
        obs = [envs[i].reset(seed=int(s))[0] for i, s in enumerate(chunk)]
        for breaker in breakers:
            breaker.reset()
        results: list[dict | None] = [None] * len(chunk)
        steps, returns = [0] * len(chunk), [0.0] * len(chunk)
        while live:
            answer = np.asarray(act(np.stack([obs[i] for i in live])))
            scored = answer.ndim == 2
            if scored:
                actions = [breakers[i].choose(obs[i], row, stop_action(envs[i])) for i, row in zip(live, answer)]
            else:
                actions = answer
            still = []
            for i, action in zip(live, actions):
                obs[i], reward, terminated, truncated, info = envs[i].step(int(action))
                steps[i] += 1
                returns[i] += float(reward)
                if terminated or truncated:
                    results[i] = {**info, "steps": steps[i], "return": returns[i]}
                    if scored and loops != "off":
                        results[i]["loop_breaks"] = breakers[i].breaks
                else:
                    still.append(i)
            live = still
        out.extend(results)
    return out


def summarize_episodes(finals: list[dict]) -> dict[str, float]:
    """Mean of the per-episode numbers the reports use (success only where the env reports it)."""
    summary = {
        "episodes": len(finals),
        "mean_return": float(np.mean([f["return"] for f in finals])),
        "mean_steps": float(np.mean([f["steps"] for f in finals])),
    }
    for key, name in (
        ("success", "success_rate"),
        ("position_error_px", "mean_position_error_px"),
        ("scale_error", "mean_scale_error"),
        ("iou", "mean_iou"),
        ("loop_breaks", "mean_loop_breaks"),
    ):
        if all(key in f for f in finals):
            summary[name] = float(np.mean([f[key] for f in finals]))
    return summary


# Keys of the training env_config that validation leaves out: it measures placement only (no
# realism critic to load), on the validation faces, from the plain start distribution (the
# preset's `validation.env_config` may put some back, e.g. the camera augmentation).
NOT_VALIDATED = ("realism_checkpoint", "realism_weight", "realism_fn", "aligned_start_prob", "augment", "split")


def policy_env_config(preset: dict, env_config: dict | None) -> dict:
    """The env settings a trained policy depends on: the preset's env_config with the run's
    over it (faces, mode, sizes, observation channels...), minus what is training-only. Saved in
    run.json so that evaluation rebuilds the same observation whatever the preset says later."""
    merged = {**preset.get("env_config", {}), **(env_config or {})}
    return {k: v for k, v in merged.items() if k not in NOT_VALIDATED}


def validation_env_config(preset: dict, env_config: dict | None) -> dict:
    """The env_config validation plays: `policy_env_config`, plus the preset's
    `validation.env_config` (split="validation" by default)."""
    base = policy_env_config(preset, env_config)
    return {"split": "validation", **base, **preset.get("validation", {}).get("env_config", {})}


VALIDATION_SEED = 20_000  # env seed of the first validation episode (then +1, +2, ...)


def oracle_mean_steps(env, seeds: list[int]) -> float | None:
    """Mean steps of the env's oracle (`oracle_action`, greedy on the ground truth) on these
    episodes, or None for envs without one: the yardstick of a policy's steps."""
    if not hasattr(env.unwrapped, "oracle_action"):
        return None
    finals = play_greedy(lambda o: np.array([env.unwrapped.oracle_action()]), [env], seeds)
    return float(np.mean([f["steps"] for f in finals]))


class Validator:
    """Plays `episodes` fixed greedy episodes on envs made by `make_env()`, `batch` at a time.
    Where the env has an oracle, its mean steps on the same episodes are measured once, and each
    validation reports `steps_over_oracle`: a policy that reaches the face but hesitates to say
    stop shows there first (on real photos it is the usual failure)."""

    def __init__(self, make_env: Callable[[], Any], episodes: int = 100, seed: int = VALIDATION_SEED, batch: int = 50):
        if episodes < 1:
            raise ValueError(f"validation episodes must be >= 1, got {episodes}")
        self.seeds = [seed + i for i in range(episodes)]
        self.envs = [make_env() for _ in range(min(batch, episodes))]
        self.oracle_steps = oracle_mean_steps(self.envs[0], self.seeds)

    @classmethod
    def from_section(cls, make_env: Callable[[], Any], section: dict) -> Validator:
        """The Validator a preset's `validation` section asks for (`episodes`, `seed`)."""
        return cls(make_env, episodes=int(section.get("episodes", 100)), seed=int(section.get("seed", VALIDATION_SEED)))

    def __call__(self, module) -> dict[str, float]:
        was_training = module.training
        module.eval()
        try:
            return self.score(module_scores(module))
        finally:
            module.train(was_training)

    def score(self, act: Callable[[np.ndarray], np.ndarray], loops: str = "stop") -> dict[str, float]:
        """Validation metrics of any batch actor (RLlib module, stable-baselines3 model...):
        actions, or per-action scores played greedily with the loop rule `loops` (`play_greedy`)."""
        metrics = summarize_episodes(play_greedy(act, self.envs, self.seeds, loops))
        if self.oracle_steps:
            metrics["steps_over_oracle"] = metrics["mean_steps"] / self.oracle_steps
        return metrics

    def close(self) -> None:
        for env in self.envs:
            env.close()


def learner_module(algo, observation_space, action_space):
    """A copy of the policy's RLModule holding the learner's current weights (the env runners'
    copies may lag behind when weights are synced less often than every step)."""
    from ray.rllib.core import DEFAULT_MODULE_ID

    module = getattr(algo, "_validation_module", None)
    if module is None:
        spec = algo.config.get_rl_module_spec(
            spaces={DEFAULT_MODULE_ID: (observation_space, action_space)}, inference_only=True
        )
        module = algo._validation_module = spec.build()
    module.set_state(algo.learner_group.get_weights([DEFAULT_MODULE_ID])[DEFAULT_MODULE_ID])
    return module
