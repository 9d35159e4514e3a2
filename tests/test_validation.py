"""Validation during training: fixed episodes, best-checkpoint bookkeeping, the stop rule."""

import json

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401
from agents import training as tr
from agents.run_dir import RunDir
from agents.validation import NOT_VALIDATED, Validator, play_greedy, summarize_episodes, validation_env_config
from envs.face_fusion import STOP


def _envs(n=3, split="validation"):
    return [gym.make("FaceFusion-v0", split=split) for _ in range(n)]


def test_play_greedy_episodes_depend_only_on_their_seeds():
    seeds = list(range(100, 107))
    stop = lambda o: np.full(len(o), STOP)  # noqa: E731
    in_threes = play_greedy(stop, _envs(3), seeds)
    one_by_one = play_greedy(stop, _envs(1), seeds)
    assert [f["position_error_px"] for f in in_threes] == [f["position_error_px"] for f in one_by_one]
    assert len({round(f["position_error_px"], 6) for f in in_threes}) == 7  # seven different starts
    assert all(f["steps"] == 1 and f["stopped"] and not f["success"] for f in in_threes)


def test_a_policy_that_moves_then_stops_is_scored_per_episode():
    env_list = _envs(4)
    # the oracle reads the env's state: one env at a time, so the actor knows which env it is
    finals = []
    for seed in range(30, 34):
        env = env_list[0]
        finals += play_greedy(lambda o, e=env: np.array([e.unwrapped.oracle_action()]), [env], [seed])
    summary = summarize_episodes(finals)
    assert summary["success_rate"] == 1.0 and summary["episodes"] == 4 and summary["mean_steps"] > 2
    stop_now = summarize_episodes(play_greedy(lambda o: np.full(len(o), STOP), env_list, list(range(30, 34))))
    assert stop_now["success_rate"] == 0.0 and stop_now["mean_steps"] == 1.0


def test_validation_env_config_drops_training_only_keys():
    preset = {
        "env_config": {"aligned_start_prob": 0.1, "augment": True},
        "validation": {"env_config": {"split": "validation"}},
    }
    cfg = validation_env_config(
        preset, {"faces": "photos/", "realism_checkpoint": "d/", "obs_size": 64, "split": "train"}
    )
    assert cfg == {"faces": "photos/", "obs_size": 64, "split": "validation"}
    assert not set(cfg) & (set(NOT_VALIDATED) - {"split"})


class FakeAlgo:
    """Stands in for an RLlib Algorithm: `save_to_path` writes which weights it holds."""

    def __init__(self):
        self.weights = 0

    def save_to_path(self, path):
        (__import__("pathlib").Path(path) / "weights.txt").write_text(str(self.weights))


def _training(tmp_path, scores, resume=False):
    t = tr.Training(tr.TrainOptions(env="FaceFusion-v0", run_dir=str(tmp_path / "run")), resume=resume)
    t.prepare_run_dir()
    t.algo = FakeAlgo()
    it = iter(scores)

    class FakeValidator:
        envs = [type("E", (), {"observation_space": None, "action_space": None})()]

        def __call__(self, module):
            success, steps = next(it)
            return {
                "success_rate": success,
                "mean_steps": steps,
                "steps_over_oracle": steps / 7.5,
                "mean_return": 0.0,
                "episodes": 100,
            }

    t.validator = FakeValidator()
    return t


def test_a_worse_later_validation_never_replaces_best(tmp_path, monkeypatch):
    monkeypatch.setattr("agents.validation.learner_module", lambda *a: None)
    t = _training(tmp_path, [(0.5, 9.0), (0.8, 9.0), (0.6, 7.0), (0.8, 9.5), (0.8, 8.0)])
    best_weights = []
    for weights in range(1, 6):
        t.algo.weights = weights
        t.state.iteration = weights
        t.validate()
        best_weights.append(int((t.run.path / "best" / "weights.txt").read_text()))
    # 0.6 < 0.8 and a tie with more steps keep the old best; a tie with fewer steps wins
    assert best_weights == [1, 2, 2, 2, 5]
    state = json.loads((t.run.path / "best" / "state.json").read_text())
    assert state["validation"]["success_rate"] == 0.8 and state["validation"]["iteration"] == 5
    assert not list(t.run.path.glob(".old-*")) and not list(t.run.path.glob(".tmp-*"))


def test_resume_keeps_best(tmp_path, monkeypatch):
    monkeypatch.setattr("agents.validation.learner_module", lambda *a: None)
    t = _training(tmp_path, [(0.9, 8.0)])
    t.algo.weights = 7
    t.validate()
    # a periodic checkpoint older than best/ (as after a crash between the two)
    t.run.save_checkpoint(1, t.algo.save_to_path, {"iteration": 1, "env_steps": 10})
    resumed = _training(tmp_path, [(0.85, 8.0)], resume=True)
    assert resumed.state.best_validation["success_rate"] == 0.9
    resumed.algo.weights = 8
    resumed.validate()
    assert (resumed.run.path / "best" / "weights.txt").read_text() == "7"


def test_best_survives_a_crash_between_renames(tmp_path):
    run = RunDir(tmp_path / "run")
    run.create({})
    run.save_best(lambda p: None, {"validation": {"success_rate": 0.7}})
    (run.path / "best").rename(run.path / ".old-best")  # cut off after moving the old one aside
    path, state = run.best_checkpoint()
    assert path.name == ".old-best" and state["validation"]["success_rate"] == 0.7


def test_stop_on_success_needs_consecutive_validations():
    stops = {"return": None, "success": 0.95, "success_consecutive": 2, "timesteps": None, "minutes": 15.0}
    summary = {"eval_return": None, "eval_success_rate": None, "env_steps": 1000, "val_success_rate": 0.97}
    assert tr.check_stop(summary, stops, 1.0, validation_streak=1) is None
    assert tr.check_stop(summary, stops, 1.0, validation_streak=2) == "stop_success"
    assert tr.check_stop({**summary, "val_success_rate": None}, stops, 15.0, 5) == "stop_minutes"
    # without validation the greedy-evaluation rule applies
    plain = {**summary, "val_success_rate": None, "eval_success_rate": 0.96}
    assert tr.check_stop(plain, {**stops, "success_consecutive": 1}, 1.0) == "stop_success"


def test_validator_measures_steps_against_the_oracle():
    validator = Validator(lambda: gym.make("FaceFusion-v0", split="validation"), episodes=6, batch=3)
    assert validator.oracle_steps > 2  # starts are outside the tolerance: the oracle moves first
    stop_now = validator.score(lambda o: np.full(len(o), STOP))
    assert stop_now["mean_steps"] == 1.0
    assert stop_now["steps_over_oracle"] == pytest.approx(1.0 / validator.oracle_steps)


def test_steps_over_oracle_gates_the_success_stop_and_the_best_model():
    stops = {"success": 0.95, "success_consecutive": 2, "steps_over_oracle": 1.3}
    quick = {"success_rate": 0.96, "mean_steps": 9.0, "steps_over_oracle": 1.2}
    hesitant = {"success_rate": 0.99, "mean_steps": 12.0, "steps_over_oracle": 1.6}
    assert tr.meets_stop(quick, stops) and not tr.meets_stop(hesitant, stops)
    assert tr.meets_stop(hesitant, {**stops, "steps_over_oracle": None})
    assert tr.meets_stop({"success_rate": 0.96, "mean_steps": 9.0}, stops)  # not measured: success alone
    assert not tr.meets_stop({**quick, "success_rate": 0.9}, stops)
    # a model that meets the stop beats a higher success rate that does not; without stops, success first
    assert tr.is_better(quick, hesitant, stops) and not tr.is_better(hesitant, quick, stops)
    assert tr.is_better(hesitant, quick)


def test_validation_streak_counts_only_validations_that_meet_the_stop(tmp_path, monkeypatch):
    monkeypatch.setattr("agents.validation.learner_module", lambda *a: None)
    t = _training(tmp_path, [(0.97, 8.0), (0.97, 12.0), (0.97, 8.0), (0.96, 8.5)])
    t.stops = {**t.stops, "success": 0.95, "steps_over_oracle": 1.3}
    streaks = []
    for _ in range(4):
        t.validate()
        streaks.append(t.state.validation_streak)
    assert streaks == [1, 0, 1, 2]


@pytest.mark.parametrize(
    "key, group",
    [("val_success_rate", "eval"), ("eval_return", "eval"), ("learner_loss", "losses"), ("train_return", "charts")],
)
def test_tensorboard_groups(key, group):
    assert tr.tensorboard_tag(key) == f"{group}/{key}"


def test_progress_gains_a_new_column_without_shifting_old_rows(tmp_path):
    run = RunDir(tmp_path / "run")
    run.create({})
    run.append_progress({"iteration": 1, "val_success_rate": 0.5})
    run.append_progress({"iteration": 2, "val_success_rate": 0.7, "val_steps_over_oracle": 1.4})
    run.append_progress({"iteration": 3, "val_success_rate": 0.9, "val_steps_over_oracle": 1.2})
    rows = run.read_progress()
    assert [r["val_success_rate"] for r in rows] == ["0.5", "0.7", "0.9"]
    assert [r["val_steps_over_oracle"] for r in rows] == ["", "1.4", "1.2"]
    run.truncate_progress(2)
    assert [r["iteration"] for r in run.read_progress()] == ["1", "2"]
