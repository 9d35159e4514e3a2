"""A short real DQN training on FaceFusion-v0 beats the random policy on held-out faces."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_short_training_beats_random_on_heldout_faces(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "train.py", "--env", "FaceFusion-v0", "--stop-timesteps", "20000", "--seed", "0",
         "--run-dir", str(run_dir), "--eval-episodes", "40", "--checkpoint-every", "0", "--no-progress"],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
    assert metrics["meta"]["split"] == "heldout"
    policy, random = metrics["policy"], metrics["random"]
    assert policy["success_rate"] >= random["success_rate"] + 0.1, (policy, random)
    assert policy["mean_position_error_px"] < random["mean_position_error_px"], (policy, random)
    result = json.loads((run_dir / "result.json").read_text())
    rows = (run_dir / "progress.csv").read_text().splitlines()
    assert "eval_success_rate" in rows[0] and result["env_steps"] >= 20000
