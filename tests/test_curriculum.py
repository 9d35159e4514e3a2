"""agents.curriculum: an env setting given as a schedule over the run's env steps reaches
every env of every env runner, is checked before Ray starts, and validation never sees it."""

import logging

import pytest
import ray

from agents.checkpoints import restore_algorithm
from agents.cli import check_env
from agents.config import build_config
from agents.curriculum import split_schedules, value_at
from agents.presets import preset_for
from agents.validation import validation_env_config

SCHEDULE = [[0, 1.0], [200, 0.0]]


def test_schedule_values_and_split():
    points = split_schedules({"aligned_start_prob": [[0, 0.25], [10000, 0.1]], "augment": True})[1][
        "aligned_start_prob"
    ]
    assert value_at(points, 0) == 0.25 and value_at(points, 5000) == pytest.approx(0.175)
    assert value_at(points, 10000) == value_at(points, 1e9) == pytest.approx(0.1)
    plain, schedules = split_schedules({"aligned_start_prob": SCHEDULE, "augment": True})
    assert plain == {"aligned_start_prob": 1.0, "augment": True} and list(schedules) == ["aligned_start_prob"]
    assert split_schedules({"aligned_start_prob": 0.1}) == ({"aligned_start_prob": 0.1}, {})


@pytest.mark.parametrize(
    "env_config, message",
    [
        ({"aligned_start_prob": [[5, 0.2], [10, 0.1]]}, "aligned_start_prob: schedule steps must start at 0"),
        (
            {"aligned_start_prob": [[0, 0.2], [0, 0.1]]},
            "aligned_start_prob: schedule steps must start at 0 and increase",
        ),
        ({"aligned_start_prob": [[0, "x"]]}, r"aligned_start_prob: a schedule is \[\[env_steps, value\]"),
        ({"obs_size": [[0, 64], [10, 84]]}, "obs_size: only .*aligned_start_prob.* may be a schedule"),
    ],
)
def test_malformed_schedules_name_the_setting(env_config, message):
    with pytest.raises(ValueError, match=message):
        split_schedules(env_config)


def test_check_env_tries_every_scheduled_value():
    check_env("FaceFusion-v0", {"aligned_start_prob": [[0, 0.25], [100, 0.1]]})
    with pytest.raises(ValueError, match=r"rejects .*'aligned_start_prob': 1.5.*must be in \[0, 1\]"):
        check_env("FaceFusion-v0", {"aligned_start_prob": [[0, 0.25], [100, 1.5]]})


def test_validation_plays_the_plain_start_distribution():
    preset = preset_for("FaceFusion-v0")
    assert "aligned_start_prob" not in validation_env_config(preset, {"aligned_start_prob": SCHEDULE})


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


def _runner_values(algo):
    values = algo.env_runner_group.foreach_env_runner(
        lambda runner: runner.env and runner.env.unwrapped.get_attr("aligned_start_prob"), local_env_runner=True
    )  # with remote runners the local one has no env
    return sorted({v for per_runner in values if per_runner for v in per_runner})


@pytest.mark.parametrize("runners", [0, 1])
def test_schedule_reaches_every_env_of_every_runner(local_ray, runners, tmp_path):
    """All envs start at the first value; once the run has sampled past the last point, every
    env (4 per runner, local or remote runners) has the last one; so do a recreated remote
    runner and a run restored from a checkpoint."""
    preset = preset_for("FaceFusion-v0")
    preset["training"]["num_steps_sampled_before_learning_starts"] = 64
    config = build_config("FaceFusion-v0", preset, num_env_runners=runners, env_config={"aligned_start_prob": SCHEDULE})
    config.reporting(min_sample_timesteps_per_iteration=256)
    algo = config.build_algo()
    try:
        assert _runner_values(algo) == [1.0]
        for _ in range(2):
            result = algo.train()
        assert result["env_runners"]["num_env_steps_sampled_lifetime"] >= 256
        assert _runner_values(algo) == [0.0]
        if runners:  # a runner recreated after a failure starts from the first value; it is set again
            algo.env_runner_group.foreach_env_runner(
                lambda runner: runner.env.unwrapped.set_attr("aligned_start_prob", 1.0), local_env_runner=False
            )
            algo.config.callbacks_on_env_runners_recreated(
                algorithm=algo, env_runner_group=algo.env_runner_group, env_runner_indices=[1], is_evaluation=False
            )
            assert _runner_values(algo) == [0.0]
        else:  # a restored run sets the value for its restored env steps before it samples
            algo.save_to_path(tmp_path / "ckpt")
            restored = config.build_algo()
            try:
                assert _runner_values(restored) == [1.0]
                restore_algorithm(restored, tmp_path / "ckpt")  # as train.py --resume
                assert _runner_values(restored) == [0.0]
            finally:
                restored.stop()
    finally:
        algo.stop()
