"""`python train.py`: argument parsing and validation (all before Ray starts)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from agents.presets import PRESETS, preset_for
from agents.run_dir import RunDirError
from agents.training import TrainOptions, options_from_run_dir

DEFAULT_ENV = "FaceFusion-v0"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="train.py",
        description="Train RLlib DQN (new API stack) on a registered env, locally or on a Ray cluster.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--env", default=DEFAULT_ENV, help=f"registered env id: {', '.join(PRESETS)}")
    p.add_argument(
        "--num-env-runners",
        type=int,
        default=None,
        help="remote env runner actors sampling in parallel (0 = sample in the driver); "
        "default 0 locally, 2 with --address",
    )
    p.add_argument("--num-eval-runners", type=int, default=0, help="separate evaluation runners (0 = driver)")
    p.add_argument("--cpus-per-runner", type=float, default=1.0, help="CPUs Ray reserves per env runner")
    p.add_argument(
        "--envs-per-runner",
        type=int,
        default=None,
        help="gymnasium vector envs stepped together in each env runner (one batched forward "
        "per step); default: the preset's env_runners.num_envs_per_env_runner, else 1",
    )
    p.add_argument(
        "--num-learners",
        type=int,
        default=None,
        help="remote learner actors (0 = learn in the driver); default: the preset's learners section",
    )
    p.add_argument(
        "--num-gpus-per-learner",
        type=float,
        default=None,
        help="GPUs per learner (1 = learn on a GPU; with --num-learners 0 the driver's learner "
        "uses it); default: the preset's learners section, else 0",
    )
    p.add_argument(
        "--address",
        default=None,
        help="join an existing Ray cluster (host:port or 'auto'); omitted = local Ray, dashboard off",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stop-return", type=float, default=None, help="stop at this greedy evaluation return")
    p.add_argument(
        "--stop-success", type=float, default=None, help="stop at this greedy evaluation success rate (FaceFusion)"
    )
    p.add_argument("--stop-timesteps", type=int, default=None, help="stop after this many env steps")
    p.add_argument("--stop-minutes", type=float, default=None, help="stop after this many wall minutes")
    p.add_argument("--run-dir", default=None, help="output folder (default runs/ENV-TIMESTAMP)")
    p.add_argument("--checkpoint-every", type=int, default=5, help="iterations between checkpoints (0 = end only)")
    p.add_argument("--config", default=None, help="JSON file merged over the env's hyperparameter preset")
    p.add_argument(
        "--env-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="env constructor argument (VALUE parsed as JSON when it can be); repeatable",
    )
    p.add_argument(
        "--faces", default=None, help="FaceFusion face source: 'default', a prepared cache dir or an image folder"
    )
    p.add_argument(
        "--resume",
        default=None,
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR from its newest complete checkpoint",
    )
    p.add_argument(
        "--eval-episodes",
        type=int,
        default=50,
        help="FaceFusion: held-out episodes in the final evaluation report (0 = skip report)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
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
        # the saved options, except where given again (e.g. a later stop or another cluster)
        return options_from_run_dir(
            args.resume,
            address=args.address,
            num_env_runners=args.num_env_runners,
            stop_return=args.stop_return,
            stop_success=args.stop_success,
            stop_timesteps=args.stop_timesteps,
            stop_minutes=args.stop_minutes,
            progress=not args.no_progress,
            final_eval_episodes=args.eval_episodes,
        )
    if args.env not in PRESETS:
        raise ValueError(f"--env {args.env!r}: unknown env id; choose one of {', '.join(PRESETS)}")
    for name in ("num_eval_runners", "checkpoint_every", "eval_episodes"):
        if getattr(args, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    if args.num_env_runners is not None and args.num_env_runners < 0:
        raise ValueError(f"--num-env-runners must be >= 0, got {args.num_env_runners}")
    if args.cpus_per_runner <= 0:
        raise ValueError(f"--cpus-per-runner must be > 0, got {args.cpus_per_runner}")
    for name in ("stop_timesteps", "stop_minutes"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be > 0, got {value}")
    if args.stop_success is not None and not 0 < args.stop_success <= 1:
        raise ValueError(f"--stop-success must be in (0, 1], got {args.stop_success}")
    if args.faces is not None and not args.env.startswith("FaceFusion"):
        raise ValueError(f"--faces applies to the FaceFusion envs, not {args.env}")
    if args.faces not in (None, "default") and not Path(args.faces).exists():
        raise ValueError(f"--faces {args.faces}: no such file or folder")
    preset = preset_for(args.env, args.config)  # raises on a bad --config file
    learners = _learners(preset.get("learners", {}), args)
    envs_per_runner = args.envs_per_runner
    if envs_per_runner is not None and envs_per_runner < 1:
        raise ValueError(f"--envs-per-runner must be >= 1, got {envs_per_runner}")
    env_config = _env_config(args.env_config, args.faces)
    check_env(args.env, {**preset.get("env_config", {}), **env_config})
    run_dir = args.run_dir or f"runs/{args.env}-{time.strftime('%Y%m%d-%H%M%S')}"
    if (Path(run_dir) / "run.json").exists():
        raise ValueError(
            f"--run-dir {run_dir} already holds a run; pass --resume {run_dir} to continue "
            f"it or choose another --run-dir"
        )
    runners = args.num_env_runners if args.num_env_runners is not None else (2 if args.address else 0)
    return TrainOptions(
        env=args.env,
        run_dir=run_dir,
        num_env_runners=runners,
        num_eval_runners=args.num_eval_runners,
        cpus_per_runner=args.cpus_per_runner,
        address=args.address,
        seed=args.seed,
        config=args.config,
        env_config=env_config,
        stop_return=args.stop_return,
        stop_success=args.stop_success,
        stop_timesteps=args.stop_timesteps,
        stop_minutes=args.stop_minutes,
        checkpoint_every=args.checkpoint_every,
        progress=not args.no_progress,
        final_eval_episodes=args.eval_episodes,
        envs_per_runner=envs_per_runner,
        **learners,
    )


def check_env(env_id: str, env_config: dict) -> None:
    """Build the env once, here, so a bad --env-config / --faces is one line naming the option,
    not a traceback from an env runner after Ray has started."""
    import inspect

    import gymnasium as gym

    import envs  # noqa: F401  registers the FaceFusion envs

    config = dict(env_config)
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

    try:
        gym.make(env_id, **config).close()
    except FaceDataError as exc:
        raise ValueError(f"--faces {config.get('faces')}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--env-config: {env_id} rejects {config}: {exc}") from None


def _learners(section: dict, args: argparse.Namespace) -> dict:
    """num_learners / num_gpus_per_learner from the flags, else the --config `learners`
    section; checked here so a GPU request on a machine without one fails before Ray starts."""
    where = f"--config {args.config}: learners" if args.config else "preset learners"
    unknown = sorted(set(section) - {"num_learners", "num_gpus_per_learner"})
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; expected num_learners, num_gpus_per_learner")
    num_learners = args.num_learners if args.num_learners is not None else section.get("num_learners", 0)
    gpus = (
        args.num_gpus_per_learner if args.num_gpus_per_learner is not None else section.get("num_gpus_per_learner", 0)
    )
    if not isinstance(num_learners, int) or num_learners < 0:
        raise ValueError(f"--num-learners must be an integer >= 0, got {num_learners!r}")
    if not isinstance(gpus, (int, float)) or gpus < 0:
        raise ValueError(f"--num-gpus-per-learner must be >= 0, got {gpus!r}")
    if gpus > 1 and gpus != int(gpus):
        raise ValueError(f"--num-gpus-per-learner {gpus}: fractions only below 1 GPU (RLlib shares one GPU)")
    if gpus and args.address is None:  # local Ray: this machine must have the GPUs
        import torch

        have = torch.cuda.device_count()
        need = gpus * max(num_learners, 1)
        if have < need:
            raise ValueError(
                f"--num-gpus-per-learner {gpus:g} with --num-learners {num_learners}: needs {need:g} GPU(s), "
                f"this machine has {have} visible to torch (CUDA build: {torch.version.cuda is not None}). "
                f"Drop the option to learn on the CPU, or pass --address of a cluster with GPU nodes."
            )
    return {"num_learners": num_learners, "num_gpus_per_learner": float(gpus)}


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
