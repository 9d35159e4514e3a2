"""agents.fast_dqn: the DQN loss sees the right columns, the lean forward equals RLlib's, and
RLlib's checkpoints carry the replay buffer."""

import copy
import dataclasses
import functools
import logging
import os
import time

import numpy as np
import pytest
import ray
import torch
from ray.rllib.algorithms.dqn.dqn_learner import (
    QF_NEXT_PREDS,
    QF_PREDS,
    QF_TARGET_NEXT_PREDS,
)
from ray.rllib.algorithms.dqn.torch.default_dqn_torch_rl_module import (
    DefaultDQNTorchRLModule,
)
from ray.rllib.core.columns import Columns
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch

from agents.config import build_config, make_env
from agents.modules import ImageDQNTorchRLModule
from agents.presets import preset_for
from agents.replay import INDICES, N_STEP, WEIGHTS


def small_cartpole(**training):
    preset = preset_for("CartPole-v1")
    preset["training"].update({"num_steps_sampled_before_learning_starts": 64, **training})
    preset["evaluation"] = {}
    config = build_config("CartPole-v1", preset, seed=0)
    config.reporting(min_sample_timesteps_per_iteration=128)
    return config


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


@pytest.mark.parametrize("env_id", ["CartPole-v1", "FaceFusion-v0"])
def test_lean_forward_equals_rllibs(env_id):
    config = build_config(env_id, preset_for(env_id))
    env = make_env(env_id, preset_for(env_id).get("env_config"))
    module = config.get_rl_module_spec(env=env).build()
    module.make_target_networks()
    obs = np.stack([env.observation_space.sample() for _ in range(9)])
    batch = {Columns.OBS: torch.from_numpy(obs[:8]), Columns.NEXT_OBS: torch.from_numpy(obs[1:])}
    rllib_helper = functools.partial(ImageDQNTorchRLModule._qf_forward_helper, module)  # RLlib's dueling sum
    outputs, grads = [], []
    for lean_helper, forward in [
        (True, module._forward_train),
        (False, lambda b: DefaultDQNTorchRLModule._forward_train(module, b)),
    ]:
        if not lean_helper:
            module._qf_forward_helper = rllib_helper
        module.zero_grad()
        out = forward(batch)
        (out[QF_PREDS] ** 2).sum().backward()
        outputs.append(out)
        grads.append([p.grad.clone() for p in module.parameters() if p.grad is not None])
    for key in (QF_PREDS, QF_NEXT_PREDS, QF_TARGET_NEXT_PREDS):
        torch.testing.assert_close(outputs[0][key], outputs[1][key])
    assert not outputs[0][QF_NEXT_PREDS].requires_grad  # no autograd work on the next state
    assert len(grads[0]) == len(grads[1]) > 0
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_folded_padding_is_rllibs_padding():
    """The lean module's convs pad themselves where RLlib's ZeroPad2d is symmetric: the same
    Q-values and gradients as RLlib's CNN, the same state_dict keys (checkpoints load either
    way), and an asymmetric pad (84 px: the second conv's 1/2) is left to RLlib."""
    config = build_config("FaceFusion-v0", preset_for("FaceFusion-v0"))
    env = make_env("FaceFusion-v0", preset_for("FaceFusion-v0").get("env_config"))
    spec = config.get_rl_module_spec(env=env)
    lean = spec.build()
    rllib = dataclasses.replace(spec, module_class=ImageDQNTorchRLModule).build()
    assert lean.state_dict().keys() == rllib.state_dict().keys()
    rllib.load_state_dict(lean.state_dict())
    pads = [m for m in rllib.encoder.modules() if isinstance(m, torch.nn.ZeroPad2d)]
    kept = [m for m in lean.encoder.modules() if isinstance(m, torch.nn.ZeroPad2d)]
    assert len(pads) == 3 and len(kept) == 1 and kept[0].padding == (1, 2, 1, 2)
    obs = torch.from_numpy(np.stack([env.observation_space.sample() for _ in range(8)]))
    grads = []
    for module in (lean, rllib):
        module.zero_grad()
        q = module.compute_q_values({Columns.OBS: obs})[QF_PREDS]
        (q**2).sum().backward()
        grads.append((q.detach(), [p.grad for p in module.parameters()]))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    for a, b in zip(grads[0][1], grads[1][1]):
        torch.testing.assert_close(a, b)


def test_lean_acting_matches_rllibs():
    """Acting without RLlib's mode switches and distribution objects: greedy actions equal
    RLlib's, epsilon 1 draws uniformly among the actions not masked by -inf, the module's
    train/eval mode is left alone."""
    config = build_config("FaceFusion-v0", preset_for("FaceFusion-v0"))
    env = make_env("FaceFusion-v0", preset_for("FaceFusion-v0").get("env_config"))
    module = config.get_rl_module_spec(env=env).build()
    batch = {Columns.OBS: torch.from_numpy(np.stack([env.observation_space.sample() for _ in range(16)]))}
    module._qf_forward_helper = functools.partial(ImageDQNTorchRLModule._qf_forward_helper, module)
    expected = DefaultDQNTorchRLModule._forward_inference(module, batch)[Columns.ACTIONS]  # RLlib's Q argmax
    del module._qf_forward_helper
    assert module.training
    torch.testing.assert_close(module.forward_inference(batch)[Columns.ACTIONS], expected)
    module.epsilon_schedule.update = lambda t: None
    module.epsilon_schedule.get_current_value = lambda: 0.0
    torch.testing.assert_close(module.forward_exploration(batch, t=0)[Columns.ACTIONS], expected)
    assert module.training  # no mode switch (no dropout or batch norm here)
    module.epsilon_schedule.get_current_value = lambda: 1.0
    unmasked = torch.cat([module.forward_exploration(batch, t=0)[Columns.ACTIONS] for _ in range(40)])
    counts = np.bincount(unmasked.numpy(), minlength=env.action_space.n)  # 640 draws, 7 actions: ~91 each
    assert counts.min() > 50 and counts.max() < 140, counts
    scores = module._greedy_scores

    def masked(b):  # actions 0 and 6 masked out, as an action-masking model would
        out = scores(b).clone()
        out[:, [0, 6]] = -float("inf")
        return out

    module._greedy_scores = masked
    drawn = torch.cat([module.forward_exploration(batch, t=0)[Columns.ACTIONS] for _ in range(40)])
    assert set(drawn.tolist()) == {1, 2, 3, 4, 5}
    # epsilon 0.5: half the actions greedy, half uniform over the 5 allowed (1/5 of those greedy)
    module.epsilon_schedule.get_current_value = lambda: 0.5
    greedy = masked(batch).argmax(dim=-1)
    same = torch.stack([module.forward_exploration(batch, t=0)[Columns.ACTIONS] == greedy for _ in range(200)])
    assert abs(float(same.float().mean()) - 0.6) < 0.04


def test_lean_update_skips_the_mode_switch_only_when_it_changes_nothing():
    """forward_train skips RLlib's per-update `train()` recursion when the module is already in
    train mode and has no dropout or batch norm; otherwise it switches as RLlib does."""
    from torch import nn

    config = build_config("CartPole-v1", preset_for("CartPole-v1"))
    env = make_env("CartPole-v1")
    module = config.get_rl_module_spec(env=env).build()
    module.make_target_networks()
    obs = torch.from_numpy(np.stack([env.observation_space.sample() for _ in range(9)]))
    batch = {Columns.OBS: obs[:8], Columns.NEXT_OBS: obs[1:]}
    switches = []
    train = module.train
    module.train = lambda mode=True: (switches.append(mode), train(mode))[1]
    out = module.forward_train(batch)
    assert switches == [] and module.training
    torch.testing.assert_close(out[QF_PREDS], module._forward_train(batch)[QF_PREDS])
    train(False)  # in eval mode (after evaluation, say): switched back as RLlib does
    module.forward_train(batch)
    assert switches == [True] and module.training
    module.dropout = nn.Dropout(0.5)  # a mode-dependent layer: always RLlib's switch
    del module._mode_free_cache
    module.forward_train(batch)
    assert switches == [True, True]


def test_lean_connectors_sample_what_rllibs_pipelines_sample(local_ray):
    """The fast path's one-piece connector pipelines: the same seed, weights and exploration
    draws give the same episodes as RLlib's default pipelines (observations, actions, rewards)."""
    from ray.rllib.connectors.env_to_module import EnvToModulePipeline
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner
    from ray.rllib.utils.metrics import ENV_TO_MODULE_CONNECTOR, MODULE_TO_ENV_CONNECTOR, NUM_ENV_STEPS_SAMPLED

    from agents.connectors import (
        ActionsToNumpy,
        ObservationsToTensor,
        UntimedEnvToModulePipeline,
        UntimedModuleToEnvPipeline,
    )

    preset = preset_for("CartPole-v1")
    preset["training"]["epsilon"] = [[0, 0.1], [10**6, 0.1]]  # mostly greedy: actions follow the observations
    lean = build_config("CartPole-v1", preset, seed=3, envs_per_runner=2)
    assert lean.add_default_connectors_to_env_to_module_pipeline is False
    default = build_config("CartPole-v1", preset, seed=3, envs_per_runner=2)
    default.env_runners(
        env_to_module_connector=None,
        module_to_env_connector=None,
        add_default_connectors_to_env_to_module_pipeline=True,
        add_default_connectors_to_module_to_env_pipeline=True,
    )
    rllib = build_config("CartPole-v1", preset_for("CartPole-v1"), path="rllib")
    assert rllib.add_default_connectors_to_env_to_module_pipeline is True
    runs = []
    for config in (lean, default):
        runner = SingleAgentEnvRunner(config=config)
        if runs:
            runner.module.load_state_dict(runs[0][0].module.state_dict())
        torch.manual_seed(0)
        episodes = runner.sample(num_timesteps=300, explore=True)
        runs.append((runner, episodes))
    pieces = [type(c) for c in runs[0][0]._env_to_module.connectors + runs[0][0]._module_to_env.connectors]
    assert pieces == [ObservationsToTensor, ActionsToNumpy]
    assert len(runs[1][0]._env_to_module.connectors) > 1  # RLlib's defaults in the other
    # the lean pipelines run untimed; RLlib's defaults (as any user's connectors) keep their metrics
    assert type(runs[0][0]._env_to_module) is UntimedEnvToModulePipeline
    assert type(runs[0][0]._module_to_env) is UntimedModuleToEnvPipeline
    assert type(runs[1][0]._env_to_module) is EnvToModulePipeline
    lean_metrics, default_metrics = (runner.get_metrics() for runner, _ in runs)
    for key in (ENV_TO_MODULE_CONNECTOR, MODULE_TO_ENV_CONNECTOR):
        assert key not in lean_metrics and key in default_metrics, key
    assert lean_metrics[NUM_ENV_STEPS_SAMPLED] == default_metrics[NUM_ENV_STEPS_SAMPLED]
    (_, a), (_, b) = runs
    assert len(a) == len(b) and sum(map(len, a)) >= 300
    for x, y in zip(a, b):
        np.testing.assert_array_equal(np.asarray(x.get_observations()), np.asarray(y.get_observations()))
        np.testing.assert_array_equal(np.asarray(x.get_actions()), np.asarray(y.get_actions()))
        np.testing.assert_array_equal(np.asarray(x.get_rewards()), np.asarray(y.get_rewards()))
        assert x.is_terminated == y.is_terminated
    for runner, _ in runs:
        runner.stop()


def test_td_errors_are_the_double_q_n_step_target(local_ray):
    """The learner's TD errors (which become priorities) equal |Q(s,a) - (R + gamma^k (1-d)
    Q_target(s', argmax_a Q(s', a)))| with the buffer's per-transition k, before the update."""
    config = small_cartpole()
    algo = config.build_algo()
    try:
        algo.train()
        buffer, learner = algo.local_replay_buffer, algo.learner_group._learner
        columns = buffer.sample(64)
        columns[N_STEP][:4] = [1, 2, 3, 3]  # k varies per transition (episode ends)
        columns[Columns.TERMINATEDS][:2] = True
        columns.pop(INDICES)
        module = learner.module["default_policy"]
        t = {k: torch.from_numpy(np.asarray(v)) for k, v in columns.items()}
        with torch.no_grad():
            q = module.compute_q_values({Columns.OBS: t[Columns.OBS]})[QF_PREDS]
            q_next = module.compute_q_values({Columns.OBS: t[Columns.NEXT_OBS]})[QF_PREDS]
            q_target = module.forward_target({Columns.OBS: t[Columns.NEXT_OBS]})[QF_PREDS]
        best = q_target.gather(1, q_next.argmax(1, keepdim=True)).squeeze(1)
        target = t[Columns.REWARDS] + config.gamma ** t[N_STEP] * (1 - t[Columns.TERMINATEDS].float()) * best
        expected = (q.gather(1, t[Columns.ACTIONS].long()[:, None]).squeeze(1) - target).abs()
        results = algo.learner_group.update(
            batch=MultiAgentBatch({"default_policy": SampleBatch(columns)}, 64),
            timesteps={"num_env_steps_sampled_lifetime": 10**6},
            fast_updates=1,
        )
        td = np.concatenate([np.ravel(x) for x in results[0]["default_policy"]["td_error"].peek()])
        np.testing.assert_allclose(td, expected.numpy(), rtol=1e-4, atol=1e-5)
        assert columns[WEIGHTS].dtype == np.float32
    finally:
        algo.stop()


def test_foreach_global_norm_clipping_equals_rllibs():
    """The learner's gradient clipping (agents.fast_dqn.clip_gradients) returns RLlib's global
    norm and leaves the gradients as RLlib's clip_gradients does: clipped, not clipped, with
    a non-finite gradient, and in RLlib's other modes."""
    from ray.rllib.utils.torch_utils import clip_gradients as rllib_clip

    from agents.fast_dqn import clip_gradients

    gen = torch.Generator().manual_seed(0)
    cases = [(scale, by) for scale in (0.01, 100.0) for by in ("global_norm", "norm", "value")]
    for scale, by in [*cases, (float("inf"), "global_norm")]:
        grads = {
            i: torch.randn(shape, generator=gen) * 3.0 for i, shape in enumerate([(4, 256), (256,), (256, 2), (2,)])
        }
        grads[1] = grads[1] * scale
        theirs, ours = {k: v.clone() for k, v in grads.items()}, {k: v.clone() for k, v in grads.items()}
        norm_theirs = rllib_clip(theirs, grad_clip=10.0, grad_clip_by=by)
        norm_ours = clip_gradients(ours, grad_clip=10.0, grad_clip_by=by)
        if by == "global_norm":
            torch.testing.assert_close(norm_ours, norm_theirs)
        for k in grads:
            torch.testing.assert_close(ours[k], theirs[k], equal_nan=True)
    clipped = {0: torch.full((3,), 100.0)}
    clip_gradients(clipped, grad_clip=1.0, grad_clip_by="global_norm")
    assert abs(float(clipped[0].norm()) - 1.0) < 1e-4  # the check above can fail


def test_k_updates_per_call_report_what_logging_every_update_reports(local_ray, monkeypatch):
    """Values logged with window=1 are logged on the last of a call's k updates only; the
    call's results (loss statistics, gradient norm, all k batches' TD errors) are those of
    logging every update."""
    import agents.fast_dqn as fast_dqn

    algo = small_cartpole().build_algo()
    try:
        algo.train()
        learner, buffer = algo.learner_group._learner, algo.local_replay_buffer
        module, optimizer = learner.module["default_policy"], learner.get_optimizer("default_policy")
        columns = buffer.sample(4 * 64)
        columns.pop(INDICES)
        start = copy.deepcopy((module.state_dict(), optimizer.state_dict()))
        results = []
        for quiet in (True, False):
            if not quiet:
                monkeypatch.setattr(fast_dqn, "_LastValuesOnly", lambda metrics: metrics)
            module.load_state_dict(start[0])
            optimizer.load_state_dict(copy.deepcopy(start[1]))
            out = algo.learner_group.update(
                batch=MultiAgentBatch({"default_policy": SampleBatch(dict(columns))}, 4 * 64),
                timesteps={"num_env_steps_sampled_lifetime": 0},  # no target-net sync in between
                fast_updates=4,
            )[0]["default_policy"]
            # counters of calls (lifetime sums, the weights sequence number) differ by design
            results.append({k: v.peek() for k, v in out.items() if "lifetime" not in k and k != "weights_seq_no"})
        quiet, every = results
        assert quiet.keys() == every.keys()
        assert {"qf_loss", "td_error_mean", "gradients_default_optimizer_global_norm"} <= set(quiet)
        td = [np.concatenate([np.ravel(x) for x in r.pop("td_error")]) for r in results]
        assert len(td[0]) == 4 * 64
        np.testing.assert_allclose(td[0], td[1], rtol=1e-5)
        for key in quiet:
            np.testing.assert_allclose(
                np.asarray(quiet[key], float), np.asarray(every[key], float), rtol=1e-5, err_msg=key
            )
        assert abs(quiet["td_error_mean"] - td[0][-64:].mean()) < 1e-4  # the last update's
    finally:
        algo.stop()


def test_checkpoint_carries_the_buffer_and_metrics(local_ray, tmp_path):
    from agents.training import summarize

    config = small_cartpole(updates_per_learner_call=4, weights_sync_interval=2)
    algo = config.build_algo()
    try:
        for _ in range(3):
            result = algo.train()
        summary = summarize(result)
        assert summary["env_steps"] >= 3 * 128 and summary["learner_loss"] is not None
        assert result["learners"]["__all_modules__"]["num_fast_dqn_updates_lifetime"] > 0
        algo.save_to_path(str(tmp_path / "ckpt"))
        saved = algo.local_replay_buffer.get_state()
    finally:
        algo.stop()
    restored = config.build_algo()
    try:
        assert len(restored.local_replay_buffer) == 0
        restored.restore_from_path(str(tmp_path / "ckpt"))
        state = restored.local_replay_buffer.get_state()
        assert state["num_valid"] == saved["num_valid"] > 0
        np.testing.assert_array_equal(state["_obs"], saved["_obs"])
        np.testing.assert_array_equal(state["priorities"], saved["priorities"])
        restored.train()  # and it goes on learning from it
    finally:
        restored.stop()
    without = small_cartpole(store_buffer_in_checkpoints=False).build_algo()
    try:
        without.train()
        assert "transition_replay_buffer" not in without.get_state()
    finally:
        without.stop()


def test_learner_threads_resolve_and_apply_to_updates_only(local_ray, monkeypatch):
    """The driver's learner updates with every core of its process (or OMP_NUM_THREADS), a
    remote learner with its CPUs, an explicit setting wins; acting keeps the process's one
    thread, so the setting applies inside the update and is undone after it."""
    from agents.learner_threads import resolve_learner_threads

    cores = len(os.sched_getaffinity(0))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert resolve_learner_threads(small_cartpole()) == cores
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert resolve_learner_threads(small_cartpole()) == 3
    assert resolve_learner_threads(small_cartpole().learners(num_learners=2, num_cpus_per_learner=4)) == 4
    assert resolve_learner_threads(small_cartpole(learner_threads=5)) == 5
    with pytest.raises(ValueError, match="learner_threads must be 'auto' or an integer >= 1, got 0"):
        small_cartpole(learner_threads=0).validate()
    assert build_config("CartPole-v1", preset_for("CartPole-v1"), learner_threads=2).learner_threads == 2

    algo = small_cartpole(learner_threads=3).build_algo()
    try:
        learner, seen = algo.learner_group._learner, []
        assert learner.get_optimizer("default_policy").defaults["fused"] is True  # one kernel per step
        update = learner._update
        monkeypatch.setattr(
            learner, "_update", lambda *a, **k: (seen.append(torch.get_num_threads()), update(*a, **k))[1]
        )
        torch.set_num_threads(1)
        result = algo.train()
        assert seen and set(seen) == {3}
        assert result["learners"]["__all_modules__"]["learner_torch_threads"] == 3
        assert torch.get_num_threads() == 1  # acting and everything else: the process's setting
    finally:
        algo.stop()


def test_thread_choice_keeps_the_faster_and_notices_a_change_of_load():
    """'auto' learner threads: both choices are timed, the faster is used, the slower is
    tried again at doubling intervals, and a change of load (another job) switches back."""
    from agents.learner_threads import ThreadChoice

    cost = {2: 0.6, 1: 1.0}  # seconds per update: idle cores, 2 threads win

    def run(choice, calls):
        used = []
        for _ in range(calls):
            threads = choice.next()
            used.append(threads)
            choice.record(threads, cost[threads] * 4, updates=4)
        return used

    choice = ThreadChoice(2)
    used = run(choice, 100)
    assert used[:3] == [2, 2, 1] and choice.best() == 2  # warm-up call, then each choice timed
    assert 3 <= used.count(1) <= 8  # probes of the slower choice get rarer (intervals 8, 16, 32, ...)
    cost[2] = 25.0  # another job took the second core: two threads stall
    used = run(choice, 200)
    assert choice.best() == 1 and used[-50:].count(2) <= 2
    cost[2] = 0.6  # the other job ended
    used = run(choice, 600)
    assert choice.best() == 2 and used[-50:].count(2) >= 45
    assert ThreadChoice(4, fixed=True).next() == 4 and ThreadChoice(1).choices == (1,)


def test_auto_stores_small_buffers_only():
    import gymnasium as gym
    from ray.rllib.env.single_agent_episode import SingleAgentEpisode

    from agents.fast_dqn import AUTO_STORE_LIMIT_BYTES
    from agents.replay import TransitionReplayBuffer

    space = gym.spaces.Box(0, 255, (84, 84, 3), np.uint8)
    episode = SingleAgentEpisode(
        observations=[space.sample() for _ in range(3)],
        actions=[0, 1],
        rewards=[0.0, 1.0],
        terminated=True,
        observation_space=space,
        len_lookback_buffer=0,
    )
    for capacity, small in ((1000, True), (50_000, False)):  # FaceFusion's 50k images: ~1 GB
        buffer = TransitionReplayBuffer(capacity=capacity)
        buffer.add([episode])
        assert (buffer.nbytes_at_capacity() <= AUTO_STORE_LIMIT_BYTES) is small


@pytest.mark.slow
def test_sample_ahead_leaves_the_next_round_in_flight_and_times_each_phase(local_ray):
    """With a remote runner, a training step learns from the round the runner returned while
    the next one is sampled (one request in flight after train()); off, RLlib's synchronous
    sampling leaves none. Both count every sampled step and report per-phase seconds."""
    from agents.fast_dqn import PHASE_SECONDS, PHASES, SAMPLE_AHEAD_TAG
    from agents.training import summarize

    with pytest.raises(ValueError, match="sample_ahead must be true or false, got 'yes'"):
        small_cartpole(sample_ahead="yes").validate()
    for ahead in (True, False):
        config = small_cartpole(sample_ahead=ahead, weights_sync_interval=1)
        config.env_runners(num_env_runners=1)
        algo = config.build_algo()
        try:
            for _ in range(3):
                result = algo.train()
            manager = algo.env_runner_group._worker_manager
            assert manager.num_outstanding_async_reqs(tag=SAMPLE_AHEAD_TAG) == (1 if ahead else 0)
            summary = summarize(result)
            assert summary["env_steps"] >= 3 * 128 and summary["learner_loss"] is not None
            assert set(result[PHASE_SECONDS]) == set(PHASES)
            assert all(summary[f"time_{phase}_s"] > 0 for phase in PHASES)
            t0 = time.perf_counter()  # per iteration, not summed over the run: within its wall time
            phases = algo.train()[PHASE_SECONDS]
            assert 0 < sum(phases.values()) <= time.perf_counter() - t0
        finally:
            algo.stop()


def test_replay_on_the_learners_device_trains_facefusion(local_ray):
    """replay_buffer_config.device: images kept as torch tensors (here on the CPU, the path a
    local GPU learner takes with "auto") reach RLlib's loss mirrored, and the learner trains;
    "auto" picks the GPU only for a local learner with one on this machine."""
    from agents.fast_dqn import replay_device

    preset = preset_for("FaceFusion-v0")
    preset["training"]["num_steps_sampled_before_learning_starts"] = 64
    preset["training"]["replay_buffer_config"]["device"] = "cpu"
    config = build_config("FaceFusion-v0", preset, seed=0)
    config.reporting(min_sample_timesteps_per_iteration=64)
    algo = config.build_algo()
    try:
        for _ in range(2):
            result = algo.train()
        assert torch.is_tensor(algo.local_replay_buffer._obs.data)
        assert np.isfinite(result["learners"]["default_policy"]["total_loss"])
    finally:
        algo.stop()
    assert replay_device(config, "auto") is None  # CPU learner
    gpu = copy.deepcopy(config).learners(num_learners=0, num_gpus_per_learner=1)
    assert replay_device(gpu, "auto") == ("cuda:0" if torch.cuda.is_available() else None)
    assert replay_device(copy.deepcopy(gpu).learners(num_learners=2), "auto") is None  # remote learners: numpy


def test_remote_learners_and_vector_envs_train(local_ray):
    """Two learner actors (the batch is sharded, TD errors come back in shard order) and two
    envs per runner: training runs and every replayed transition gets its priority back."""
    preset = preset_for("CartPole-v1")
    preset["training"]["num_steps_sampled_before_learning_starts"] = 64
    preset["evaluation"] = {}
    config = build_config("CartPole-v1", preset, num_learners=2, envs_per_runner=2)
    config.reporting(min_sample_timesteps_per_iteration=128)
    algo = config.build_algo()
    try:
        for _ in range(2):
            result = algo.train()
        assert algo.learner_group.is_local is False and config.num_envs_per_env_runner == 2
        assert result["learners"]["default_policy"]["total_loss"] is not None
        priorities = algo.local_replay_buffer.get_state()["priorities"]
        assert (priorities[priorities > 0] != 1.0).any()  # updated from the learners' TD errors
    finally:
        algo.stop()
