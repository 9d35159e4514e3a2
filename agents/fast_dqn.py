"""DQN whose learner gets ready tensors: RLlib's DQN with a `training_step` that replays from
`agents.replay.TransitionReplayBuffer` and skips the episode -> batch learner connector.

Why: in RLlib 2.60 most of a DQN update's time is Python around the network (episode
objects per sampled transition, the connector pipeline rebuilding a batch from them, one
learner call and metrics reduction per update, a weight sync after every training step).
Here the buffer returns numpy columns named as DQNTorchLearner reads them (obs, next_obs,
actions, n-step rewards, terminateds, n_step, weights), so the loss (double Q, dueling,
`gamma ** n` per transition, importance weights) is RLlib's own, unchanged; the TD errors
it logs go back to the buffer as priorities. Settings beyond DQNConfig's (`.training(...)`):

- `updates_per_learner_call`: replayed batches stacked into one `learner_group.update`
  call (RLlib's minibatch iterator then takes one gradient step per batch): the fixed cost
  of a call (metrics reduction, timers) is paid once for k updates. Priorities of the k
  batches are updated together after the call, so a batch can miss the priorities of the
  up to k - 1 batches before it (as in Ape-X's asynchronous priority updates).
- `weights_sync_interval`: training steps between weight syncs to the env runners (the
  acting policy is then at most that many training steps old; DQN is off-policy).
- `learner_threads`: torch threads for the learner's updates: an integer, or "auto" (default):
  up to the learner's cores, timed against one thread and the faster kept
  (agents.learner_threads: on idle cores ~1.5x FaceFusion env steps/s on 2 cores; beside
  another busy job more threads are far slower).
- `sample_ahead` (default True; only with remote env runners): the runners sample the next
  round while the driver learns from the round they returned (IMPALA-style overlap: a
  training step costs max(sampling, learning) instead of their sum). The data learned from
  is one round older and the acting weights as before at most `weights_sync_interval`
  training steps old; DQN is off-policy. False: RLlib's synchronous sample-then-learn.
- `store_buffer_in_checkpoints`: the buffer's filled part goes into `save_to_path`
  checkpoints (`restore_from_path` continues with the same transitions and priorities).
  "auto" (default): only when the full buffer takes at most 256 MB (CartPole: ~2 MB;
  FaceFusion's 50k 84 px images: ~1 GB per checkpoint, so not). Without it a resumed run
  starts with an empty buffer and learns again once it holds
  `num_steps_sampled_before_learning_starts` transitions (at least one batch).

Each iteration's result also holds, under `fast_dqn_seconds`, the wall seconds the driver spent
in each phase of its training steps (`sampling`: waiting for env runners; `replay`: buffer
add, sample and priorities; `learner`: learner calls; `weights_sync`): where the time goes
(agents.training writes them to progress.csv).

Anything else (env runners, fault tolerance, evaluation, checkpoint layout, metrics) is
RLlib's `Algorithm`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager

import numpy as np
from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.algorithms.dqn.dqn import DQN, DQNConfig, calculate_rr_weights
from ray.rllib.algorithms.dqn.torch.dqn_torch_learner import DQNTorchLearner
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.execution.rollout_ops import synchronous_parallel_sample
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.framework import try_import_torch
from ray.rllib.utils.metrics import (
    ALL_MODULES,
    ENV_RUNNER_RESULTS,
    ENV_RUNNER_SAMPLING_TIMER,
    LEARNER_RESULTS,
    LEARNER_UPDATE_TIMER,
    NUM_AGENT_STEPS_SAMPLED_LIFETIME,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    REPLAY_BUFFER_ADD_DATA_TIMER,
    REPLAY_BUFFER_RESULTS,
    REPLAY_BUFFER_SAMPLE_TIMER,
    REPLAY_BUFFER_UPDATE_PRIOS_TIMER,
    SYNCH_WORKER_WEIGHTS_TIMER,
    TD_ERROR_KEY,
    TIMERS,
)
from ray.rllib.utils.numpy import convert_to_numpy
from ray.rllib.utils.torch_utils import clip_gradients as rllib_clip_gradients

from agents.connectors import untimed
from agents.learner_threads import ThreadChoice, resolve_learner_threads
from agents.replay import INDICES, TransitionReplayBuffer

torch, _ = try_import_torch()

BUFFER_STATE = "transition_replay_buffer"
AUTO_STORE_LIMIT_BYTES = 256 * 2**20
NUM_UPDATES_LIFETIME = "num_fast_dqn_updates_lifetime"
LEARNER_THREADS = "learner_torch_threads"  # the threads of the latest learner call (learners/__all_modules__)
PHASE_SECONDS = "fast_dqn_seconds"  # per iteration: the driver's wall seconds per phase of its training steps
PHASES = ("sampling", "replay", "learner", "weights_sync")
SAMPLE_AHEAD_TAG = "fast_dqn_sample_ahead"


class FastDQNConfig(DQNConfig):
    """DQNConfig plus the three settings above (defaults measured in
    benchmarks/training_throughput.py, BENCHMARKS.md)."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or FastDQN)
        self.replay_buffer_config = {
            "type": "agents.replay.TransitionReplayBuffer",
            "capacity": 50_000,
            "prioritized": True,
            "alpha": 0.6,
            "beta": 0.4,
        }
        self.updates_per_learner_call = 8
        self.weights_sync_interval = 4
        self.sample_ahead = True
        self.learner_threads = "auto"
        self.store_buffer_in_checkpoints = "auto"

    def get_default_learner_class(self):
        return FastDQNTorchLearner

    def build_env_to_module_connector(self, *args, **kwargs):
        return untimed(super().build_env_to_module_connector(*args, **kwargs))

    def build_module_to_env_connector(self, *args, **kwargs):
        return untimed(super().build_module_to_env_connector(*args, **kwargs))

    def training(
        self,
        *,
        updates_per_learner_call=NotProvided,
        weights_sync_interval=NotProvided,
        sample_ahead=NotProvided,
        learner_threads=NotProvided,
        store_buffer_in_checkpoints=NotProvided,
        **kwargs,
    ) -> FastDQNConfig:
        super().training(**kwargs)
        if updates_per_learner_call is not NotProvided:
            self.updates_per_learner_call = updates_per_learner_call
        if weights_sync_interval is not NotProvided:
            self.weights_sync_interval = weights_sync_interval
        if sample_ahead is not NotProvided:
            self.sample_ahead = sample_ahead
        if learner_threads is not NotProvided:
            self.learner_threads = learner_threads
        if store_buffer_in_checkpoints is not NotProvided:
            self.store_buffer_in_checkpoints = store_buffer_in_checkpoints
        return self

    def validate(self) -> None:
        super().validate()
        for name in ("updates_per_learner_call", "weights_sync_interval"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                self._value_error(f"FastDQNConfig.{name} must be an integer >= 1, got {value!r}")
        if not isinstance(self.sample_ahead, bool):
            self._value_error(f"FastDQNConfig.sample_ahead must be true or false, got {self.sample_ahead!r}")
        threads = self.learner_threads
        if threads != "auto" and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            self._value_error(f"FastDQNConfig.learner_threads must be 'auto' or an integer >= 1, got {threads!r}")
        if self.store_buffer_in_checkpoints not in (True, False, "auto"):
            self._value_error(
                f"FastDQNConfig.store_buffer_in_checkpoints must be true, false or 'auto', "
                f"got {self.store_buffer_in_checkpoints!r}"
            )
        if isinstance(self.n_step, (tuple, list)):
            self._value_error(
                f"FastDQN computes n-step returns on insert: n_step must be an integer, "
                f"got the range {list(self.n_step)}"
            )
        if self.num_atoms > 1 or self.is_multi_agent:
            self._value_error(
                "FastDQN supports single-agent DQN with num_atoms=1 (use agents.config's "
                "rllib path for distributional or multi-agent DQN)"
            )


def _writable(array) -> np.ndarray:
    """Remote learners get read-only arrays from Ray's object store; torch wants writable."""
    array = np.asarray(array)
    return array if array.flags.writeable else array.copy()


def clip_gradients(gradients_dict, *, grad_clip=None, grad_clip_by: str = "value"):
    """RLlib's `torch_utils.clip_gradients` with the global norm taken and applied by
    torch's foreach kernels (one call for all tensors instead of three per tensor: ~0.4 ms
    of a CartPole update here). Same arithmetic, including RLlib's clamps of non-finite
    norms and its 1e-6; other modes are RLlib's function."""
    grads = [g for g in gradients_dict.values() if g is not None]
    if grad_clip is None or grad_clip_by != "global_norm" or not grads:
        return rllib_clip_gradients(gradients_dict, grad_clip=grad_clip, grad_clip_by=grad_clip_by)
    detached = [g.detach() for g in grads]
    norms = torch.stack(torch._foreach_norm(detached)).nan_to_num(neginf=-10e8, posinf=10e8)
    total_norm = torch.linalg.vector_norm(norms).nan_to_num(neginf=-10e8, posinf=10e8)
    coeff = torch.clamp(grad_clip / torch.clamp(total_norm + 1e-6, min=grad_clip), max=1.0)
    torch._foreach_mul_(detached, coeff)
    return total_norm


class _LastValuesOnly:
    """Stands in for a learner's MetricsLogger on all but the last of the k updates of one
    call. A value logged with window=1 is reduced to the last one logged, so logging it on
    the last update alone gives the same results (RLlib's DQN loss logs five such values
    per update, clipping the gradient norm: ~0.3 ms of a CartPole update); every other
    value (the TD errors that become priorities) goes through."""

    def __init__(self, metrics):
        self._metrics = metrics

    def log_value(self, key, value, **kwargs):
        if kwargs.get("window") != 1:
            self._metrics.log_value(key, value, **kwargs)

    def log_dict(self, value_dict, **kwargs):
        if kwargs.get("window") != 1:
            self._metrics.log_dict(value_dict, **kwargs)

    def __getattr__(self, name):
        return getattr(self._metrics, name)


class FastDQNTorchLearner(DQNTorchLearner):
    """DQNTorchLearner with a lean path for `update(..., fast_updates=k)`: the numpy batch
    becomes tensors once and RLlib's own `_update` (forward_train, the DQN loss, gradient
    clipping, optimizer step) runs on k contiguous slices, with one metrics reduction."""

    def build(self) -> None:
        super().build()
        fixed = getattr(self.config, "learner_threads", "auto") != "auto"
        self.threads = ThreadChoice(resolve_learner_threads(self.config), fixed=fixed)

    def update(self, batch=None, *, training_data=None, timesteps=None, fast_updates: int = 0, **kwargs):
        with self.threads.timed(max(1, fast_updates)) as threads:
            self.metrics.log_value((ALL_MODULES, LEARNER_THREADS), threads, window=1)
            if not fast_updates:
                return super().update(batch=batch, training_data=training_data, timesteps=timesteps, **kwargs)
            return self._fast_update(batch, training_data, timesteps, fast_updates)

    def _fast_update(self, batch, training_data, timesteps, fast_updates: int):
        batch = training_data.batch if training_data is not None else batch
        timesteps = timesteps or {}
        self.before_gradient_based_update(timesteps=timesteps)
        self._weights_seq_no += 1
        columns = batch.policy_batches[DEFAULT_MODULE_ID]
        tensors = {
            k: (v if torch.is_tensor(v) else torch.from_numpy(_writable(v))).to(self._device, non_blocking=True)
            for k, v in columns.items()
        }
        size = len(columns) // fast_updates
        loss_per_module, metrics = {}, self.metrics
        try:
            for i in range(fast_updates):
                self.metrics = metrics if i == fast_updates - 1 else _LastValuesOnly(metrics)
                minibatch = {k: v[i * size : (i + 1) * size] for k, v in tensors.items()}
                _, loss_per_module, _ = self._update({DEFAULT_MODULE_ID: minibatch})
        finally:
            self.metrics = metrics
        self._log_steps_trained_metrics(batch)
        for module_id, loss in loss_per_module.items():
            self.metrics.log_value((module_id, self.TOTAL_LOSS_KEY), loss, window=1)
        self.after_gradient_based_update(timesteps=timesteps)
        return self.metrics.reduce()

    @staticmethod
    def _get_clip_function():
        return clip_gradients

    def configure_optimizers_for_module(self, module_id, config=None) -> None:
        """RLlib's default optimizer (Adam, the config's lr), with torch's fused kernel: one
        call per step instead of one per parameter tensor (0.29 vs 0.79 ms per CartPole
        update on this CPU; same arithmetic). An lr schedule keeps RLlib's own."""
        config = config or self.config
        if not isinstance(config.lr, (int, float)):
            return super().configure_optimizers_for_module(module_id, config)
        params = self.get_parameters(self._module[module_id])
        self.register_optimizer(
            module_id=module_id,
            optimizer=torch.optim.Adam(params, fused=True),
            params=params,
            lr_or_lr_schedule=config.lr,
        )

    def apply_gradients(self, gradients_dict) -> None:
        """RLlib checks every gradient tensor for nan/inf (two syncs per parameter); one norm
        over all of them says the same. Non-finite or special cases: RLlib's own path."""
        grads = [g for g in gradients_dict.values() if g is not None]
        if (
            self._grad_scalers is not None
            or self._lr_scheduler_classes is not None
            or not grads
            or not bool(torch.isfinite(torch.stack(torch._foreach_norm(grads))).all())
        ):
            return super().apply_gradients(gradients_dict)
        for pid, grad in gradients_dict.items():
            self._params[pid].grad = grad
        for module_id, optimizer_names in self._module_optimizers.items():
            for name in optimizer_names:
                self.get_optimizer(module_id, name).step()


def replay_device(config, device="auto") -> str | None:
    """Where the buffer keeps its observations: "auto" = the learner's GPU when that learner
    runs in this process (num_learners 0, num_gpus_per_learner > 0), so replayed images never
    cross to the host; else host memory (None). Remote learners get numpy batches."""
    if device != "auto":
        return device
    local_gpu = config.num_learners == 0 and config.num_gpus_per_learner > 0 and torch.cuda.is_available()
    return f"cuda:{torch.cuda.current_device()}" if local_gpu else None


class FastDQN(DQN):
    @classmethod
    def get_default_config(cls) -> FastDQNConfig:
        return FastDQNConfig()

    def _create_local_replay_buffer_if_necessary(self, config):
        spec = dict(config["replay_buffer_config"])
        spec.pop("type", None)
        spec["device"] = replay_device(config, spec.get("device", "auto"))
        return TransitionReplayBuffer(n_step=int(config["n_step"]), gamma=config["gamma"], seed=config["seed"], **spec)

    def setup(self, config) -> None:
        super().setup(config)
        self._training_steps_since_sync = 0

    @contextmanager
    def _phase(self, phase: str, timer: str):
        """RLlib's timer for this part of the step, and its wall seconds summed per iteration."""
        t0 = time.perf_counter()
        try:
            with self.metrics.log_time((TIMERS, timer)):
                yield
        finally:
            self.metrics.log_value((PHASE_SECONDS, phase), time.perf_counter() - t0, reduce="sum")

    def _samples_ahead(self) -> bool:
        return bool(self.config.sample_ahead) and self.env_runner_group.num_remote_workers() > 0

    def _launch_samples(self) -> None:
        """Ask every healthy remote runner with no round in flight for its next round."""
        self.env_runner_group.foreach_env_runner_async(
            lambda runner: (runner.sample(), runner.get_metrics()), tag=SAMPLE_AHEAD_TAG
        )

    def _sample_round(self) -> tuple[list, list]:
        """One round of env steps from the runners: (episodes, the runners' metrics)."""
        cfg = self.config
        if not self._samples_ahead():
            return synchronous_parallel_sample(
                worker_set=self.env_runner_group,
                concat=True,
                sample_timeout_s=cfg.sample_timeout_s,
                _uses_new_env_runners=True,
                _return_metrics=True,
            )
        # The first launch reaches only runners with nothing in flight (the first step, restored
        # runners); then wait for the round in flight and at once ask for the next one, which
        # the runners sample while this step learns.
        self._launch_samples()
        results = self.env_runner_group.fetch_ready_async_reqs(
            tags=SAMPLE_AHEAD_TAG, timeout_seconds=cfg.sample_timeout_s
        )
        self._launch_samples()
        return [e for _, (episodes, _) in results for e in episodes], [metrics for _, (_, metrics) in results]

    def training_step(self) -> None:
        cfg, buffer = self.config, self.local_replay_buffer
        store_weight, train_weight = calculate_rr_weights(cfg)
        for _ in range(store_weight):
            with self._phase("sampling", ENV_RUNNER_SAMPLING_TIMER):
                episodes, runner_results = self._sample_round()
            self.metrics.aggregate(runner_results, key=ENV_RUNNER_RESULTS)
            with self._phase("replay", REPLAY_BUFFER_ADD_DATA_TIMER):
                buffer.add(episodes)
        self.metrics.log_dict(buffer.get_metrics(), key=REPLAY_BUFFER_RESULTS, window=1)

        sampled = self.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0)
        batch_size = cfg.total_train_batch_size
        if sampled < cfg.num_steps_sampled_before_learning_starts or len(buffer) < max(
            batch_size, min(cfg.num_steps_sampled_before_learning_starts, buffer.capacity // 2)
        ):
            return
        timesteps = {
            NUM_ENV_STEPS_SAMPLED_LIFETIME: sampled,
            NUM_AGENT_STEPS_SAMPLED_LIFETIME: self.metrics.peek(
                (ENV_RUNNER_RESULTS, NUM_AGENT_STEPS_SAMPLED_LIFETIME), default={}
            ),
        }
        beta = cfg.replay_buffer_config.get("beta")
        remaining = train_weight
        while remaining > 0:
            k = min(cfg.updates_per_learner_call, remaining)
            remaining -= k
            with self._phase("replay", REPLAY_BUFFER_SAMPLE_TIMER):
                columns = buffer.sample(batch_size * k, beta=beta)
                indices = columns.pop(INDICES)
                batch = MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(columns)}, env_steps=batch_size * k)
            with self._phase("learner", LEARNER_UPDATE_TIMER):
                results = self.learner_group.update(batch=batch, timesteps=timesteps, fast_updates=k)
                td_errors = defaultdict(list)
                for result in results:
                    for module_id, module_results in result.items():
                        if TD_ERROR_KEY in module_results:
                            td_errors[module_id].append(
                                np.concatenate(
                                    [np.ravel(x) for x in convert_to_numpy(module_results.pop(TD_ERROR_KEY).peek())]
                                )
                            )
                self.metrics.aggregate(results, key=LEARNER_RESULTS)
            with self._phase("replay", REPLAY_BUFFER_UPDATE_PRIOS_TIMER):
                if DEFAULT_MODULE_ID in td_errors:
                    buffer.update_priorities(indices, np.concatenate(td_errors[DEFAULT_MODULE_ID]))
            self.metrics.log_value((LEARNER_RESULTS, ALL_MODULES, NUM_UPDATES_LIFETIME), k, reduce="lifetime_sum")

        self._training_steps_since_sync += 1
        if self._training_steps_since_sync >= cfg.weights_sync_interval:
            self._training_steps_since_sync = 0
            with self._phase("weights_sync", SYNCH_WORKER_WEIGHTS_TIMER):
                self.env_runner_group.sync_weights(
                    from_worker_or_learner_group=self.learner_group, policies={DEFAULT_MODULE_ID}, inference_only=True
                )

    def get_state(self, components=None, *, not_components=None, **kwargs):
        state = super().get_state(components, not_components=not_components, **kwargs)
        if self._stores_buffer() and self._check_component(BUFFER_STATE, components, not_components):
            state[BUFFER_STATE] = self.local_replay_buffer.get_state()
        return state

    def _stores_buffer(self) -> bool:
        setting, buffer = self.config.store_buffer_in_checkpoints, self.local_replay_buffer
        if buffer is None or not setting:
            return False
        return setting is True or buffer.nbytes_at_capacity() <= AUTO_STORE_LIMIT_BYTES

    def set_state(self, state) -> None:
        super().set_state(state)
        if BUFFER_STATE in state and self.local_replay_buffer is not None:
            self.local_replay_buffer.set_state(state[BUFFER_STATE])
