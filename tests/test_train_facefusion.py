"""A short real DQN training on FaceFusion-v0: validation success the random policy cannot reach,
the best checkpoint kept and used by the held-out report."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_short_training_learns_and_keeps_its_best_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "train.py",
            "--env",
            "FaceFusion-v0",
            "--stop-timesteps",
            "12000",
            "--seed",
            "0",
            "--run-dir",
            str(run_dir),
            "--eval-episodes",
            "40",
            "--checkpoint-every",
            "0",
            "--no-progress",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((run_dir / "result.json").read_text())
    best = result["best_validation"]
    # random play never stops in place (0% success); a policy that learned nothing stays near it
    assert best["success_rate"] >= 0.3, best
    assert Path(result["best_checkpoint"]) == run_dir / "best"
    assert json.loads((run_dir / "best" / "state.json").read_text())["validation"] == best
    # no logged validation beats best/ (the final one, after the loop, is not logged)
    rows = [r for r in (run_dir / "progress.csv").read_text().splitlines()[1:]]
    header = (run_dir / "progress.csv").read_text().splitlines()[0].split(",")
    col = header.index("val_success_rate")
    vals = [float(r.split(",")[col]) for r in rows if r.split(",")[col]]
    assert vals and max(vals) <= best["success_rate"]
    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
    assert metrics["meta"]["split"] == "heldout" and metrics["meta"]["which"] == "best"
    assert metrics["meta"]["checkpoint"].startswith(str(run_dir / "best"))
    policy, random = metrics["policy"], metrics["random"]
    assert policy["success_rate"] >= random["success_rate"] + 0.1, (policy, random)
    assert policy["mean_position_error_px"] < random["mean_position_error_px"], (policy, random)
