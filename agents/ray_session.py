"""Starting or joining a Ray cluster, with clear errors instead of hangs."""

from __future__ import annotations

import logging
import os

import ray


class ClusterError(RuntimeError):
    pass


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail within seconds on an unreachable `host:port` (ray.init would retry for minutes)."""
    from envs.faces.distributed import check_reachable

    try:
        check_reachable(address, timeout_s)
    except ConnectionError as exc:
        raise ClusterError(f"{exc} (the address `ray start --head` printed, host:6379)") from None


def code_runtime_env() -> dict:
    """Ship this project's packages to remote workers so nodes need no install
    (skipped under `ray job submit`, whose --working-dir already carries them)."""
    if os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR"):  # set in drivers started by the jobs API
        return {}
    import agents
    import detectors
    import envs

    paths = [os.path.dirname(module.__file__) for module in (envs, agents, detectors)]
    return {"py_modules": paths, "env_vars": {"OMP_NUM_THREADS": "1"}}


def connect(address: str | None, *, cpus_needed: float, num_cpus: int | None = None, gpus_needed: float = 0.0) -> dict:
    """Local Ray (dashboard off) when `address` is None, else join the cluster there.
    Checks that the cluster has the CPUs the requested env runners need."""
    if ray.is_initialized():
        ray.shutdown()
    if address is None:
        ray.init(
            address="local",  # always a fresh local instance, never a cluster already running here
            num_cpus=num_cpus,
            include_dashboard=False,
            logging_level=logging.WARNING,
            runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}},
        )
    else:
        if address != "auto":
            _check_reachable(address)
        try:
            ray.init(address=address, logging_level=logging.WARNING, runtime_env=code_runtime_env())
        except ConnectionError as exc:
            raise ClusterError(f"--address {address}: could not connect to a Ray cluster ({exc})") from None
    resources = ray.cluster_resources()
    needs = (
        (
            "CPU",
            cpus_needed,
            "the requested env runners",
            "(num_env_runners + num_eval_runners, times "
            "cpus_per_runner). Lower --num-env-runners, use --cpus-per-runner 0.5, or add nodes.",
        ),
        (
            "GPU",
            gpus_needed,
            "the learners",
            "(--num-gpus-per-learner times max(--num-learners, 1)). Drop "
            "--num-gpus-per-learner to learn on CPUs, or add a GPU node.",
        ),
    )
    for resource, need, who, hint in needs:
        have = float(resources.get(resource, 0))
        if need > have:
            ray.shutdown()
            raise ClusterError(f"the cluster has {have:g} {resource}s but {who} need {need:g} {hint}")
    return {"nodes": len([n for n in ray.nodes() if n.get("Alive")]), "cpus": float(resources.get("CPU", 0))}
