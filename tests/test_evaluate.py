"""agents.evaluate end to end on a tiny FaceFusion checkpoint, and its error messages."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
METRIC_KEYS = {"success_rate", "mean_position_error_px", "mean_iou", "mean_steps", "episodes"}


def _run(*args, timeout=600):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _evaluate_three(run, out, *args) -> dict:
    """`agents.evaluate` of `run` on 3 episodes with extra flags; its metrics.json."""
    proc = _run(
        "-m",
        "agents.evaluate",
        "--checkpoint",
        str(run),
        "--episodes",
        "3",
        *map(str, args),
        "--out",
        str(out),
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((Path(out) / "metrics.json").read_text())


def _train_tiny(tmp: Path, env_id: str = "FaceFusion-v0") -> Path:
    """One short training iteration: a real, if untrained, checkpoint in tmp/run."""
    override = tmp / "fast.json"
    override.write_text(
        json.dumps(
            {"training": {"num_steps_sampled_before_learning_starts": 100}, "evaluation": {"evaluation_duration": 2}}
        )
    )
    run_dir = tmp / "run"
    proc = _run(
        "train.py",
        "--env",
        env_id,
        "--stop-timesteps",
        "500",
        "--run-dir",
        str(run_dir),
        "--config",
        str(override),
        "--eval-episodes",
        "3",
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return _train_tiny(tmp_path_factory.mktemp("tiny"))


def test_swap_run_keeps_the_observation_its_policy_was_trained_on(tmp_path):
    """The swap preset adds keypoint channels (env_config `landmarks`) that no flag names:
    run.json records the policy's env settings and evaluation rebuilds that observation."""
    from agents.run_dir import POLICY_ENV_CONFIG

    run = _train_tiny(tmp_path, "FaceFusionSwap-v0")
    saved = json.loads((run / "run.json").read_text())
    assert saved["env_config"] == {} and saved[POLICY_ENV_CONFIG]["landmarks"] is True
    assert "augment" not in saved[POLICY_ENV_CONFIG]  # training-only settings stay out
    metrics = _evaluate_three(run, tmp_path / "eval", "--split", "validation")
    assert metrics["policy"]["episodes"] == 3 and set(METRIC_KEYS) <= set(metrics["policy"])


def test_training_writes_result_and_report(tiny_run):
    result = json.loads((tiny_run / "result.json").read_text())
    assert result["env"] == "FaceFusion-v0" and result["stopped_because"] == "stop_timesteps"
    metrics = json.loads((tiny_run / "eval" / "metrics.json").read_text())
    assert {"policy", "random", "oracle", "landmark"} <= set(metrics)


def test_evaluate_cli_end_to_end(tiny_run, tmp_path):
    out = tmp_path / "eval"
    proc = subprocess.run(  # relative --checkpoint, as users type it
        [
            sys.executable,
            "-m",
            "agents.evaluate",
            "--checkpoint",
            tiny_run.name,
            "--faces",
            "default",
            "--split",
            "heldout",
            "--episodes",
            "4",
            "--out",
            str(out),
            "--no-progress",
        ],
        cwd=tiny_run.parent,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    for name in ("policy", "random", "oracle", "landmark"):
        assert METRIC_KEYS <= set(metrics[name]), name
        assert metrics[name]["episodes"] == 4
        assert metrics[name]["success_rate"] * 4 in (0, 1, 2, 3, 4)  # a fraction of the 4 episodes
    assert metrics["oracle"]["success_rate"] == 1.0
    assert metrics["landmark"]["mean_steps"] == 1.0
    report = (out / "report.md").read_text()
    assert "| policy |" in report and "| oracle |" in report
    # the default loop rule, named in the metrics and the report (agents.greedy)
    assert metrics["meta"]["loop_rule"] == "stop" and "mean_loop_breaks" in metrics["policy"]
    assert "it says stop (`--loops stop`" in report
    strips = sorted(out.glob("episode_*_strip.png"))
    assert len(strips) == 3
    import imageio.v2 as imageio

    frames = imageio.mimread(out / "episode_0.gif")
    assert len(frames) >= 2
    strip = imageio.imread(strips[0])
    assert strip.shape[1] > 2 * strip.shape[0]  # three frames side by side


def test_evaluate_with_detector_of_another_crop_size(tiny_run, tmp_path):
    """--detector scores each final placement with the critic at its own crop size (a 64 px
    critic here; the env's default realism crop is 32 px)."""
    det = tmp_path / "det64"
    proc = _run("-m", "detectors.train", "--dry-run", "--no-progress", "--image-size", "64", "--out", str(det))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "eval"
    metrics = _evaluate_three(tiny_run, out, "--detector", det)
    for name in ("policy", "random", "oracle", "landmark"):
        assert 0.0 < metrics[name]["mean_realism"] < 1.0, name
    assert "realism" in (out / "report.md").read_text()


def test_evaluate_with_judge(tiny_run, tmp_path):
    """--judge adds the independent judge's mean P(fused) and detection rate per blend mode for
    every policy; a judge given as --detector, or an RL run as --judge, is a one-line error."""
    judge = tmp_path / "judge"
    proc = _run("-m", "detectors.judge", "train", "--dry-run", "--no-progress", "--out", str(judge))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "eval"
    metrics = _evaluate_three(tiny_run, out, "--judge", judge)
    for name in ("policy", "random", "oracle", "landmark"):
        for blend in ("paste", "color", "seamless"):
            assert 0.0 < metrics[name][f"judge_p_fake_{blend}"] < 1.0, (name, blend)
            assert metrics[name][f"judge_detection_rate_{blend}"] in (0.0, 1 / 3, 2 / 3, 1.0), (name, blend)
    assert metrics["meta"]["judge_threshold"] == json.loads((judge / "judge.json").read_text())["threshold"]
    report = (out / "report.md").read_text()
    assert "| policy | paste | color | seamless |" in report
    # the floor: the judge on the same episodes' target photos as they are (held-out, seeds 10000..)
    import gymnasium as gym

    import envs  # noqa: F401
    from detectors.judge_data import env_real_crop
    from detectors.judge_model import Judge

    scorer, env = Judge.from_checkpoint(judge), gym.make("FaceFusion-v0", split="heldout")
    crops = []
    for seed in (10_000, 10_001, 10_002):
        env.reset(seed=seed)
        crops.append(env_real_crop(env))
    real = metrics["meta"]["judge_real"]
    assert real["n"] == 3 and real["p_fake"] == pytest.approx(float(scorer(np.stack(crops)).mean()), abs=1e-6)
    assert real["false_alarm_rate"] == float(np.mean(scorer.detects(np.stack(crops))))
    assert "target photos as they are (no fusion)" in report
    for flag, given, expected in (
        ("--detector", judge, "expected a realism critic"),
        ("--judge", tiny_run, "expected a realism judge"),
    ):
        proc = _run(
            "-m", "agents.evaluate", "--checkpoint", str(tiny_run), flag, str(given), "--out", str(tmp_path / "o")
        )
        assert proc.returncode == 2 and expected in proc.stderr and str(given) in proc.stderr, proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr


def test_checkpoint_loads_without_ray(tiny_run):
    code = (
        "import sys; from agents.checkpoints import resolve, load_module, GreedyPolicy; "
        "import gymnasium as gym, envs; "
        f"m = load_module(resolve(r'{tiny_run}')); env = gym.make('FaceFusion-v0'); "
        "obs, _ = env.reset(seed=0); a = GreedyPolicy(m)(obs, env); assert 0 <= a < 7; "
        "import ray; assert not ray.is_initialized(); print('ok', a)"
    )
    proc = _run("-c", code, timeout=120)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-2000:]


def test_bad_checkpoint_path(tmp_path):
    proc = _run("-m", "agents.evaluate", "--checkpoint", str(tmp_path / "nope"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "no such file or directory" in proc.stderr
    (tmp_path / "empty").mkdir()
    proc = _run("-m", "agents.evaluate", "--checkpoint", str(tmp_path / "empty"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "not a checkpoint" in proc.stderr


def test_wrong_env(tiny_run, tmp_path):
    proc = _run(
        "-m",
        "agents.evaluate",
        "--checkpoint",
        str(tiny_run),
        "--env",
        "FaceFusionSwap-v0",
        "--out",
        str(tmp_path / "o"),
    )
    assert proc.returncode == 2 and "trained on FaceFusion-v0" in proc.stderr
    module_dir = next(tiny_run.glob("checkpoints/iter_*/learner_group/learner/rl_module/default_policy"))
    proc = _run(
        "-m",
        "agents.evaluate",
        "--checkpoint",
        str(module_dir),
        "--env",
        "FaceFusion-v0",
        "--out",
        str(tmp_path / "o2"),
        "--episodes",
        "1",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]  # bare module dir: env given explicitly


def test_training_with_realism_reward_reports_realism(tmp_path):
    """`train.py --env-config realism_checkpoint=DIR` trains with the critic's reward term and
    its final held-out report scores realism with that critic."""
    det = tmp_path / "det"
    proc = _run("-m", "detectors.train", "--dry-run", "--no-progress", "--out", str(det))
    assert proc.returncode == 0, proc.stderr[-3000:]
    override = tmp_path / "fast.json"
    override.write_text(json.dumps({"training": {"num_steps_sampled_before_learning_starts": 100}}))
    run_dir = tmp_path / "run"
    proc = _run(
        "train.py",
        "--env",
        "FaceFusion-v0",
        "--stop-timesteps",
        "300",
        "--run-dir",
        str(run_dir),
        "--config",
        str(override),
        "--eval-episodes",
        "2",
        "--no-progress",
        "--env-config",
        f"realism_checkpoint={det}",
        "--env-config",
        "realism_weight=0.5",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "realism" in proc.stdout
    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
    assert metrics["meta"]["detector"] == str(det)
    for name in ("policy", "oracle"):
        assert 0.0 < metrics[name]["mean_realism"] < 1.0, name
