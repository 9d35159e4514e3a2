"""How many torch threads the learner's updates use.

DQN here is synchronous: the env runners wait while the learner updates, so the update may use
their cores (on 2 cores, 2 threads: ~1.5x FaceFusion training env steps/s, BENCHMARKS.md);
acting keeps one thread (agents.config.make_env). But threads pay only on idle cores: beside
another busy job, a 2-thread update on 2 cores ran 25x slower than a 1-thread one (OpenMP
workers waiting for a descheduled peer). So "auto" does not trust the core count: it times
both choices and keeps the faster, probing the other now and then.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager

import torch


def resolve_learner_threads(config) -> int:
    """The most torch threads a learner built from `config` may update with: its
    `learner_threads` when set; "auto": a remote learner's `num_cpus_per_learner`, the driver's
    `OMP_NUM_THREADS` when set, else every core this process may run on."""
    setting = getattr(config, "learner_threads", "auto")
    if setting != "auto":
        return int(setting)
    if config.num_learners > 0:  # a remote learner actor: the CPUs Ray reserved for it
        cpus = config.num_cpus_per_learner
        return max(1, int(cpus)) if isinstance(cpus, (int, float)) else 1
    omp = os.environ.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and int(omp) > 0:
        return int(omp)
    return process_cores()


def process_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextmanager
def torch_threads(n: int):
    """torch's intra-op threads set to `n` for the block; the process's own setting after."""
    before = torch.get_num_threads()
    if n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class ThreadChoice:
    """Picks 1 or `most` threads per learner call from measured seconds per update.

    The choice in use keeps a moving average of its seconds per update; the faster one is used
    and the other is tried once after `interval` calls, an interval that doubles (up to
    `max_interval`) each time the try loses, so a slow choice costs little once known, and a
    change of load (another job starts or ends) is noticed. `fixed=True`: always `most`."""

    def __init__(self, most: int, *, fixed: bool = False, interval: int = 8, max_interval: int = 512):
        self.most = max(1, int(most))
        self.choices = (self.most,) if fixed or self.most == 1 else (self.most, 1)
        self.mean: dict[int, float] = {}
        self.min_interval, self.max_interval = interval, max_interval
        self.interval, self.calls_since_probe = interval, 0
        self._warm = False

    def next(self) -> int:
        """The thread count for the next call."""
        if len(self.choices) == 1:
            return self.choices[0]
        untried = [c for c in self.choices if c not in self.mean]
        if untried:
            return untried[0]
        best = self.best()
        if self.calls_since_probe >= self.interval:
            return next(c for c in self.choices if c != best)
        return best

    def best(self) -> int:
        return min(self.choices, key=lambda c: self.mean.get(c, float("inf")))

    def record(self, threads: int, seconds: float, updates: int = 1) -> None:
        if not self._warm:  # the first call pays one-off costs (allocations, lazy init)
            self._warm = True
            return
        per_update = seconds / max(1, updates)
        probing = threads != self.best() and threads in self.mean
        old = self.mean.get(threads)
        # a probe's one fresh measurement replaces its stale mean; the choice in use is averaged
        self.mean[threads] = per_update if old is None or probing else 0.7 * old + 0.3 * per_update
        if probing:
            self.calls_since_probe = 0
            won = self.best() == threads
            self.interval = self.min_interval if won else min(2 * self.interval, self.max_interval)
        else:
            self.calls_since_probe += 1

    @contextmanager
    def timed(self, updates: int = 1):
        """Runs the block with the chosen threads and records how long it took."""
        threads = self.next()
        t0 = time.perf_counter()
        with torch_threads(threads):
            yield threads
        self.record(threads, time.perf_counter() - t0, updates)
