"""Cluster operation: env runner loss, driver loss and resume, clear errors."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from agents.run_dir import RunDir

ROOT = Path(__file__).resolve().parents[1]


def child_env() -> dict:
    """The environment for a train.py child, read at call time: an in-process Ray cluster that
    an earlier test started with token auth has set RAY_AUTH_MODE=token in os.environ, and a
    child joining a cluster of this process must use the same mode."""
    return {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "PYTHONUNBUFFERED": "1"}


def _train(*args, **kwargs):
    # these runs must end on their step counts: CartPole's preset would otherwise stop them
    # early once the greedy return reaches 475 (seen at ~8k steps)
    return subprocess.Popen(
        [sys.executable, "train.py", "--no-progress", "--stop-return", "1e9", *args],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def _wait_for(predicate, timeout, proc=None, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"training exited early ({proc.returncode}) waiting for {what}:\n{proc.stdout.read()[-3000:]}")
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def _progress_rows(run_dir):
    return RunDir(run_dir).read_progress()


def test_checkpoint_save_crash_keeps_previous(tmp_path):
    run = RunDir(tmp_path)
    run.create({})

    def good(path):
        Path(path, "weights").write_text("v1")

    def crash(path):
        Path(path, "weights").write_text("half")
        raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of a save

    run.save_checkpoint(1, good, {"iteration": 1})
    with pytest.raises(KeyboardInterrupt):
        run.save_checkpoint(2, crash, {"iteration": 2})
    latest, state = run.latest_checkpoint()
    assert latest.name == "iter_000001" and state["iteration"] == 1
    assert (latest / "weights").read_text() == "v1"
    assert [p.name for p in run.checkpoints.iterdir()] == ["iter_000001"]  # no half-written leftovers


def _train_fails(*args, timeout):
    """train.py run to its end: (exit code, stderr)."""
    proc = subprocess.run(
        [sys.executable, "train.py", "--env", "CartPole-v1", *args],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, proc.stderr


def test_unreachable_address_fails_fast(tmp_path):
    t0 = time.time()
    rc, stderr = _train_fails("--address", "127.0.0.1:9", "--run-dir", str(tmp_path / "r"), timeout=120)
    assert rc == 2
    assert "cannot reach a Ray head" in stderr
    assert time.time() - t0 < 30


def test_too_few_cpus_is_reported(tmp_path):
    rc, stderr = _train_fails("--num-env-runners", "64", "--run-dir", str(tmp_path / "r"), timeout=180)
    assert rc == 2
    assert "need 64" in stderr and "CPUs" in stderr


@pytest.mark.slow
def test_driver_killed_then_resumed(tmp_path):
    run_dir = tmp_path / "run"
    proc = _train(
        "--env",
        "CartPole-v1",
        "--stop-timesteps",
        "20000",
        "--checkpoint-every",
        "1",
        "--run-dir",
        str(run_dir),
        "--eval-episodes",
        "0",
        start_new_session=True,
    )
    try:
        _wait_for(lambda: len(RunDir(run_dir).list_checkpoints()) >= 2, 300, proc, "two checkpoints")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver dies with everything it started
        proc.wait()
    assert not (run_dir / "result.json").exists()
    _, state = RunDir(run_dir).latest_checkpoint()
    resumed = subprocess.run(
        [
            sys.executable,
            "train.py",
            "--no-progress",
            "--resume",
            str(run_dir),
            "--stop-timesteps",
            str(state["env_steps"] + 2000),
        ],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    result = json.loads((run_dir / "result.json").read_text())
    assert result["resumed"] is True
    assert result["iterations"] >= state["iteration"] + 2
    assert result["env_steps"] >= state["env_steps"] + 2000
    rows = _progress_rows(run_dir)
    assert [int(r["iteration"]) for r in rows] == list(range(1, result["iterations"] + 1))
    steps = [int(r["env_steps"]) for r in rows]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)


@pytest.mark.slow
def test_env_runner_killed_training_continues(tmp_path):
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    run_dir = tmp_path / "run"
    try:
        # steps enough after the kill for the restarted runner to be probed back before the end
        proc = _train(
            "--env",
            "CartPole-v1",
            "--address",
            cluster.address,
            "--num-env-runners",
            "2",
            "--stop-timesteps",
            "9000",
            "--checkpoint-every",
            "0",
            "--run-dir",
            str(run_dir),
        )

        def runner_processes():
            # only this cluster's runners (children of its raylets): other Ray work on the
            # machine must not be the one killed
            raylets = [
                info.process.pid
                for node in (cluster.head_node, *cluster.worker_nodes)
                for info in node.all_processes.get("raylet", [])
            ]
            found = []
            for pid in raylets:
                for p in psutil.Process(pid).children(recursive=True):
                    try:
                        if any("SingleAgentEnvRunner" in part for part in p.cmdline()):
                            found.append(p)
                    except psutil.Error:
                        pass
            return found

        _wait_for(
            lambda: len(_progress_rows(run_dir)) >= 1 and len(runner_processes()) >= 2, 300, proc, "the first iteration"
        )
        runner_processes()[0].kill()
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out[-3000:]
    finally:
        cluster.shutdown()
    result = json.loads((run_dir / "result.json").read_text())
    assert result["stopped_because"] == "stop_timesteps" and result["env_steps"] >= 9000
    assert result["env_runner_restarts"] >= 1, (result, out[-3000:])
    assert result["cluster"]["nodes"] == 2
