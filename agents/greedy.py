"""Greedy play that cannot loop.

A greedy policy is deterministic, and so are the FaceFusion envs within an episode (the
camera augmentation is fixed per episode): once the policy comes back to an observation it
has seen, it takes the same action again and repeats the same cycle until the time limit,
which is a failure. Trained policies do this near the goal, hovering between two placements
instead of saying stop (BENCHMARKS.md, "Loop breaking"), and on faces unlike their training
faces (turned heads) they do it far more often ("Stop at a loop"). The Nature DQN paper
played its evaluation episodes with epsilon 0.05 for the same reason; here the way out is
deterministic, one of `LOOP_RULES`:

* `"stop"` (the default): at an observation seen before in the episode, say stop, where the
  env has a stop action (`stop_action(env)`), and take `"next"`'s way out where it has none.
  The policy has come back to a placement it reached before: its own fixed point, the best
  guess it will make, and the only way left to succeed.
* `"once"`: `"next"`'s way out at the episode's first repeated observation, stop at any later
  one: better than `"stop"` for half-trained policies on the faces they know, worse on faces
  they do not know (BENCHMARKS.md).
* `"next"`: take the policy's best action *not yet taken there* (its own ranking). On the
  faces it knows this often finds the goal; on faces it does not know it wanders from one
  cycle to the next until the time limit.
* `"off"`: the plain argmax, loops and all.

Where the policy never repeats itself every rule is plain greedy play.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

LOOP_RULES = ("stop", "once", "next", "off")


def stop_action(env) -> int | None:
    """The action by which `env` ends an episode by choice (FaceFusionEnv's `stop_action`);
    None for envs without one (CartPole)."""
    return getattr(getattr(env, "unwrapped", env), "stop_action", None)


def check_loop_rule(loops: str) -> str:
    if loops not in LOOP_RULES:
        raise ValueError(f"loops={loops!r}: expected one of {', '.join(LOOP_RULES)}")
    return loops


class LoopBreaker:
    """Per-episode memory of (observation, action) pairs; `choose` the best-scored action,
    or at an observation seen before: `stop` where given (rule "stop"; rule "once": from the
    second such observation on), else the best action not yet taken there (the best one when
    all have been: the time limit ends it)."""

    def __init__(self, rule: str = "stop"):
        self.rule = check_loop_rule(rule)
        self._taken: dict[bytes, set[int]] = {}
        self.breaks = 0  # times this episode that the greedy action was replaced
        self.repeats = 0  # observations met again this episode

    def reset(self) -> None:
        self._taken.clear()
        self.breaks = self.repeats = 0

    def choose(self, observation: np.ndarray, scores: np.ndarray, stop: int | None = None) -> int:
        ranked = [int(a) for a in np.argsort(-np.asarray(scores, np.float64), kind="stable")]
        if self.rule == "off":
            return ranked[0]
        key = hashlib.blake2b(np.ascontiguousarray(observation).tobytes(), digest_size=16).digest()
        taken = self._taken.setdefault(key, set())
        stop_here = self.rule == "stop" or (self.rule == "once" and self.repeats > 0)
        if taken and stop_here and stop is not None:
            action = stop
        else:
            action = next((a for a in ranked if a not in taken), ranked[0])
        self.breaks += action != ranked[0]
        self.repeats += bool(taken)
        taken.add(action)
        return action


class ScoredPolicy:
    """A `policy(observation, env) -> action` callable (as envs.baselines) over per-action scores
    (`scores(observations) -> (N, n_actions)`, higher is better: Q-values or advantages), greedy
    with the loop rule `loops` (one of LOOP_RULES). `reset()` starts an episode
    (envs.baselines.run_episode calls it)."""

    name = "policy"

    def __init__(self, scores: Callable[[np.ndarray], np.ndarray], loops: str = "stop"):
        self.scores = scores
        self.loops = LoopBreaker(loops)

    def reset(self) -> None:
        self.loops.reset()

    @property
    def breaks(self) -> int:
        """Greedy actions replaced in the current (or last) episode."""
        return self.loops.breaks

    @property
    def loop_rule(self) -> str:
        return self.loops.rule

    def __call__(self, observation, env) -> int:
        observation = np.asarray(observation)
        scores = np.asarray(self.scores(observation[None]))[0]
        return self.loops.choose(observation, scores, stop_action(env))


def module_scores(module) -> Callable[[np.ndarray], np.ndarray]:
    """Per-action scores of a DQN RLModule for a batch of observations, on its device: the
    fast path's `greedy_scores` (advantages with dueling heads: the Q-values' ranking), or
    RLlib's Q-values for its own modules."""
    import torch
    from ray.rllib.algorithms.dqn.dqn_learner import QF_PREDS
    from ray.rllib.core.columns import Columns

    def scores(observations: np.ndarray) -> np.ndarray:
        device = next(module.parameters()).device
        batch = {Columns.OBS: torch.from_numpy(np.ascontiguousarray(observations)).to(device)}
        if hasattr(module, "greedy_scores"):
            return module.greedy_scores(batch).cpu().numpy()
        with torch.no_grad():
            return module.compute_q_values(batch)[QF_PREDS].cpu().numpy()

    return scores
