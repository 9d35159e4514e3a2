"""CLI validation and config building: everything that must fail before Ray starts."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agents.cli import parser, validate
from agents.presets import PRESETS, preset_for

ROOT = Path(__file__).resolve().parents[1]


def _validate(*argv):
    return validate(parser().parse_args(list(argv)))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--env", "Pong-v5"], "unknown env id"),
        (["--num-env-runners", "-1"], "--num-env-runners must be >= 0"),
        (["--cpus-per-runner", "0"], "--cpus-per-runner must be > 0"),
        (["--stop-timesteps", "0"], "--stop-timesteps must be > 0"),
        (["--stop-success", "1.5"], "--stop-success must be in (0, 1]"),
        (["--env", "CartPole-v1", "--faces", "default"], "--faces applies to the FaceFusion envs"),
        (["--faces", "/no/such/folder"], "no such file or folder"),
        (["--config", "/no/such.json"], "file not found"),
        (["--env-config", "novalue"], "expected KEY=VALUE"),
        (["--env-config", "obs_size=10"], "obs_size must be >= 32, got 10"),
        (["--env-config", "bogus=1"], "--env-config bogus: FaceFusion-v0 has no such argument"),
        (["--faces", "/etc/passwd"], "--faces /etc/passwd: face source '/etc/passwd' is not a folder"),
        (["--env-config", "realism_checkpoint=/no/critic"], "realism_checkpoint=/no/critic: no such file"),
        (["--envs-per-runner", "0"], "--envs-per-runner must be >= 1"),
        (["--learner-threads", "0"], "--learner-threads must be >= 1"),
        (["--num-learners", "-1"], "--num-learners must be an integer >= 0"),
        (["--num-gpus-per-learner", "-1"], "--num-gpus-per-learner must be >= 0"),
        (["--num-gpus-per-learner", "1.5"], "fractions only below 1 GPU"),
    ],
)
def test_bad_arguments_raise_clear_errors(argv, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        _validate(*argv)


def test_bad_config_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        _validate("--config", str(bad))
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"trainig": {"lr": 1}}))
    with pytest.raises(ValueError, match=r"unknown section\(s\) \['trainig'\]"):
        _validate("--config", str(unknown))
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({"stop": {"minuts": 5}}))
    with pytest.raises(ValueError, match=r"unknown stop key\(s\) \['minuts'\]"):
        _validate("--config", str(typo))
    typo.write_text(json.dumps({"stop": {"minutes": 5, "steps_over_oracle": None}}))
    _validate("--config", str(typo))
    # an n_step range with a fixed fragment: RLlib itself would die with a bare TypeError
    fragment = tmp_path / "fragment.json"
    fragment.write_text(json.dumps({"env_runners": {"rollout_fragment_length": 16}, "training": {"n_step": [2, 5]}}))
    with pytest.raises(ValueError, match="needs an integer training.n_step"):
        _validate("--env", "CartPole-v1", "--config", str(fragment))
    fragment.write_text(json.dumps({"env_runners": {"rollout_fragment_length": 16}, "training": {"n_step": 3}}))
    _validate("--env", "CartPole-v1", "--config", str(fragment))


def test_existing_run_dir_is_not_overwritten(tmp_path):
    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(ValueError, match="already holds a run"):
        _validate("--run-dir", str(tmp_path))


def test_resume_of_a_non_run_dir(tmp_path):
    from agents.run_dir import RunDirError

    with pytest.raises(RunDirError, match="not a run dir"):
        _validate("--resume", str(tmp_path))


def test_flags_are_derived_from_train_options():
    """One field, one flag, one default: the parser's defaults are TrainOptions' own."""
    import dataclasses

    from agents.options import TrainOptions, flag_of

    p = parser()
    flags = {a.dest: a for a in p._actions}
    for f in dataclasses.fields(TrainOptions):
        if f.metadata["help"] is None:
            assert f.name not in flags  # API-only options have no flag
            continue
        action = flags[f.name]
        assert flag_of(f.name) in action.option_strings
        if f.name != "env_config":  # KEY=VALUE items on the command line, a dict in the options
            assert p.get_default(f.name) == f.default, f.name
    plain = _validate("--run-dir", "runs/x")
    assert plain == TrainOptions(run_dir="runs/x", num_learners=0, num_gpus_per_learner=0.0)
    assert _validate("--eval-episodes", "7", "--no-progress", "--run-dir", "r").final_eval_episodes == 7
    assert _validate("--no-progress", "--run-dir", "r").progress is False


def _saved_run(tmp_path, *argv):
    """A run dir as train.py leaves it before training: run.json with the validated options."""
    import dataclasses

    from agents.run_dir import RunDir

    opts = _validate("--env", "CartPole-v1", "--run-dir", str(tmp_path / "run"), *argv)
    RunDir(opts.run_dir).create(dataclasses.asdict(opts))
    return opts


def test_resume_keeps_saved_options_and_takes_changeable_ones(tmp_path):
    saved = _saved_run(tmp_path, "--seed", "3", "--stop-minutes", "5", "--env-config", "sutton_barto_reward=true")
    resumed = _validate("--resume", saved.run_dir, "--stop-minutes", "9", "--no-progress")
    assert (resumed.env, resumed.seed, resumed.env_config) == ("CartPole-v1", 3, {"sutton_barto_reward": True})
    assert (resumed.stop_minutes, resumed.progress, resumed.run_dir) == (9.0, False, saved.run_dir)
    assert _validate("--resume", saved.run_dir).stop_minutes == 5.0  # not given again: the saved stop


def test_resume_refuses_options_that_would_change_the_run(tmp_path):
    saved = _saved_run(tmp_path)
    with pytest.raises(ValueError, match="--seed, --config cannot change in a resumed run"):
        _validate("--resume", saved.run_dir, "--seed", "1", "--config", "x.json")
    with pytest.raises(ValueError, match="--faces cannot change"):
        _validate("--resume", saved.run_dir, "--faces", "default")


def test_cli_exits_2_before_starting_ray(tmp_path):
    proc = subprocess.run(
        [sys.executable, "train.py", "--env", "Nope-v0"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "unknown env id" in proc.stderr
    assert "Started a local Ray instance" not in proc.stderr + proc.stdout


def test_defaults_and_overrides(tmp_path):
    opts = _validate(
        "--env",
        "CartPole-v1",
        "--run-dir",
        str(tmp_path / "r"),
        "--env-config",
        "sutton_barto_reward=true",  # JSON value
        "--env-config",
        "render_mode=rgb_array",  # not JSON: kept as the string
    )
    assert opts.num_env_runners == 0 and opts.address is None
    assert opts.env_config == {"sutton_barto_reward": True, "render_mode": "rgb_array"}
    with pytest.raises(ValueError, match="CartPole-v1 rejects .*unexpected keyword argument 'a'"):
        _validate("--env", "CartPole-v1", "--run-dir", str(tmp_path / "u"), "--env-config", "a=1")
    assert opts.resolved_stops()["return"] == 450.0
    assert _validate("--address", "auto", "--run-dir", str(tmp_path / "s")).num_env_runners == 2
    override = tmp_path / "o.json"
    override.write_text(json.dumps({"training": {"lr": 0.01}, "stop": {"return": 100}}))
    preset = preset_for("CartPole-v1", override)
    assert preset["training"]["lr"] == 0.01
    assert preset["training"]["double_q"] is True  # untouched keys survive the merge
    opts = _validate("--env", "CartPole-v1", "--config", str(override), "--run-dir", str(tmp_path / "t"))
    assert opts.resolved_stops()["return"] == 100


def test_build_config_cartpole():
    from agents.config import build_config

    config = build_config("CartPole-v1", preset_for("CartPole-v1"), num_env_runners=2, seed=3)
    assert config.num_env_runners == 2
    assert config.double_q and config.dueling
    assert config.n_step == 3 and config.rollout_fragment_length == 16
    assert config.seed == 3
    assert config.evaluation_config["explore"] is False
    assert config.restart_failed_env_runners is True
    assert config.enable_rl_module_and_learner and config.enable_env_runner_and_connector_v2
    assert config.min_sample_timesteps_per_iteration == 1000  # RLlib's DQN default: no reporting section


def test_reporting_section_sets_the_iteration_size():
    from agents.config import build_config

    config = build_config("FaceFusion-v0", preset_for("FaceFusion-v0"))
    assert (
        config.min_sample_timesteps_per_iteration
        == PRESETS["FaceFusion-v0"]["reporting"]["min_sample_timesteps_per_iteration"]
    )
    assert config.metrics_num_episodes_for_smoothing == 20


@pytest.mark.parametrize("runners", [0, 1, 2])
def test_replay_ratio_is_the_presets_whatever_the_runner_count(runners):
    from ray.rllib.algorithms.dqn.dqn import calculate_rr_weights

    from agents.config import build_config

    preset = preset_for("CartPole-v1")
    config = build_config("CartPole-v1", preset, num_env_runners=runners)
    sample_weight, train_weight = calculate_rr_weights(config)
    sampled = config.get_rollout_fragment_length() * max(runners, 1) * sample_weight
    replayed = config.train_batch_size_per_learner * train_weight
    assert replayed / sampled == pytest.approx(preset["training"]["training_intensity"])


def test_conv_filters_follow_observation_size():
    from agents.config import conv_filters_for

    def conv_output_size(size, filters):  # RLlib's rule: "same" is ceil(size / stride)
        for _, kernel, stride, *padding in filters:
            kernel = kernel[0] if isinstance(kernel, (list, tuple)) else kernel
            size = (size - kernel) // stride + 1 if padding == ["valid"] else -(-size // stride)
        return size

    nature = [[32, [8, 8], 4, "valid"], [64, [4, 4], 2, "valid"], [64, [3, 3], 1, "valid"]]
    assert conv_output_size(84, nature) == 7  # stable-baselines3's NatureCNN grid
    assert conv_output_size(84, [spec[:3] for spec in nature]) == 11  # RLlib's default "same"
    assert conv_output_size(84, conv_filters_for(84)) == 11
    for size in (32, 48, 63, 64, 84, 128):
        assert conv_output_size(size, conv_filters_for(size)) >= 3, size
    with pytest.raises(ValueError, match="too small"):
        conv_filters_for(16)


def test_realism_checkpoint_in_env_config_wires_the_critic(tmp_path):
    """agents is where envs and detectors meet: a detector checkpoint path in env_config
    (serialisable, so it travels to remote env runners) becomes the env's realism reward."""
    proc = subprocess.run(
        [sys.executable, "-m", "detectors.train", "--dry-run", "--out", str(tmp_path / "det"), "--no-progress"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    from agents.config import make_env
    from detectors.realism import Realism

    env = make_env("FaceFusion-v0", {"realism_checkpoint": str(tmp_path / "det"), "realism_weight": 0.2})
    _, info = env.reset(seed=0)
    u, critic = env.unwrapped, Realism.from_checkpoint(str(tmp_path / "det"))
    assert u.realism_weight == 0.2 and u.realism_size == critic.image_size
    assert info["realism"] == pytest.approx(float(critic(u.realism_crop()[None])[0]))  # the critic's score of the crop


def test_gpu_request_without_a_gpu_fails_before_ray(monkeypatch, tmp_path):
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(ValueError, match=r"needs 2 GPU\(s\), this machine has 0"):
        _validate("--num-gpus-per-learner", "1", "--num-learners", "2", "--run-dir", str(tmp_path / "r"))
    config = tmp_path / "gpu.json"
    config.write_text(json.dumps({"learners": {"num_gpus_per_learner": 1}}))
    with pytest.raises(ValueError, match="needs 1 GPU"):
        _validate("--config", str(config), "--run-dir", str(tmp_path / "r"))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)  # one visible GPU is enough for one learner
    assert _validate("--config", str(config), "--run-dir", str(tmp_path / "r")).num_gpus_per_learner == 1
    # on a cluster the check happens when Ray is up (agents.ray_session.connect)
    opts = _validate("--num-gpus-per-learner", "1", "--address", "auto", "--run-dir", str(tmp_path / "s"))
    assert opts.num_gpus_per_learner == 1


def test_cli_exits_2_on_gpu_request_without_gpu():
    proc = subprocess.run(
        [sys.executable, "train.py", "--env", "CartPole-v1", "--num-gpus-per-learner", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    import torch

    if torch.cuda.device_count():
        pytest.skip("this machine has a GPU")
    assert proc.returncode == 2
    assert "--num-gpus-per-learner 1 with --num-learners 0: needs 1 GPU(s)" in proc.stderr
    assert "Started a local Ray instance" not in proc.stderr + proc.stdout


def test_learners_section_and_flags_reach_the_built_config(tmp_path):
    from agents.config import build_config

    override = tmp_path / "learners.json"
    override.write_text(json.dumps({"learners": {"num_learners": 2}, "env_runners": {"num_envs_per_env_runner": 3}}))
    opts = _validate("--env", "CartPole-v1", "--config", str(override), "--run-dir", str(tmp_path / "r"))
    assert (opts.num_learners, opts.num_gpus_per_learner, opts.envs_per_runner) == (2, 0.0, None)
    opts = _validate(
        "--env",
        "CartPole-v1",
        "--config",
        str(override),
        "--num-learners",
        "1",
        "--envs-per-runner",
        "4",
        "--run-dir",
        str(tmp_path / "s"),
    )
    preset = preset_for("CartPole-v1", override)
    config = build_config(
        "CartPole-v1",
        preset,
        num_learners=opts.num_learners,
        num_gpus_per_learner=opts.num_gpus_per_learner,
        envs_per_runner=opts.envs_per_runner,
    )
    assert config.num_learners == 1 and config.num_envs_per_env_runner == 4
    config = build_config("CartPole-v1", preset)  # the file's values when no flag is given
    assert config.num_learners == 2 and config.num_envs_per_env_runner == 3
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"learners": {"num_gpus": 1}}))
    with pytest.raises(ValueError, match=r"learners: unknown key\(s\) \['num_gpus'\]"):
        _validate("--config", str(bad))


def test_training_path_default_and_rllib_side_by_side():
    from ray.rllib.algorithms.dqn import DQNConfig

    from agents.config import build_config
    from agents.fast_dqn import FastDQNConfig

    fast = build_config("CartPole-v1", preset_for("CartPole-v1"))
    assert isinstance(fast, FastDQNConfig)
    assert fast.replay_buffer_config["type"] == "agents.replay.TransitionReplayBuffer"
    assert fast.replay_buffer_config["prioritized"] is True and fast.replay_buffer_config["alpha"] == 0.6
    rllib = build_config("CartPole-v1", preset_for("CartPole-v1"), path="rllib")
    assert type(rllib) is DQNConfig and rllib.replay_buffer_config["type"] == "PrioritizedEpisodeReplayBuffer"
    assert not hasattr(rllib, "weights_sync_interval")
    with pytest.raises(ValueError, match="training path 'slow'"):
        build_config("CartPole-v1", preset_for("CartPole-v1"), path="slow")


def test_facefusion_preset_builds_its_cnn():
    """The preset's network is the one agents.config derives (an 11x11x32 grid, dueling heads of
    256 units): RLlib builds "same"-padded convs unless told, and the parameter count shows it."""
    import gymnasium as gym

    import envs  # noqa: F401
    from agents.config import build_config

    spec = build_config("FaceFusion-v0", preset_for("FaceFusion-v0")).get_rl_module_spec()
    env = gym.make("FaceFusion-v0")
    spec.observation_space, spec.action_space = env.observation_space, env.action_space
    module = spec.build()
    conv = (8 * 8 * 3 * 16 + 16) + (4 * 4 * 16 * 32 + 32) + (3 * 3 * 32 * 32 + 32)
    flat = 11 * 11 * 32
    heads = (flat * 256 + 256) + (256 * 7 + 7) + (flat * 256 + 256) + (256 * 1 + 1)  # advantage + value
    trainable = sum(p.numel() for n, p in module.named_parameters() if "target" not in n)
    assert trainable == conv + heads
