"""A real training run of train.py on CartPole-v1 to greedy evaluation return >= 450."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_cartpole_reaches_450(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.run(  # a relative --run-dir, as users type it (checkpoints need absolute paths inside)
        [
            sys.executable,
            str(ROOT / "train.py"),
            "--env",
            "CartPole-v1",
            "--stop-return",
            "450",
            "--stop-timesteps",
            "80000",
            "--run-dir",
            "run",
            "--checkpoint-every",
            "2",
            "--no-progress",
            "--seed",
            "1",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((run_dir / "result.json").read_text())
    assert result["stopped_because"] == "stop_return", result
    assert result["best_eval_return"] >= 450
    assert result["env"] == "CartPole-v1" and result["wall_seconds"] > 0
    assert result["best_eval_return"] >= result["final_eval_return"]  # the final evaluation competes for best
    rows = list(csv.DictReader((run_dir / "progress.csv").open()))
    assert int(rows[-1]["env_steps"]) == result["env_steps"] > 0
    assert Path(result["checkpoint"]).is_dir()
    assert (run_dir / "progress.csv").read_text().count("\n") >= 2
    assert (run_dir / "learning_curve.png").stat().st_size > 1000
    assert list(run_dir.glob("events.out.tfevents*"))
