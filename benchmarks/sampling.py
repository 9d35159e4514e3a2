"""Sampling throughput (env steps/s) of FaceFusion-v0 and CartPole-v1 with 1, 2 and 4 env
runners spread over two local Ray nodes (ray.cluster_utils.Cluster), policy inference
included, learning excluded. On this 2-core machine the nodes share the same two cores, so
the 1-runner rate is the per-core figure a larger cluster multiplies.

    python benchmarks/sampling.py --runners 1 2 4 --steps 4000
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import ray  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from agents.config import build_config  # noqa: E402
from agents.presets import preset_for  # noqa: E402


def throughput(env_id: str, runners: int, steps: int) -> dict:
    config = build_config(env_id, preset_for(env_id), num_env_runners=runners, cpus_per_runner=1)
    algo = config.build_algo()
    try:
        group = algo.env_runner_group
        nodes = group.foreach_env_runner(lambda r: ray.get_runtime_context().get_node_id(), local_env_runner=False)
        per_runner = steps // runners
        group.foreach_env_runner(lambda r: r.sample(num_timesteps=200), local_env_runner=False)  # warm-up
        t0 = time.perf_counter()
        group.foreach_env_runner(lambda r, n=per_runner: r.sample(num_timesteps=n), local_env_runner=False)
        wall = time.perf_counter() - t0
    finally:
        algo.stop()
    return {
        "env": env_id,
        "runners": runners,
        "nodes_used": len(set(nodes)),
        "steps": per_runner * runners,
        "steps_per_s": round(per_runner * runners / wall),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runners", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--envs", nargs="+", default=["CartPole-v1", "FaceFusion-v0"])
    args = p.parse_args()
    half = (max(args.runners) + 1) // 2
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": half})
    cluster.add_node(num_cpus=half)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, include_dashboard=False)
    rows = []
    try:
        for env_id in args.envs:
            for runners in args.runners:
                rows.append(throughput(env_id, runners, args.steps))
                print(json.dumps(rows[-1]), flush=True)
    finally:
        ray.shutdown()
        cluster.shutdown()
    print("| env | env runners | nodes used | steps/s | per runner |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['env']} | {r['runners']} | {r['nodes_used']} | {r['steps_per_s']} | "
            f"{r['steps_per_s'] / r['runners']:.0f} |"
        )


if __name__ == "__main__":
    main()
