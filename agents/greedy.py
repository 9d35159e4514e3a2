"""Greedy play that cannot loop.

A greedy policy is deterministic, and so are the FaceFusion envs within an episode (the
camera augmentation is fixed per episode): once the policy comes back to an observation it
has seen, it takes the same action again and repeats the same cycle until the time limit.
Trained policies do this near the goal, hovering between two placements instead of saying
stop: every time-out of the swap policies on the validation faces was such a cycle
(BENCHMARKS.md, "Loop breaking"). The Nature DQN paper played its evaluation episodes with
epsilon 0.05 for the same reason; here the way out is deterministic: at an observation seen
before in the episode, take the policy's best action *not yet taken there* (its own ranking
of the actions). Where the policy never repeats itself this is exactly greedy play.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np


class LoopBreaker:
    """Per-episode memory of (observation, action) pairs; `choose` the best-scored action not
    yet taken at this observation (the best one when all have been: the time limit ends it)."""

    def __init__(self):
        self._taken: dict[bytes, set[int]] = {}
        self.breaks = 0  # times this episode that the greedy action was replaced

    def reset(self) -> None:
        self._taken.clear()
        self.breaks = 0

    def choose(self, observation: np.ndarray, scores: np.ndarray) -> int:
        key = hashlib.blake2b(np.ascontiguousarray(observation).tobytes(), digest_size=16).digest()
        taken = self._taken.setdefault(key, set())
        ranked = [int(a) for a in np.argsort(-np.asarray(scores, np.float64), kind="stable")]
        action = next((a for a in ranked if a not in taken), ranked[0])
        self.breaks += action != ranked[0]
        taken.add(action)
        return action


class ScoredPolicy:
    """A `policy(observation, env) -> action` callable (as envs.baselines) over per-action scores
    (`scores(observations) -> (N, n_actions)`, higher is better: Q-values or advantages), greedy
    with loop breaking unless `break_loops=False`. `reset()` starts an episode
    (envs.baselines.run_episode calls it)."""

    name = "policy"

    def __init__(self, scores: Callable[[np.ndarray], np.ndarray], break_loops: bool = True):
        self.scores, self.break_loops = scores, bool(break_loops)
        self.loops = LoopBreaker()

    def reset(self) -> None:
        self.loops.reset()

    @property
    def breaks(self) -> int:
        """Greedy actions replaced in the current (or last) episode."""
        return self.loops.breaks

    def __call__(self, observation, env) -> int:
        observation = np.asarray(observation)
        scores = np.asarray(self.scores(observation[None]))[0]
        return self.loops.choose(observation, scores) if self.break_loops else int(np.argmax(scores))


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
