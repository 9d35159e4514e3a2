"""`python train.py`: argument parsing and validation (all before Ray starts)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from agents.options import (
    RESUME_OVERRIDES,
    SAVED_KEYS,
    TrainOptions,
    add_arguments,
    flag_of,
    options_from_run_dir,
)
from agents.presets import PRESETS, preset_for
from agents.run_dir import RunDirError
from envs.dataclass_cli import HelpFormatter, from_args


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="train.py",
        description="Train RLlib DQN (new API stack) on a registered env, locally or on a Ray cluster.",
        formatter_class=HelpFormatter,
    )
    add_arguments(p)  # one flag per TrainOptions field
    p.add_argument(
        "--faces", default=None, help="FaceFusion face source: 'default', a prepared cache dir or an image folder"
    )
    p.add_argument(
        "--resume",
        default=None,
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR from its newest complete checkpoint",
    )
    return p


def _env_config(items: list[str], faces: str | None) -> dict:
    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--env-config {item!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    if faces is not None:
        out["faces"] = faces
    return out


def validate(args: argparse.Namespace) -> TrainOptions:
    """Turn arguments into TrainOptions or raise ValueError with a message for the user."""
    if args.resume:
        return _resumed(args)
    if args.env not in PRESETS:
        raise ValueError(f"--env {args.env!r}: unknown env id; choose one of {', '.join(PRESETS)}")
    for name in ("num_eval_runners", "checkpoint_every", "final_eval_episodes"):
        if getattr(args, name) < 0:
            raise ValueError(f"{flag_of(name)} must be >= 0, got {getattr(args, name)}")
    if args.num_env_runners is not None and args.num_env_runners < 0:
        raise ValueError(f"--num-env-runners must be >= 0, got {args.num_env_runners}")
    if args.cpus_per_runner <= 0:
        raise ValueError(f"--cpus-per-runner must be > 0, got {args.cpus_per_runner}")
    for name in ("stop_timesteps", "stop_minutes"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise ValueError(f"{flag_of(name)} must be > 0, got {value}")
    if args.stop_success is not None and not 0 < args.stop_success <= 1:
        raise ValueError(f"--stop-success must be in (0, 1], got {args.stop_success}")
    if args.faces is not None and not args.env.startswith("FaceFusion"):
        raise ValueError(f"--faces applies to the FaceFusion envs, not {args.env}")
    if args.faces not in (None, "default") and not Path(args.faces).exists():
        raise ValueError(f"--faces {args.faces}: no such file or folder")
    if args.envs_per_runner is not None and args.envs_per_runner < 1:
        raise ValueError(f"--envs-per-runner must be >= 1, got {args.envs_per_runner}")
    if args.learner_threads is not None and args.learner_threads < 1:
        raise ValueError(f"--learner-threads must be >= 1, got {args.learner_threads}")
    options = from_args(TrainOptions, args, env_config=_env_config(args.env_config, args.faces))
    preset = preset_for(args.env, args.config)  # raises on a bad --config file
    options = check_learners(options)
    check_env(args.env, {**preset.get("env_config", {}), **options.env_config})
    if (Path(options.run_dir) / "run.json").exists():
        raise ValueError(
            f"--run-dir {options.run_dir} already holds a run; pass --resume {options.run_dir} to continue "
            f"it or choose another --run-dir"
        )
    return options


def _resumed(args: argparse.Namespace) -> TrainOptions:
    """The saved options, except those given again that a resumed run may change (a later
    stop, another cluster); a flag that would change what the run is (env, preset, seed) is
    refused rather than silently ignored."""
    defaults = parser()
    fixed = [
        flag_of(name)
        for name in SAVED_KEYS
        if name not in RESUME_OVERRIDES and getattr(args, name) != defaults.get_default(name)
    ]
    if args.faces is not None:
        fixed.append("--faces")
    if fixed:
        raise ValueError(
            f"--resume {args.resume}: {', '.join(fixed)} cannot change in a resumed run "
            f"(it continues with the options saved in its run.json)"
        )
    options = options_from_run_dir(args.resume, **{k: getattr(args, k) for k in RESUME_OVERRIDES})
    return check_learners(options)


def check_env(env_id: str, env_config: dict) -> None:
    """Build the env once, here, so a bad --env-config / --faces is one line naming the option,
    not a traceback from an env runner after Ray has started."""
    import inspect

    import gymnasium as gym

    import envs  # noqa: F401  registers the FaceFusion envs
    from agents.curriculum import split_schedules

    config, schedules = split_schedules(env_config)  # a malformed schedule: ValueError naming it
    realism = config.pop("realism_checkpoint", None)
    if realism is not None and not Path(str(realism)).exists():
        raise ValueError(
            f"--env-config realism_checkpoint={realism}: no such file or folder "
            f"(expected a `python -m detectors.train` output dir)"
        )
    if realism is not None:
        config.pop("realism_weight", None)  # needs the critic, loaded by each env runner
    entry = gym.spec(env_id).entry_point
    if isinstance(entry, str) and entry.startswith("envs."):
        known = set(inspect.signature(envs.FaceFusionEnv.__init__).parameters) - {"self"}
        unknown = sorted(set(config) - known - {"split", "mode"})
        if unknown:
            raise ValueError(
                f"--env-config {unknown[0]}: {env_id} has no such argument; known: {', '.join(sorted(known))}"
            )
    from envs.faces import FaceDataError

    # every value a schedule will set must be one the env accepts
    later = [{**config, name: value} for name, points in schedules.items() for _, value in points[1:]]
    try:
        for variant in [config, *later]:
            gym.make(env_id, **variant).close()
    except FaceDataError as exc:
        raise ValueError(f"--faces {config.get('faces')}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--env-config: {env_id} rejects {variant}: {exc}") from None


def check_learners(options: TrainOptions) -> TrainOptions:
    """The options with num_learners / num_gpus_per_learner resolved (flags, else the --config
    `learners` section) and checked here, so a GPU request on a machine without one fails
    before Ray starts."""
    section = preset_for(options.env, options.config).get("learners", {})
    where = f"--config {options.config}: learners" if options.config else "preset learners"
    unknown = sorted(set(section) - {"num_learners", "num_gpus_per_learner"})
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; expected num_learners, num_gpus_per_learner")
    resolved = options.resolved_learners()
    num_learners, gpus = resolved["num_learners"], resolved["num_gpus_per_learner"]
    if not isinstance(num_learners, int) or num_learners < 0:
        raise ValueError(f"--num-learners must be an integer >= 0, got {num_learners!r}")
    if not isinstance(gpus, (int, float)) or gpus < 0:
        raise ValueError(f"--num-gpus-per-learner must be >= 0, got {gpus!r}")
    if gpus > 1 and gpus != int(gpus):
        raise ValueError(f"--num-gpus-per-learner {gpus}: fractions only below 1 GPU (RLlib shares one GPU)")
    if gpus and options.address is None:  # local Ray: this machine must have the GPUs
        import torch

        have = torch.cuda.device_count()
        need = gpus * max(num_learners, 1)
        if have < need:
            raise ValueError(
                f"--num-gpus-per-learner {gpus:g} with --num-learners {num_learners}: needs {need:g} GPU(s), "
                f"this machine has {have} visible to torch (CUDA build: {torch.version.cuda is not None}). "
                f"Drop the option to learn on the CPU, or pass --address of a cluster with GPU nodes."
            )
    return dataclasses.replace(options, num_learners=num_learners, num_gpus_per_learner=float(gpus))


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        options = validate(args)
    except (ValueError, RunDirError) as exc:
        p.error(str(exc))  # exits 2 with usage
    if options.address is None:
        # Local Ray binds to loopback only (read by Ray at import time).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    from agents.ray_session import ClusterError
    from agents.training import train

    try:
        result = train(options, resume=bool(args.resume))
    except (ClusterError, RunDirError) as exc:
        print(f"train.py: error: {exc}", file=sys.stderr)
        return 2
    print(
        json.dumps(
            {
                k: result[k]
                for k in (
                    "env",
                    "env_steps",
                    "wall_seconds",
                    "best_eval_return",
                    "final_eval_return",
                    "stopped_because",
                    "checkpoint",
                )
            },
            indent=2,
        )
    )
    print(f"run dir: {Path(options.run_dir).resolve()}")
    if options.env.startswith("FaceFusion") and options.final_eval_episodes:
        from agents.evaluate import report_after_training

        report_after_training(result, options)
    return 0
