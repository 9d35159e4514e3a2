"""Optional: build face-set shards as Ray tasks across a cluster (`prepare --address`).

Imported only when an address is given, so `envs` needs no Ray otherwise. Each task runs the
same pipeline on one shard's photos (a few threads, as locally) and returns its faces through
the object store; the driver writes the shards, so only the driver needs the cache dir. The
photos are read by the tasks: a folder source must be at the same path on every node (a shared
file system). Tasks are spread over the nodes and at most two per cluster CPU are in flight,
which bounds the driver's memory.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator

import ray

from .pipeline import Settings, run
from .sources import Item

THREADS_PER_TASK = 2  # mediapipe waits part of each call: two threads keep one CPU busy


def _shard(k: int, items: list[Item], settings: Settings, threads: int):
    roots = {os.path.dirname(it.path) for it in items if it.path is not None}
    for root in roots:  # a node without the folder must fail, not report every photo missing
        if not os.path.isdir(root):
            raise FileNotFoundError(
                f"node {ray.get_runtime_context().get_node_id()[:12]}: photo folder {root!r} "
                "does not exist here (prepare --address needs the photos at the same path "
                "on every node)"
            )
    faces, skipped = run(items, settings, workers=threads)
    return k, faces, skipped, ray.get_runtime_context().get_node_id()


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail within seconds on an unreachable `host:port` (ray.init retries for minutes)."""
    host, sep, port = address.rpartition(":")
    if address == "auto" or address.startswith("ray://") or not sep:
        return
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except (OSError, ValueError) as exc:
        raise ConnectionError(
            f"--address {address}: cannot reach a Ray head there ({exc}); start one with "
            "`ray start --head`, or pass 'auto' on a node of the cluster"
        ) from None


def _runtime_env() -> dict:
    """Ship the `envs` package to workers (not needed under `ray job submit`, whose
    --working-dir carries it)."""
    if os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR"):
        return {}
    import envs

    return {"py_modules": [os.path.dirname(envs.__file__)], "env_vars": {"OMP_NUM_THREADS": "1"}}


def ray_shards(
    address: str,
    todo: list[tuple[int, list[Item]]],
    settings: Settings,
    tick: Callable[[int], None],
    nodes: dict[str, int],
) -> Iterator[tuple[int, list, list]]:
    """Yield (shard index, faces, skipped) as Ray tasks finish. Joins the cluster at `address`
    ("auto", "host:port") unless Ray is already initialised in this process; `nodes` counts
    the shards each node built."""
    own = not ray.is_initialized()
    if own:
        check_reachable(address)
        try:
            ray.init(address=address, logging_level=logging.WARNING, runtime_env=_runtime_env())
        except ConnectionError as exc:
            raise ConnectionError(f"--address {address}: could not connect to a Ray cluster ({exc})") from None
    try:
        task = ray.remote(num_cpus=1, scheduling_strategy="SPREAD", max_retries=2)(_shard)
        limit = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
        sizes = {k: len(items) for k, items in todo}
        queue, pending = list(todo), []
        while queue or pending:
            while queue and len(pending) < limit:
                k, items = queue.pop(0)
                pending.append(task.remote(k, items, settings, THREADS_PER_TASK))
            ready, pending = ray.wait(pending, num_returns=1)
            k, faces, skipped, node = ray.get(ready[0])
            nodes[node] = nodes.get(node, 0) + 1
            tick(sizes[k])
            yield k, faces, skipped
    finally:
        if own:
            ray.shutdown()
