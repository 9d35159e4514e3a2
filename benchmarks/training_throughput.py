"""DQN training throughput: RLlib 2.60's DQN as shipped ("rllib") against agents.fast_dqn
("fast"), side by side in one process, plus bare torch for the same network and batch.

Sections (each timed in this one run, the two paths interleaved iteration by iteration so
machine load hits both alike; evaluation off, one torch thread):

- cartpole:   CartPole preset, batch 64, 0 env runners: per-update cost all included
              (sampling share, replay, learner, priorities, weight sync, metrics) and without
              the env runner's sampling time; training env steps/s; bare torch per update.
- facefusion: FaceFusion-v0 preset: the same, with bare torch for the preset's CNN.
- sweep:      fast path, FaceFusion-v0 training env steps/s by env runners x envs per runner.
- batch:      bare torch ms per FaceFusion update at batch 64, 256, 1024 on this device (CPU, or
              the GPU with --num-gpus-per-learner 1): how batch size should scale (README).
- threads:    FaceFusion-v0, fast path, the preset's 4 envs per runner: the learner with one
              torch thread against "auto" (up to every core; agents.learner_threads), training
              env steps/s interleaved, and bare torch per update at 1 and all threads.
- predict:    a table predicting a 16-core GPU node and an 8-node cluster from the costs
              measured here (model in `predict`).

    python benchmarks/training_throughput.py --out benchmarks/results/training_throughput.json

On a 16-core node with one GPU (the issue's target: >= 2,000 training env steps/s; local Ray
takes every core; the progress bar's sps and progress.csv give the rate):

    python benchmarks/training_throughput.py --sections facefusion sweep batch predict \\
        --runners 0 4 8 14 --envs 1 8 --num-gpus-per-learner 1 --out gpu_throughput.json
    python train.py --env FaceFusion-v0 --num-gpus-per-learner 1 --num-env-runners 14 \\
        --envs-per-runner 8 --stop-minutes 10 --run-dir runs/gpu-check

`benchmarks/gpu_node.sh` runs train.py on such a node for several setups (batch, replay buffer
on the GPU or in host memory, sampling ahead or not) and sums each run's per-phase seconds
(BENCHMARKS.md, "Session 15"; measured there: 2,116 env steps/s at batch 512).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import numpy as np
import ray
import torch
from torch import nn

from agents.config import build_config, conv_filters_for, make_env
from agents.learner_threads import process_cores
from agents.presets import preset_for
from agents.replay import INDICES

torch.set_num_threads(1)


# ---- building and timing the algorithms -------------------------------------------------


def build(
    env_id: str,
    path: str,
    *,
    runners: int = 0,
    envs: int = 1,
    gpus: float = 0.0,
    steps_per_iter: int = 256,
    learner_threads: int | str = 1,
):
    preset = preset_for(env_id)
    preset["evaluation"] = {}  # training throughput: RLlib's evaluation off
    # like for like: RLlib's episode buffer cannot mirror replay, so neither path does here
    preset["training"].get("replay_buffer_config", {}).pop("mirror", None)
    config = build_config(
        env_id,
        preset,
        num_env_runners=runners,
        seed=0,
        path=path,
        envs_per_runner=envs,
        num_gpus_per_learner=gpus,
        # one thread unless asked, as RLlib's path here (torch.set_num_threads above)
        learner_threads=learner_threads if path == "fast" else None,
    )
    config.evaluation(evaluation_interval=None)
    config.reporting(min_sample_timesteps_per_iteration=steps_per_iter, min_time_s_per_iteration=None)
    algo = config.build_algo()
    algo._bench_sample_s = 0.0
    if runners == 0:  # time the local env runner's sampling to split it from the learner's share
        runner, sample = algo.env_runner, algo.env_runner.sample

        def timed_sample(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return sample(*args, **kwargs)
            finally:
                algo._bench_sample_s += time.perf_counter() - t0

        runner.sample = timed_sample
    return algo


def steps_sampled(result: dict) -> int:
    return int(result["env_runners"].get("num_env_steps_sampled_lifetime", 0))


def warm_up(algo) -> None:
    """Train until learning has started and then for a few more iterations."""
    starts = algo.config.num_steps_sampled_before_learning_starts
    while steps_sampled(algo.train()) < starts + 4 * algo.config.min_sample_timesteps_per_iteration:
        pass


def interleaved(algos: dict, seconds: float) -> dict:
    """Alternate train() calls until each algo has trained ~`seconds`; per-path totals."""
    totals = {name: {"wall": 0.0, "sample": 0.0, "steps": 0} for name in algos}
    last = {name: steps_sampled(algo.train()) for name, algo in algos.items()}
    while min(t["wall"] for t in totals.values()) < seconds:
        for name, algo in algos.items():
            algo._bench_sample_s = 0.0
            t0 = time.perf_counter()
            steps = steps_sampled(algo.train())
            totals[name]["wall"] += time.perf_counter() - t0
            totals[name]["sample"] += algo._bench_sample_s
            totals[name]["steps"] += steps - last[name]
            last[name] = steps
    out = {}
    for name, algo in algos.items():
        t, cfg = totals[name], algo.config
        updates = t["steps"] * cfg.training_intensity / cfg.total_train_batch_size  # exact: integral rr weights
        out[name] = {
            "env_steps_per_s": round(t["steps"] / t["wall"], 1),
            "updates": int(updates),
            "ms_per_update_all_included": round(1000 * t["wall"] / updates, 3),
            "ms_per_update_without_sampling": round(1000 * (t["wall"] - t["sample"]) / updates, 3)
            if t["sample"]
            else None,
            # the local env runner alone (one core): env steps, inference and connectors
            "sampling_env_steps_per_s": round(t["steps"] / t["sample"], 1) if t["sample"] else None,
        }
    return out


# ---- bare torch: the same network, batch and loss, no RLlib -----------------------------


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


class BareQ(nn.Module):
    """RLlib's default DQN network for our model configs: (CNN, "same" or "valid" padded, or MLP encoder,
    advantage head and, when dueling, value head)."""

    def __init__(self, obs_shape, num_actions: int, model: dict, dueling: bool):
        super().__init__()
        layers = []
        if len(obs_shape) == 3:
            size, channels = obs_shape[0], obs_shape[2]
            for out, (k, _), stride, *padding in model.get("conv_filters") or conv_filters_for(size):
                if padding and padding[0] == "valid":
                    size = (size - k) // stride + 1
                else:
                    left, right, size = same_padding(size, k, stride)
                    layers.append(nn.ZeroPad2d((left, right, left, right)))
                layers += [nn.Conv2d(channels, out, k, stride), nn.ReLU()]
                channels = out
            layers.append(nn.Flatten())
            width = channels * size * size
            self.image = True
        else:
            width = obs_shape[0]
            for hidden in model.get("fcnet_hiddens", [256]):
                layers += [
                    nn.Linear(width, hidden),
                    nn.Tanh() if model.get("fcnet_activation") == "tanh" else nn.ReLU(),
                ]
                width = hidden
            self.image = False
        self.encoder = nn.Sequential(*layers)
        head = model.get("head_fcnet_hiddens", [256])[0]
        self.advantage = nn.Sequential(nn.Linear(width, head), nn.ReLU(), nn.Linear(head, num_actions))
        self.value = nn.Sequential(nn.Linear(width, head), nn.ReLU(), nn.Linear(head, 1)) if dueling else None

    def forward(self, obs):
        if self.image:
            obs = obs.float().div_(255.0).permute(0, 3, 1, 2)
        h = self.encoder(obs)
        a = self.advantage(h)
        return a if self.value is None else self.value(h) + a - a.mean(dim=1, keepdim=True)


def bare_torch_ms(env_id: str, batch: dict, cfg, repeats: int, device: str = "cpu", threads: int = 1) -> dict:
    env = make_env(env_id, preset_for(env_id).get("env_config", {}))  # sets one torch thread
    torch.set_num_threads(threads)
    q = BareQ(env.observation_space.shape, env.action_space.n, preset_for(env_id)["model"], cfg.dueling).to(device)
    env.close()
    target = copy.deepcopy(q)
    optim = torch.optim.Adam(q.parameters(), lr=cfg.lr)
    t = {k: torch.from_numpy(np.asarray(v)).to(device) for k, v in batch.items()}

    def update():  # double Q: online forward (obs with autograd, next obs without), target forward
        q_sel = q(t["obs"]).gather(1, t["actions"].long()[:, None]).squeeze(1)
        with torch.no_grad():
            best = q(t["new_obs"]).argmax(1, keepdim=True)
            q_next = target(t["new_obs"]).gather(1, best).squeeze(1)
            y = t["rewards"] + cfg.gamma ** t["n_step"] * (1.0 - t["terminateds"].float()) * q_next
        loss = (t["weights"] * nn.functional.huber_loss(q_sel, y, reduction="none")).mean()
        optim.zero_grad()
        loss.backward()
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(q.parameters(), cfg.grad_clip)
        optim.step()

    for _ in range(5):
        update()
    if device != "cpu":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeats):
        update()
    if device != "cpu":
        torch.cuda.synchronize()
    return {
        "ms_per_update": round(1000 * (time.perf_counter() - t0) / repeats, 3),
        "parameters": sum(p.numel() for p in q.parameters()),
    }


def learner_only_ms(algo, repeats: int) -> float:
    """The fast path's learner call alone (buffer sample, tensors, RLlib's update, priorities)."""
    buffer, cfg = algo.local_replay_buffer, algo.config
    from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch

    def once():
        columns = buffer.sample(cfg.total_train_batch_size)
        indices = columns.pop(INDICES)
        results = algo.learner_group.update(
            batch=MultiAgentBatch({"default_policy": SampleBatch(columns)}, cfg.total_train_batch_size),
            timesteps={"num_env_steps_sampled_lifetime": 10**6},
            fast_updates=1,
        )
        td = results[0]["default_policy"].pop("td_error").peek()
        buffer.update_priorities(indices, np.concatenate([np.ravel(np.asarray(x)) for x in td]))

    for _ in range(5):
        once()
    t0 = time.perf_counter()
    for _ in range(repeats):
        once()
    return round(1000 * (time.perf_counter() - t0) / repeats, 3)


def sync_ms(algo, repeats: int = 20) -> float:
    """One weight sync learner -> env runners (what `weights_sync_interval` spaces out)."""
    t0 = time.perf_counter()
    for _ in range(repeats):
        algo.env_runner_group.sync_weights(
            from_worker_or_learner_group=algo.learner_group, policies={"default_policy"}, inference_only=True
        )
    return round(1000 * (time.perf_counter() - t0) / repeats, 3)


def side_by_side(env_id: str, seconds: float, repeats: int, gpus: float = 0.0, envs: int = 1) -> dict:
    """RLlib's path and the fast one (and, with envs > 1, the fast one with `envs` envs in its
    runner) interleaved; bare torch and the fast learner call timed after."""
    algos = {path: build(env_id, path, gpus=gpus) for path in ("rllib", "fast")}
    if envs > 1:
        algos[f"fast_{envs}_envs"] = build(env_id, "fast", gpus=gpus, envs=envs)
    device = "cuda" if gpus and torch.cuda.is_available() else "cpu"
    try:
        for algo in algos.values():
            warm_up(algo)
        row = {"env": env_id, **interleaved(algos, seconds)}
        fast = algos["fast"]
        batch = fast.local_replay_buffer.sample(fast.config.total_train_batch_size)
        batch.pop(INDICES)
        # bare torch and the fast learner call, alternated three times (take the medians)
        bare, learner = [], []
        for _ in range(3):
            bare.append(bare_torch_ms(env_id, batch, fast.config, repeats, device))
            learner.append(learner_only_ms(fast, repeats))
        row["bare_torch_ms_per_update"] = float(np.median([b["ms_per_update"] for b in bare]))
        row["bare_torch_parameters"] = bare[0]["parameters"]
        row["rllib_module_parameters"] = sum(
            p.numel()
            for n, p in fast.learner_group._learner.module["default_policy"].named_parameters()
            if "target" not in n
        )
        row["fast_learner_call_ms_per_update"] = float(np.median(learner))
        row["sync_weights_ms"] = sync_ms(fast)
        updates_per_step = (
            fast.config.get_rollout_fragment_length()
            * fast.config.training_intensity
            / fast.config.total_train_batch_size
        )
        row["training_step_ms_without_sync"] = round(updates_per_step * row["fast"]["ms_per_update_all_included"], 2)
        for name in algos:
            if name.startswith("fast_"):
                row[f"speedup_env_steps_per_s_{name}"] = round(
                    row[name]["env_steps_per_s"] / row["rllib"]["env_steps_per_s"], 2
                )
        row["ratios"] = {
            "speedup_per_update_all_included": round(
                row["rllib"]["ms_per_update_all_included"] / row["fast"]["ms_per_update_all_included"], 2
            ),
            "speedup_env_steps_per_s": round(row["fast"]["env_steps_per_s"] / row["rllib"]["env_steps_per_s"], 2),
            "fast_learner_call_over_bare_torch": round(
                row["fast_learner_call_ms_per_update"] / row["bare_torch_ms_per_update"], 2
            ),
            "fast_without_sampling_over_bare_torch": round(
                row["fast"]["ms_per_update_without_sampling"] / row["bare_torch_ms_per_update"], 2
            ),
        }
        return row
    finally:
        for algo in algos.values():
            algo.stop()


def threads(env_id: str, seconds: float, repeats: int) -> dict:
    """The learner's torch threads: 1 against "auto", interleaved in one process (acting keeps
    one thread in both), and bare torch per update at 1 and at every core."""
    cores = process_cores()
    envs = preset_for(env_id)["env_runners"].get("num_envs_per_env_runner", 1)
    algos = {
        name: build(env_id, "fast", envs=envs, learner_threads=setting)
        for name, setting in (("learner_1_thread", 1), ("learner_auto", "auto"))
    }
    try:
        for algo in algos.values():
            warm_up(algo)
        row = {"env": env_id, "cores": cores, "envs_per_runner": envs, **interleaved(algos, seconds)}
        fast = algos["learner_1_thread"]
        batch = fast.local_replay_buffer.sample(fast.config.total_train_batch_size)
        batch.pop(INDICES)
        for n in (1, cores):
            ms = bare_torch_ms(env_id, batch, fast.config, repeats, threads=n)["ms_per_update"]
            row[f"bare_torch_ms_per_update_{n}_threads"] = ms
        torch.set_num_threads(1)
        row["auto_over_1_thread_env_steps_per_s"] = round(
            row["learner_auto"]["env_steps_per_s"] / row["learner_1_thread"]["env_steps_per_s"], 2
        )
        return row
    finally:
        for algo in algos.values():
            algo.stop()


def sweep(env_id: str, runners: list[int], envs: list[int], seconds: float, gpus: float) -> list[dict]:
    rows = []
    for r in runners:
        for e in envs:
            algo = build(env_id, "fast", runners=r, envs=e, gpus=gpus, steps_per_iter=max(256, 64 * max(r, 1) * e))
            try:
                warm_up(algo)
                res = interleaved({"fast": algo}, seconds)["fast"]
            finally:
                algo.stop()
            rows.append({"env": env_id, "runners": r, "envs_per_runner": e, **res})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def batch_scaling(env_id: str, sizes: list[int], repeats: int, gpus: float) -> list[dict]:
    """Bare torch cost of one update at several batch sizes (random transitions: cost only)."""
    env = make_env(env_id, preset_for(env_id).get("env_config", {}))
    space = env.observation_space
    env.close()
    cfg = build_config(env_id, preset_for(env_id))
    device = "cuda" if gpus and torch.cuda.is_available() else "cpu"
    rng = np.random.default_rng(0)
    rows = []
    for size in sizes:
        obs = rng.integers(0, 256, (2 * size, *space.shape)).astype(space.dtype)
        batch = {
            "obs": obs[:size],
            "new_obs": obs[size:],
            "actions": rng.integers(0, 7, size),
            "rewards": rng.normal(size=size).astype(np.float32),
            "terminateds": np.zeros(size, bool),
            "n_step": np.ones(size, np.float32),
            "weights": np.ones(size, np.float32),
        }
        ms = bare_torch_ms(env_id, batch, cfg, max(5, repeats // max(1, size // 64)), device)["ms_per_update"]
        rows.append(
            {
                "env": env_id,
                "device": device,
                "batch": size,
                "ms_per_update": ms,
                "ms_per_64_samples": round(ms * 64 / size, 3),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


# ---- prediction -------------------------------------------------------------------------


def predict(facefusion: dict, sweep_rows: list[dict], gpu_update_ms: float, cartpole: dict | None = None) -> list[dict]:
    """Synchronous DQN: a training step samples S env steps (runners in parallel), then learns
    S * u updates, so

        env steps/s = 1 / (1 / (R * s) + u * c)

    R runners, s = env steps/s of one runner on one core (measured here: the local runner's
    sampling time, best envs per runner), u = updates per env step (training_intensity /
    batch), c = seconds per update: the fast learner call measured here for a CPU learner; for
    a GPU, RLlib's Python overhead per update measured here (learner call minus bare torch, on
    CartPole where the network is negligible, else FaceFusion) plus
    `gpu_update_ms`, an assumption for the network on the GPU, taken as flat from batch 64 to
    512 (README: batch scaling). Cores: 16 per node, 2 kept for the driver and the learner."""
    cfg = preset_for("FaceFusion-v0")["training"]
    local = [row for row in sweep_rows if row.get("sampling_env_steps_per_s")]
    best = max(local, key=lambda row: row["sampling_env_steps_per_s"])
    s = best["sampling_env_steps_per_s"]
    cpu_ms = facefusion["fast_learner_call_ms_per_update"]
    source = cartpole or facefusion
    overhead_ms = max(source["fast_learner_call_ms_per_update"] - source["bare_torch_ms_per_update"], 0.0)
    rows = []
    for name, runners, learner, batch, ms in [
        ("this machine (2 cores), 1 runner", 1, "CPU", 64, cpu_ms),
        ("16-core node, 14 runners", 14, "CPU", 64, cpu_ms),
        ("16-core node + 1 GPU, 14 runners", 14, "1 GPU", 64, overhead_ms + gpu_update_ms),
        ("16-core node + 1 GPU, 14 runners", 14, "1 GPU", 512, overhead_ms + gpu_update_ms),
        ("8 nodes x 16 cores + 1 GPU, 126 runners", 126, "1 GPU", 512, overhead_ms + gpu_update_ms),
    ]:
        u = cfg["training_intensity"] / batch
        sampling, learning = runners * s, 1000 / (u * ms)
        rows.append(
            {
                "setup": name,
                "learner": learner,
                "batch": batch,
                "envs_per_runner": best["envs_per_runner"],
                "runner_steps_per_s": round(s),
                "ms_per_update": round(ms, 2),
                "sampling_bound": round(sampling),
                "learner_bound": round(learning),
                "predicted_env_steps_per_s": round(1 / (1 / sampling + 1 / learning)),
            }
        )
    return rows


def markdown(results: dict) -> str:
    lines = []
    for row in results.get("side_by_side", []):
        lines += [
            (
                f"**{row['env']}** (batch 64, 0 runners, one thread; bare torch {row['bare_torch_ms_per_update']} "
                f"ms, {row['bare_torch_parameters']} parameters vs RLlib module {row['rllib_module_parameters']})"
            ),
            "",
            "| path | ms/update all included | ms/update without sampling | env steps/s |",
            "|---|---|---|---|",
        ]
        for path in [name for name, value in row.items() if isinstance(value, dict) and "env_steps_per_s" in value]:
            r = row[path]
            lines.append(
                f"| {path} | {r['ms_per_update_all_included']} | {r['ms_per_update_without_sampling']} "
                f"| {r['env_steps_per_s']} |"
            )
        lines += [
            "",
            f"fast learner call alone: {row['fast_learner_call_ms_per_update']} ms/update; one weight sync "
            f"{row['sync_weights_ms']} ms vs {row['training_step_ms_without_sync']} ms per training step; ratios: "
            + ", ".join(f"{k} {v}" for k, v in row["ratios"].items()),
            "",
        ]
    if results.get("sweep"):
        lines += ["| runners | envs/runner | env steps/s | ms/update all included |", "|---|---|---|---|"]
        for row in results["sweep"]:
            lines.append(
                f"| {row['runners']} | {row['envs_per_runner']} | {row['env_steps_per_s']} "
                f"| {row['ms_per_update_all_included']} |"
            )
        lines.append("")
    if results.get("batch"):
        lines += ["| device | batch | bare torch ms/update | ms per 64 samples |", "|---|---|---|---|"]
        lines += [
            f"| {r['device']} | {r['batch']} | {r['ms_per_update']} | {r['ms_per_64_samples']} |"
            for r in results["batch"]
        ]
        lines.append("")
    if results.get("predict"):
        keys = list(results["predict"][0])
        lines += ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        lines += ["| " + " | ".join(str(row[k]) for k in keys) + " |" for row in results["predict"]]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sections", nargs="+", default=["cartpole", "facefusion", "sweep", "batch", "predict"])
    p.add_argument("--seconds", type=float, default=20.0, help="training seconds per path and row")
    p.add_argument("--repeats", type=int, default=100, help="updates per bare-torch / learner-call timing")
    p.add_argument("--runners", type=int, nargs="+", default=[0, 1])
    p.add_argument("--envs", type=int, nargs="+", default=[1, 4])
    p.add_argument(
        "--side-envs",
        type=int,
        default=4,
        help="FaceFusion side by side: also the fast path with this many envs per runner (1 = off)",
    )
    p.add_argument("--num-gpus-per-learner", type=float, default=0.0)
    p.add_argument(
        "--gpu-update-ms",
        type=float,
        default=1.5,
        help="assumed network time of one FaceFusion update on a GPU, for the prediction",
    )
    p.add_argument("--reuse", default=None, help="results JSON of an earlier run: sections not run now come from it")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    ray.init(
        address="local", num_cpus=max(2, max(args.runners) + 1), include_dashboard=False, logging_level=logging.WARNING
    )
    results: dict = {"side_by_side": []}
    try:
        if "cartpole" in args.sections:
            results["side_by_side"].append(
                side_by_side("CartPole-v1", args.seconds, args.repeats, args.num_gpus_per_learner)
            )
            print(json.dumps(results["side_by_side"][-1]), flush=True)
        if "facefusion" in args.sections:
            results["side_by_side"].append(
                side_by_side("FaceFusion-v0", args.seconds, args.repeats, args.num_gpus_per_learner, args.side_envs)
            )
            print(json.dumps(results["side_by_side"][-1]), flush=True)
        if "threads" in args.sections:
            results["threads"] = threads("FaceFusion-v0", args.seconds, max(10, args.repeats // 5))
            print(json.dumps(results["threads"]), flush=True)
        if "sweep" in args.sections:
            results["sweep"] = sweep("FaceFusion-v0", args.runners, args.envs, args.seconds, args.num_gpus_per_learner)
        if "batch" in args.sections:
            results["batch"] = batch_scaling("FaceFusion-v0", [64, 256, 1024], args.repeats, args.num_gpus_per_learner)
        if args.reuse:  # sections not run now come from an earlier run's results
            earlier = json.loads(Path(args.reuse).read_text())
            envs_now = {row["env"] for row in results["side_by_side"]}
            results["side_by_side"] += [r for r in earlier.get("side_by_side", []) if r["env"] not in envs_now]
            for key in ("sweep", "batch"):
                if key not in results and key in earlier:
                    results[key] = earlier[key]
            results["reused_from"] = {"file": args.reuse, "sections": sorted(set(earlier) - set(args.sections))}
        by_env = {row["env"]: row for row in results["side_by_side"]}
        if "predict" in args.sections and "FaceFusion-v0" in by_env and results.get("sweep"):
            results["predict"] = predict(
                by_env["FaceFusion-v0"], results["sweep"], args.gpu_update_ms, by_env.get("CartPole-v1")
            )
    finally:
        ray.shutdown()
    print(markdown(results))
    if args.out:
        from agents.run_dir import atomic_write_json

        atomic_write_json(args.out, results)


if __name__ == "__main__":
    main()
