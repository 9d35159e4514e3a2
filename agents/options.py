"""Training options, defined once: `TrainOptions`'s fields carry their own help text, default
and resume rule, and train.py's flags and a resumed run's saved options are derived from them
(envs.dataclass_cli)."""

from __future__ import annotations

import argparse
import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from agents.presets import PRESETS, preset_for
from agents.run_dir import RunDir
from envs import dataclass_cli

# What `--resume RUN_DIR` does with an option:
KEPT = "kept"  # saved in run.json and restored; cannot change mid-run (the env, the preset, ...)
CHANGEABLE = "changeable"  # saved and restored, unless given again (e.g. a later stop)
PER_CALL = "per-call"  # not saved: given with each invocation (cluster address, progress bar)


def option(default: Any = None, help: str | None = None, *, resume: str = KEPT, **kwargs):
    """A TrainOptions field and its flag (envs.dataclass_cli.option), with its resume rule."""
    return dataclass_cli.option(default, help, meta={"resume": resume}, **kwargs)


DEFAULT_ENV = "FaceFusion-v0"


@dataclass
class TrainOptions:
    env: str = option(DEFAULT_ENV, f"registered env id: {', '.join(PRESETS)}")
    num_env_runners: int | None = option(
        None,
        "remote env runner actors sampling in parallel (0 = sample in the driver); default 0 locally, 2 with --address",
        resume=CHANGEABLE,
    )
    num_eval_runners: int = option(0, "separate evaluation runners (0 = driver)")
    cpus_per_runner: float = option(1.0, "CPUs Ray reserves per env runner")
    envs_per_runner: int | None = option(
        None,
        "gymnasium vector envs stepped together in each env runner (one batched forward per step); "
        "default: the preset's env_runners.num_envs_per_env_runner, else 1",
    )
    num_learners: int | None = option(
        None, "remote learner actors (0 = learn in the driver); default: the preset's learners section, else 0"
    )
    num_gpus_per_learner: float | None = option(
        None,
        "GPUs per learner (1 = learn on a GPU; with --num-learners 0 the driver's learner uses it); "
        "default: the preset's learners section, else 0",
    )
    learner_threads: int | None = option(
        None,
        "torch threads for the learner's updates; default: the cores of the learner's process "
        "(OMP_NUM_THREADS when set; a remote learner: its CPUs)",
        resume=CHANGEABLE,
    )
    address: str | None = option(
        None,
        "join an existing Ray cluster (host:port or 'auto'); omitted = local Ray, dashboard off",
        resume=PER_CALL,
    )
    seed: int = option(0, "random seed of the env runners, the learner and the replay")
    stop_return: float | None = option(None, "stop at this greedy evaluation return", resume=CHANGEABLE)
    stop_success: float | None = option(
        None, "stop at this validation success rate (FaceFusion; default: the preset's)", resume=CHANGEABLE
    )
    stop_timesteps: int | None = option(None, "stop after this many env steps", resume=CHANGEABLE)
    stop_minutes: float | None = option(
        None, "stop after this many wall minutes (default: the preset's)", resume=CHANGEABLE
    )
    run_dir: str | None = option(None, "output folder (default runs/ENV-TIMESTAMP)", resume=PER_CALL)
    checkpoint_every: int = option(5, "iterations between checkpoints (0 = end only)")
    config: str | None = option(None, "JSON file merged over the env's hyperparameter preset")
    env_config: dict = option(
        {},
        "env constructor argument (VALUE parsed as JSON when it can be); repeatable",
        action="append",
        metavar="KEY=VALUE",
        cli_default=[],
    )
    final_eval_episodes: int = option(
        50,
        "FaceFusion: held-out episodes in the final evaluation report (0 = skip report)",
        resume=PER_CALL,
        flag="--eval-episodes",
    )
    progress: bool = option(True, "no progress bar", resume=PER_CALL, flag="--no-progress")
    keep_checkpoints: int = option(3)  # newest checkpoints kept besides best/
    num_cpus: int | None = option(None, resume=PER_CALL)  # local Ray only

    def __post_init__(self):
        if self.num_env_runners is None:  # a cluster gets remote runners unless told otherwise
            self.num_env_runners = 2 if self.address else 0
        if self.run_dir is None:
            self.run_dir = f"runs/{self.env}-{time.strftime('%Y%m%d-%H%M%S')}"

    def resolved_stops(self) -> dict[str, Any]:
        """Stop criteria: explicit options win, else the preset's defaults."""
        stop = preset_for(self.env, self.config).get("stop", {})
        return {
            "return": self.stop_return if self.stop_return is not None else stop.get("return"),
            "success": self.stop_success if self.stop_success is not None else stop.get("success"),
            "success_consecutive": int(stop.get("success_consecutive", 1)),
            "steps_over_oracle": stop.get("steps_over_oracle"),
            "timesteps": self.stop_timesteps if self.stop_timesteps is not None else stop.get("timesteps"),
            "minutes": self.stop_minutes if self.stop_minutes is not None else stop.get("minutes"),
        }

    def resolved_learners(self) -> dict[str, Any]:
        """num_learners / num_gpus_per_learner: explicit options win, else the preset's `learners`."""
        section = preset_for(self.env, self.config).get("learners", {})
        learners = self.num_learners if self.num_learners is not None else section.get("num_learners", 0)
        gpus = self.num_gpus_per_learner
        return {
            "num_learners": learners,
            "num_gpus_per_learner": gpus if gpus is not None else section.get("num_gpus_per_learner", 0),
        }


def flag_of(name: str) -> str:
    """The command-line flag of a TrainOptions field (for error messages)."""
    return dataclass_cli.flag_of(TrainOptions, name)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    dataclass_cli.add_arguments(parser, TrainOptions)


def _flags(*resume: str) -> tuple[str, ...]:
    return tuple(
        f.name for f in dataclasses.fields(TrainOptions) if dataclass_cli.is_flag(f) and f.metadata["resume"] in resume
    )


# what run.json's options restore on --resume, and what a flag given again may change
SAVED_KEYS = _flags(KEPT, CHANGEABLE)
RESUME_OVERRIDES = tuple(name for name in _flags(CHANGEABLE, PER_CALL) if name != "run_dir")


def options_from_run_dir(run_dir: str, **overrides) -> TrainOptions:
    """A saved run's options (run.json), with the per-call and changeable ones given again."""
    unknown = sorted(set(overrides) - set(RESUME_OVERRIDES))
    if unknown:
        raise ValueError(f"--resume: {', '.join(flag_of(k) for k in unknown)} cannot change in a resumed run")
    saved = RunDir(run_dir).load_options()
    kwargs = {k: saved[k] for k in SAVED_KEYS if k in saved}
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    return TrainOptions(run_dir=run_dir, **kwargs)
