"""The README's cluster recipes, run for real against a CLI-started head on loopback:
(1) `ray start --head` + `python train.py --address ...`, (2) `ray job submit --working-dir .`."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def head():
    # Ray 2.60 turns token auth on for a CLI-started head; drivers and job clients need the same mode.
    env = {
        **os.environ,
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_AUTH_MODE": "token",
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
    }
    temp_dir = tempfile.mkdtemp(prefix="rayh", dir="/tmp")  # short: Ray's socket paths have a length limit
    port, dashboard, agent = _free_port(), _free_port(), _free_port()
    subprocess.run(
        [
            str(BIN / "ray"),
            "start",
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            "--num-cpus=2",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard}",
            f"--dashboard-agent-listen-port={agent}",
            f"--temp-dir={temp_dir}",
            "--disable-usage-stats",
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    yield {"address": f"127.0.0.1:{port}", "dashboard": f"http://127.0.0.1:{dashboard}", "env": env}
    # `ray stop` would end every Ray on the machine; end only this head's processes.
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(temp_dir in part for part in (proc.info["cmdline"] or [])):
                proc.kill()
        except psutil.Error:
            pass
    shutil.rmtree(temp_dir, ignore_errors=True)


def _check_result(run_dir: Path) -> None:
    result = json.loads((run_dir / "result.json").read_text())
    assert result["env_steps"] >= 1000 and result["stopped_because"] == "stop_timesteps"
    assert result["num_env_runners"] == 1


def short_cartpole(run_dir) -> list[str]:
    """train.py arguments of a 1000-step CartPole run with one remote env runner."""
    return [
        "train.py",
        "--env",
        "CartPole-v1",
        "--num-env-runners",
        "1",
        "--stop-timesteps",
        "1000",
        "--run-dir",
        str(run_dir),
        "--no-progress",
    ]


@pytest.mark.slow
def test_recipe_ray_start_then_train_with_address(head, tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            *short_cartpole(run_dir),
            "--address",
            head["address"],
        ],
        cwd=ROOT,
        env=head["env"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    _check_result(run_dir)


@pytest.mark.slow
def test_recipe_ray_job_submit_working_dir(head, tmp_path):
    run_dir = tmp_path / "run"
    excludes = json.dumps({"excludes": [".venv", ".git", "runs", "*.egg-info"]})
    for _ in range(12):  # the head's job agent needs a few seconds after `ray start`
        proc = subprocess.run(
            [
                str(BIN / "ray"),
                "job",
                "submit",
                "--address",
                head["dashboard"],
                "--working-dir",
                ".",
                "--runtime-env-json",
                excludes,
                "--",
                sys.executable,
                *short_cartpole(run_dir),
                "--address",
                "auto",
            ],
            cwd=ROOT,
            env=head["env"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if "No available agent" not in proc.stdout + proc.stderr:
            break
        time.sleep(5)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "succeeded" in proc.stdout + proc.stderr
    _check_result(run_dir)
