"""A transition replay buffer in preallocated numpy arrays, for `replay_buffer_config["type"]`.

Why: RLlib 2.60's `PrioritizedEpisodeReplayBuffer` deep-copies every episode chunk on `add`
and builds one `SingleAgentEpisode` per sampled transition (an `lfilter` call each), which
the learner connector then turns back into a batch: most of a DQN update's ~28 ms. Here:

- every observation is written once into a ring of `capacity` slots (uint8 images stay
  uint8); a transition is the slot of `o_t` plus the slot of `o_(t+k)`, so there is no
  second `next_obs` copy. An episode's final observation takes a slot that starts no
  transition.
- n-step returns are computed on insert: `sum_j gamma^j r_(t+j)` over `k = n` steps, or
  fewer where the episode ended (terminated: no bootstrap; truncated: bootstrap from the
  final observation). RLlib's buffer never samples the last `n - 1` steps of an episode;
  this one does, with the shorter `k` (the loss discounts by `gamma ** k`, per transition).
  The last `n - 1` steps of a running episode wait for its next chunk.
- optional proportional prioritised sampling with a sum tree (Schaul et al. 2016): new
  transitions get the maximum priority seen, `update_priorities` sets `(|td| + eps)^alpha`,
  importance weights `(P(i) N)^-beta` divided by their largest possible value, as RLlib.
- `sample` returns a dict of numpy arrays with RLlib's column names, ready for the learner.
- optional mirror augmentation (`mirror_actions`, for image observations of an env whose rules
  are left-right symmetric, e.g. envs.face_fusion.MIRROR_ACTIONS): each sampled transition
  is, with probability 1/2, returned mirrored: both observations flipped left-right and the
  action replaced by its mirror. Twice the distinct data for the same env steps.
- optional `device` (e.g. "cuda"): the observations live in a torch tensor there, and `sample`
  returns `obs` / `next_obs` as tensors on it (gathered and mirrored there). For a learner in
  the same process on that device (agents.fast_dqn: a local GPU learner): replaying images
  from host memory (a gather, the mirror copy and the host-to-device copy of ~170 MB per
  learner call at batch 512 x 8) took most of the driver's time on a GPU node.

Eviction is FIFO by observation slot. A transition's next observation is always written
after its first one, so it is overwritten after it too: no transition points at a slot
that was reused (an overwritten slot's transition is invalidated first).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from ray.rllib.core.columns import Columns

# Columns of a sampled batch, beyond RLlib's Columns.*: what DQNTorchLearner reads.
N_STEP = "n_step"
WEIGHTS = "weights"
INDICES = "indices"  # slot ids, to hand back with the TD errors


class SumTree:
    """Sum and min over `capacity` non-negative leaves, updated and searched in batches."""

    def __init__(self, capacity: int):
        self.size = 1 << max(1, int(capacity - 1).bit_length())  # leaves: a power of two
        self.sum = np.zeros(2 * self.size, dtype=np.float64)
        self.min = np.full(2 * self.size, np.inf, dtype=np.float64)

    def set(self, leaves: np.ndarray, values: np.ndarray) -> None:
        pos = np.asarray(leaves, dtype=np.int64) + self.size
        values = np.asarray(values, dtype=np.float64)
        self.sum[pos] = values
        self.min[pos] = np.where(values > 0, values, np.inf)
        pos = np.unique(pos >> 1)
        while True:
            left, right = 2 * pos, 2 * pos + 1
            self.sum[pos] = self.sum[left] + self.sum[right]
            self.min[pos] = np.minimum(self.min[left], self.min[right])
            if pos[0] == 1:
                return
            pos = np.unique(pos >> 1)

    @property
    def total(self) -> float:
        return float(self.sum[1])

    @property
    def min_positive(self) -> float:
        return float(self.min[1])

    def leaves(self) -> np.ndarray:
        return self.sum[self.size :]

    def find(self, prefix_sums: np.ndarray) -> np.ndarray:
        """Leaf index per prefix sum: the first leaf whose cumulative sum exceeds it."""
        u = np.array(prefix_sums, dtype=np.float64)
        pos = np.ones(len(u), dtype=np.int64)
        while pos[0] < self.size:
            left = 2 * pos
            left_sum = self.sum[left]
            go_right = u >= left_sum
            u -= np.where(go_right, left_sum, 0.0)
            pos = left + go_right
        return pos - self.size


class HostObservations:
    """The buffer's observations, one per slot, in a numpy array (host memory)."""

    def __init__(self, capacity: int, example: np.ndarray):
        self.data = np.zeros((capacity, *example.shape[1:]), dtype=example.dtype)

    @property
    def nbytes_per_slot(self) -> int:
        return self.data[0].nbytes

    def write(self, slots: np.ndarray, obs: np.ndarray) -> None:
        self.data[slots] = obs

    def gather(self, slots: np.ndarray):
        return self.data[slots]

    def flip(self, batch, mask: np.ndarray) -> None:
        """Flip the masked items of a gathered (N, H, W, C) batch left-right, in place."""
        batch[mask] = batch[mask, :, ::-1]

    def numpy(self, n: int) -> np.ndarray:
        return self.data[:n].copy()

    def load(self, array: np.ndarray) -> None:
        self.data[: len(array)] = array


class DeviceObservations(HostObservations):
    """The same in a torch tensor on `device` (a local GPU learner's): gathering and mirroring
    happen there, and replayed images never cross to the host."""

    def __init__(self, capacity: int, example: np.ndarray, device):
        self.device = torch.device(device)
        dtype = torch.from_numpy(np.zeros(1, dtype=example.dtype)).dtype
        self.data = torch.zeros((capacity, *example.shape[1:]), dtype=dtype, device=self.device)

    def _index(self, index: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(index).to(self.device, non_blocking=True)

    def write(self, slots: np.ndarray, obs: np.ndarray) -> None:
        self.data[self._index(slots)] = torch.from_numpy(np.ascontiguousarray(obs)).to(self.device)

    def gather(self, slots: np.ndarray) -> torch.Tensor:
        return self.data[self._index(slots)]

    def flip(self, batch: torch.Tensor, mask: np.ndarray) -> None:
        on = self._index(mask)
        batch[on] = batch[on].flip(2)

    def numpy(self, n: int) -> np.ndarray:
        return self.data[:n].cpu().numpy()

    def load(self, array: np.ndarray) -> None:
        self.data[: len(array)] = torch.from_numpy(array).to(self.device)


class TransitionReplayBuffer:
    """n-step transitions in numpy rings; uniform or prioritised (`prioritized=True`) sampling.

    Built by RLlib's `from_config` from `replay_buffer_config` (`FastDQN` adds `n_step`
    and `gamma` from the algorithm config). Unknown keys RLlib passes are ignored.
    """

    def __init__(
        self,
        capacity: int = 50_000,
        *,
        n_step: int = 1,
        gamma: float = 0.99,
        prioritized: bool = True,
        alpha: float = 0.6,
        beta: float = 0.4,
        epsilon: float = 1e-6,
        seed: int | None = None,
        mirror_actions: list[int] | tuple[int, ...] | None = None,
        device: str | None = None,
        **_rllib_kwargs: Any,
    ):
        if isinstance(n_step, (tuple, list)):
            raise TypeError(
                f"TransitionReplayBuffer: n_step must be an integer (returns are computed on "
                f"insert), got the range {list(n_step)}"
            )
        if int(n_step) < 1 or int(capacity) < 2:
            raise ValueError(f"TransitionReplayBuffer: need n_step >= 1 and capacity >= 2, got {n_step}, {capacity}")
        self.capacity = int(capacity)
        self.n_step = int(n_step)
        self.gamma = float(gamma)
        self.prioritized = bool(prioritized)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.epsilon = float(epsilon)
        self.rng = np.random.default_rng(seed)
        self.mirror = None if mirror_actions is None else np.asarray(mirror_actions, dtype=np.int64)
        if self.mirror is not None and sorted(self.mirror.tolist()) != list(range(len(self.mirror))):
            raise ValueError(
                f"TransitionReplayBuffer: mirror_actions must be a permutation of 0..n-1, got {mirror_actions}"
            )
        self.device = None if device is None else torch.device(device)
        self._obs: HostObservations | None = None  # allocated on the first add (shape/dtype from the data)
        self._actions: np.ndarray | None = None
        cap = self.capacity
        self._rewards = np.zeros(cap, dtype=np.float32)  # n-step discounted return
        self._next = np.zeros(cap, dtype=np.int64)  # slot of o_(t+k)
        self._n = np.zeros(cap, dtype=np.float32)  # k
        self._terminated = np.zeros(cap, dtype=bool)
        self._valid = np.zeros(cap, dtype=bool)  # slot starts a finished transition
        self._tree = SumTree(cap) if self.prioritized else None
        self._max_priority = 1.0
        self._written = 0  # observations written, ever (slot = position % capacity)
        self._num_valid = 0
        self._added_steps = 0
        # episode id -> (positions of pending o_t plus the latest observation, their rewards, actions)
        self._pending: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    # -- adding -------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Transitions that can be sampled."""
        return self._num_valid

    def get_num_timesteps(self) -> int:
        return self._num_valid

    def add(self, episodes) -> None:
        """Add SingleAgentEpisode chunks (in the order the env runners produced them)."""
        if not isinstance(episodes, (list, tuple)):
            episodes = [episodes]
        for episode in episodes:
            actions = np.asarray(episode.get_actions())
            if len(actions) == 0:
                continue
            self._add_chunk(
                episode.id_,
                np.asarray(episode.get_observations()),
                actions,
                np.asarray(episode.get_rewards(), dtype=np.float64),
                bool(episode.is_terminated),
                bool(episode.is_done),
            )

    def _allocate(self, obs: np.ndarray, actions: np.ndarray) -> None:
        if self.device is None:
            self._obs = HostObservations(self.capacity, obs)
        else:
            self._obs = DeviceObservations(self.capacity, obs, self.device)
        self._actions = np.zeros((self.capacity, *actions.shape[1:]), dtype=actions.dtype)

    def _write_obs(self, obs: np.ndarray) -> np.ndarray:
        """Write observations into the next slots (invalidating what was there); their positions."""
        positions = np.arange(self._written, self._written + len(obs), dtype=np.int64)
        slots = positions % self.capacity
        self._invalidate(slots)
        self._obs.write(slots, obs)
        self._written += len(obs)
        return positions

    def _invalidate(self, slots: np.ndarray) -> None:
        was = self._valid[slots]
        if was.any():
            self._num_valid -= int(was.sum())
            self._valid[slots] = False
            if self._tree is not None:
                self._tree.set(slots[was], np.zeros(int(was.sum())))

    def _add_chunk(self, eid, obs, actions, rewards, terminated: bool, done: bool) -> None:
        if self._obs is None:
            self._allocate(obs, actions)
        self._added_steps += len(actions)
        pending = self._pending.pop(eid, None)
        if pending is not None and pending[0][0] < self._written - self.capacity:
            pending = None  # its oldest observation was overwritten (e.g. a runner died mid-episode)
        if pending is None:  # a new episode (or one we lost): its first observation too
            positions = self._write_obs(obs)
            rewards_all, actions_all = rewards, actions
        else:  # the chunk's first observation is the pending one's last
            positions = np.concatenate([pending[0], self._write_obs(obs[1:])])
            rewards_all = np.concatenate([pending[1], rewards])
            actions_all = np.concatenate([pending[2], actions])
        steps = len(rewards_all)
        n = self.n_step
        ready = steps if done else max(steps - n + 1, 0)  # transitions whose window is complete
        if ready:
            i = np.arange(ready)
            k = np.minimum(n, steps - i)
            padded = np.concatenate([rewards_all, np.zeros(n)])
            ret = np.zeros(ready)
            for j in range(n):
                ret += self.gamma**j * padded[i + j] * (j < k)
            slots = positions[:ready] % self.capacity
            self._actions[slots] = actions_all[:ready]
            self._rewards[slots] = ret
            self._next[slots] = positions[i + k] % self.capacity
            self._n[slots] = k
            self._terminated[slots] = terminated & (i + k == steps)
            self._valid[slots] = True
            self._num_valid += ready
            if self._tree is not None:
                self._tree.set(slots, np.full(ready, self._max_priority**self.alpha))
        if not done:
            self._pending[eid] = (positions[ready:], rewards_all[ready:], actions_all[ready:])

    # -- sampling -----------------------------------------------------------------------------

    def sample(self, num_items: int, *, beta: float | None = None, **_ignored) -> dict[str, np.ndarray]:
        """`num_items` transitions as numpy columns: obs, next_obs, actions, rewards (n-step),
        terminateds, n_step, weights (1 when uniform) and the slot indices."""
        if self._num_valid == 0:
            raise ValueError("TransitionReplayBuffer.sample: the buffer holds no complete transition yet")
        if self._tree is not None:
            slots = self._tree.find(self.rng.random(num_items) * self._tree.total)
            bad = ~self._valid[slots]
            while bad.any():  # float rounding at a zero-priority boundary: draw those again
                slots[bad] = self._tree.find(self.rng.random(int(bad.sum())) * self._tree.total)
                bad = ~self._valid[slots]
            beta = self.beta if beta is None else float(beta)
            leaves = self._tree.leaves()
            p = leaves[slots] / self._tree.total
            p_min = self._tree.min_positive / self._tree.total
            weights = ((p * self._num_valid) ** -beta / (p_min * self._num_valid) ** -beta).astype(np.float32)
        else:
            slots = self._uniform_slots(num_items)
            weights = np.ones(num_items, dtype=np.float32)
        obs, next_obs = self._obs.gather(slots), self._obs.gather(self._next[slots])
        actions = self._actions[slots]
        if self.mirror is not None:
            obs, next_obs, actions = self._mirrored(obs, next_obs, actions)
        return {
            Columns.OBS: obs,
            Columns.NEXT_OBS: next_obs,
            Columns.ACTIONS: actions,
            Columns.REWARDS: self._rewards[slots],
            Columns.TERMINATEDS: self._terminated[slots],
            N_STEP: self._n[slots],
            WEIGHTS: weights,
            INDICES: slots,
        }

    def _mirrored(self, obs: np.ndarray, next_obs: np.ndarray, actions: np.ndarray):
        """A random half of the items flipped left-right (axis 2 of N x H x W x C), actions mirrored."""
        if obs.ndim != 4:
            raise ValueError(f"mirror_actions needs image observations (N, H, W, C), got shape {obs.shape}")
        flip = self.rng.random(len(actions)) < 0.5
        self._obs.flip(obs, flip)
        self._obs.flip(next_obs, flip)
        actions[flip] = self.mirror[actions[flip]]
        return obs, next_obs, actions

    def _uniform_slots(self, num_items: int) -> np.ndarray:
        high = min(self._written, self.capacity)
        slots = self.rng.integers(0, high, num_items)
        bad = ~self._valid[slots]
        while bad.any():  # pending tails and final observations start no transition
            slots[bad] = self.rng.integers(0, high, int(bad.sum()))
            bad = ~self._valid[slots]
        return slots

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        """Priorities `(|td| + epsilon)^alpha` for sampled slots still holding their transition."""
        if self._tree is None:
            return
        indices = np.asarray(indices, dtype=np.int64)
        priorities = np.abs(np.asarray(td_errors, dtype=np.float64)) + self.epsilon
        keep = self._valid[indices]
        if keep.any():
            # one slot sampled twice in a batch: the last TD error wins (set is order-stable)
            self._tree.set(indices[keep], priorities[keep] ** self.alpha)
            self._max_priority = max(self._max_priority, float(priorities[keep].max()))

    def nbytes_at_capacity(self) -> int:
        """Memory of the full buffer (0 before the first add fixes the observation shape)."""
        if self._obs is None:
            return 0
        per_slot = self._obs.nbytes_per_slot + self._actions[0].nbytes + 4 + 8 + 4 + 1 + 1 + 16
        return per_slot * self.capacity

    def get_metrics(self) -> dict[str, float]:
        return {"num_transitions": self._num_valid, "num_env_steps_added_lifetime": self._added_steps}

    # -- checkpointing ------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue sampling as before (only the filled slots)."""
        filled = min(self._written, self.capacity)
        state = {
            "version": 1,
            "capacity": self.capacity,
            "n_step": self.n_step,
            "gamma": self.gamma,
            "written": self._written,
            "num_valid": self._num_valid,
            "added_steps": self._added_steps,
            "max_priority": self._max_priority,
            "rng": self.rng.bit_generator.state,
            "pending": {eid: tuple(a.copy() for a in p) for eid, p in self._pending.items()},
        }
        if self._obs is not None:
            for name in ("_actions", "_rewards", "_next", "_n", "_terminated", "_valid"):
                state[name] = getattr(self, name)[:filled].copy()
            state["_obs"] = self._obs.numpy(filled)  # checkpoints hold numpy, whatever the device
        if self._tree is not None:
            state["priorities"] = self._tree.leaves()[:filled].copy()
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        if (state["capacity"], state["n_step"], state["gamma"]) != (self.capacity, self.n_step, self.gamma):
            raise ValueError(
                f"TransitionReplayBuffer.set_state: saved buffer has capacity/n_step/gamma "
                f"{state['capacity']}/{state['n_step']}/{state['gamma']}, this one "
                f"{self.capacity}/{self.n_step}/{self.gamma}"
            )
        self._written, self._num_valid = int(state["written"]), int(state["num_valid"])
        self._added_steps, self._max_priority = int(state["added_steps"]), float(state["max_priority"])
        self.rng.bit_generator.state = state["rng"]
        self._pending = {eid: tuple(np.array(a) for a in p) for eid, p in state["pending"].items()}
        if "_obs" not in state:
            return
        filled = len(state["_obs"])
        self._allocate(state["_obs"], state["_actions"])
        for name in ("_actions", "_rewards", "_next", "_n", "_terminated", "_valid"):
            getattr(self, name)[:filled] = state[name]
        self._obs.load(state["_obs"])
        if self._tree is not None:
            self._tree = SumTree(self.capacity)
            if filled:  # a buffer saved without priorities restarts them at the maximum
                priorities = state.get("priorities", self._valid[:filled] * self._max_priority**self.alpha)
                self._tree.set(np.arange(filled), priorities)
