"""The training loop: build the DQN algorithm, train until a stop criterion, validate, log,
checkpoint (newest and best), finalise."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from agents.options import TrainOptions
from agents.presets import preset_for
from agents.run_dir import POLICY_ENV_CONFIG, RunDir, RunDirError


@dataclass
class RunState:
    """What a checkpoint's state.json records, so a resumed run continues its counters and
    keeps its best checkpoint."""

    iteration: int = 0
    env_steps: int = 0
    wall_seconds: float = 0.0
    best_eval_return: float | None = None
    last_eval_return: float | None = None
    env_runner_restarts: int = 0
    best_validation: dict | None = None  # metrics of the checkpoint in best/
    last_validation: dict | None = None
    validation_streak: int = 0  # consecutive validations at or above the success stop

    @classmethod
    def from_dict(cls, data: dict) -> RunState:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _get(result: dict, *path, default=None):
    for key in path:
        if not isinstance(result, dict) or key not in result:
            return default
        result = result[key]
    return result


def _num(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


VALIDATION_KEYS = {
    "val_success_rate": "success_rate",
    "val_return": "mean_return",
    "val_steps": "mean_steps",
    "val_position_error_px": "mean_position_error_px",
    "val_steps_over_oracle": "steps_over_oracle",
}


def summarize(result: dict) -> dict[str, Any]:
    """The numbers we log per iteration, pulled out of RLlib's nested result dict."""
    from agents.fast_dqn import PHASE_SECONDS, PHASES  # Ray is loaded by now

    runners = result.get("env_runners", {})
    evaluation = _get(result, "evaluation", "env_runners", default={}) or {}
    return {
        "env_steps": int(_num(runners.get("num_env_steps_sampled_lifetime")) or 0),
        "train_return": _num(runners.get("episode_return_mean")),
        "train_episode_len": _num(runners.get("episode_len_mean")),
        "eval_return": _num(evaluation.get("episode_return_mean")),
        "train_success_rate": _num(runners.get("fusion/success_rate")),
        "eval_success_rate": _num(evaluation.get("fusion/success_rate")),
        "eval_position_error_px": _num(evaluation.get("fusion/final_position_error_px")),
        "eval_steps_per_episode": _num(evaluation.get("fusion/steps_per_episode")),
        "learner_loss": _num(_get(result, "learners", "default_policy", "total_loss")),
        "num_healthy_env_runners": _num(_get(result, "fault_tolerance", "num_healthy_workers")),  # RLlib 2.60's place
        # the fast path's driver: wall seconds this iteration per phase (agents.fast_dqn)
        **{f"time_{phase}_s": _num(_get(result, PHASE_SECONDS, phase)) for phase in PHASES},
        **{key: None for key in VALIDATION_KEYS},
    }


def check_stop(summary: dict, stops: dict, minutes: float, validation_streak: int = 0) -> str | None:
    """Why to stop now, or None. With validation, the success stop needs `success_consecutive`
    validations in a row at or above it (`validation_streak`); else one greedy evaluation."""
    if (
        stops.get("return") is not None
        and summary["eval_return"] is not None
        and summary["eval_return"] >= stops["return"]
    ):
        return "stop_return"
    if stops.get("success") is not None:
        if summary.get("val_success_rate") is not None:
            if validation_streak >= stops.get("success_consecutive", 1):
                return "stop_success"
        elif summary["eval_success_rate"] is not None and summary["eval_success_rate"] >= stops["success"]:
            return "stop_success"
    if stops.get("timesteps") is not None and summary["env_steps"] >= stops["timesteps"]:
        return "stop_timesteps"
    if stops.get("minutes") is not None and minutes >= stops["minutes"]:
        return "stop_minutes"
    return None


def meets_stop(metrics: dict, stops: dict) -> bool:
    """Whether one validation meets the success stop: success rate at or above `stops["success"]`
    and, where `stops["steps_over_oracle"]` is set and the validation measured it, mean steps at
    most that many times the oracle's (a policy that finds the face but hesitates to stop is not
    done yet)."""
    if stops.get("success") is None or metrics["success_rate"] < stops["success"]:
        return False
    ratio, limit = metrics.get("steps_over_oracle"), stops.get("steps_over_oracle")
    return limit is None or ratio is None or ratio <= limit


def is_better(candidate: dict, best: dict | None, stops: dict | None = None) -> bool:
    """Validation order: one that meets the success stop (`meets_stop`, when `stops` are given)
    before one that does not, then higher success rate, then fewer steps (ties: keep the old)."""
    if best is None:
        return True

    def key(m: dict) -> tuple:
        return (meets_stop(m, stops) if stops else False, m["success_rate"], -m["mean_steps"])

    return key(candidate) > key(best)


TENSORBOARD_GROUPS = (("eval_", "eval"), ("val_", "eval"), ("learner_", "losses"))


def tensorboard_tag(key: str) -> str:
    """CleanRL's grouping: evaluation under eval/, losses under losses/, the rest under charts/."""
    group = next((g for prefix, g in TENSORBOARD_GROUPS if key.startswith(prefix)), "charts")
    return f"{group}/{key}"


class Training:
    """One training run: `build()`, then `loop()` until a stop criterion, then `finalise()`."""

    def __init__(self, options: TrainOptions, resume: bool = False):
        self.options, self.resume = options, resume
        self.preset = preset_for(options.env, options.config)
        self.stops = options.resolved_stops()
        self.run = RunDir(options.run_dir)
        self.state = RunState()
        self.restore_from = None
        self.validator = None
        self.validation_interval = 0.0
        self.stopped_because: str | None = None

    # ---- build -----------------------------------------------------------------------------
    def prepare_run_dir(self) -> None:
        if not self.resume:
            from agents.validation import policy_env_config

            self.run.create(
                {
                    **dataclasses.asdict(self.options),
                    "address": self.options.address,
                    POLICY_ENV_CONFIG: policy_env_config(self.preset, self.options.env_config),
                }
            )
            return
        latest = self.run.latest_checkpoint()
        if latest is None:
            raise RunDirError(f"--resume {self.run.path}: no complete checkpoint in {self.run.checkpoints}")
        self.restore_from, saved = latest[0], latest[1]
        self.state = RunState.from_dict(saved)
        best = self.run.best_checkpoint()  # may be newer than the latest periodic checkpoint
        if best is not None and best[1].get("validation") is not None:
            self.state.best_validation = best[1]["validation"]
        self.run.truncate_progress(self.state.iteration)

    def build(self) -> None:
        from agents.config import build_config

        o = self.options
        self.config = build_config(
            o.env,
            self.preset,
            num_env_runners=o.num_env_runners,
            num_eval_runners=o.num_eval_runners,
            cpus_per_runner=o.cpus_per_runner,
            seed=o.seed,
            env_config=o.env_config,
            num_learners=o.num_learners,
            num_gpus_per_learner=o.num_gpus_per_learner,
            envs_per_runner=o.envs_per_runner,
            learner_threads=o.learner_threads,
        )
        self.algo = self.config.build_algo()
        if self.restore_from is not None:
            from agents.checkpoints import restore_algorithm

            restore_algorithm(self.algo, self.restore_from)
        self.validator = self._build_validator()

    def _build_validator(self):
        from agents.config import make_env
        from agents.validation import Validator, validation_env_config

        section = self.preset.get("validation")
        if not section:
            return None
        env_config = validation_env_config(self.preset, self.options.env_config)
        self.validation_interval = float(section.get("interval_seconds", 30.0))
        return Validator.from_section(lambda: make_env(self.options.env, env_config), section)

    # ---- loop ------------------------------------------------------------------------------
    def loop(self) -> None:
        from tensorboardX import SummaryWriter

        s, o = self.state, self.options
        self.writer = SummaryWriter(str(self.run.path))
        steps_offset, wall_offset, restarts_before = s.env_steps, s.wall_seconds, s.env_runner_restarts
        eval_interval = int(self.config.evaluation_interval or 0)
        self.bar = _progress_bar(self.stops, s, o)
        t0 = last_validation = time.time()
        try:
            while self.stopped_because is None:
                result = self.algo.train()
                s.iteration += 1
                summary = summarize(result)
                if eval_interval and s.iteration % eval_interval:  # RLlib repeats the last evaluation
                    summary.update({k: None for k in summary if k.startswith("eval_")})
                # RLlib restores its lifetime counters from the checkpoint; guard anyway.
                s.env_steps = summary["env_steps"] = max(summary["env_steps"], steps_offset)
                s.wall_seconds = wall_offset + time.time() - t0
                s.env_runner_restarts = restarts_before + self._restarts()
                if summary["eval_return"] is not None:
                    s.last_eval_return = summary["eval_return"]
                    s.best_eval_return = (
                        s.last_eval_return
                        if s.best_eval_return is None
                        else max(s.best_eval_return, s.last_eval_return)
                    )
                if (
                    self.validator is not None
                    and time.time() - last_validation >= self.validation_interval
                    and summary["learner_loss"] is not None
                ):
                    summary.update(self.validate())
                    last_validation = time.time()
                    s.wall_seconds = wall_offset + time.time() - t0
                self._log(summary, steps_offset, wall_offset)
                self.stopped_because = check_stop(summary, self.stops, s.wall_seconds / 60.0, s.validation_streak)
                if o.checkpoint_every and s.iteration % o.checkpoint_every == 0 and not self.stopped_because:
                    self.run.save_checkpoint(
                        s.iteration, self.algo.save_to_path, dataclasses.asdict(s), o.keep_checkpoints
                    )
        except KeyboardInterrupt:
            self.stopped_because = "interrupted"
        self.bar.close()

    def validate(self) -> dict[str, Any]:
        """Validate the learner's current weights; keep them in best/ if they are the best yet."""
        from agents.validation import learner_module

        env = self.validator.envs[0]
        metrics = self.validator(learner_module(self.algo, env.observation_space, env.action_space))
        s = self.state
        s.last_validation = metrics
        s.validation_streak = s.validation_streak + 1 if meets_stop(metrics, self.stops) else 0
        if is_better(metrics, s.best_validation, self.stops):
            s.best_validation = {
                **metrics,
                "iteration": s.iteration,
                "env_steps": s.env_steps,
                "wall_seconds": round(s.wall_seconds, 2),
            }
            self.run.save_best(self.algo.save_to_path, {**dataclasses.asdict(s), "validation": s.best_validation})
        return {key: metrics.get(name) for key, name in VALIDATION_KEYS.items()}

    def _restarts(self) -> int:
        group = getattr(self.algo, "env_runner_group", None)
        return int(group.num_remote_worker_restarts()) if group is not None else 0

    def _log(self, summary: dict, steps_offset: int, wall_offset: float) -> None:
        s = self.state
        row = {
            "iteration": s.iteration,
            "wall_seconds": round(s.wall_seconds, 2),
            **summary,
            "env_runner_restarts": s.env_runner_restarts,
        }
        self.run.append_progress({k: ("" if v is None else v) for k, v in row.items()})
        for key, value in row.items():
            if value is not None and key != "iteration":
                self.writer.add_scalar(tensorboard_tag(key), value, s.env_steps)
        sps = (s.env_steps - steps_offset) / max(s.wall_seconds - wall_offset, 1e-6)
        _advance(self.bar, self.stops, s)
        postfix = {"steps": s.env_steps, "sps": f"{sps:.0f}", "ret": _fmt(summary["train_return"])}
        if self.validator is not None:
            last, best = s.last_validation or {}, s.best_validation or {}
            postfix["val"] = _fmt(last.get("success_rate"), ".2f")
            if last.get("steps_over_oracle") is not None:
                postfix["steps/oracle"] = _fmt(last["steps_over_oracle"], ".2f")
            postfix["best"] = _fmt(best.get("success_rate"), ".2f")
        elif s.last_eval_return is not None:
            postfix["eval"] = _fmt(s.last_eval_return)
        self.bar.set_postfix(postfix, refresh=False)

    # ---- finalise --------------------------------------------------------------------------
    def finalise(self, cluster: dict) -> dict[str, Any]:
        s, o = self.state, self.options
        final: dict[str, Any] = {}
        if self.validator is not None:
            self.validate()  # the last weights compete for best/ too
            final = {
                "fusion/success_rate": s.last_validation["success_rate"],
                "episode_return_mean": s.last_validation["mean_return"],
            }
        else:
            final = _final_evaluation(self.algo)
        final_return = final.get("episode_return_mean", s.last_eval_return)
        if final_return is not None and self.validator is None:
            s.best_eval_return = final_return if s.best_eval_return is None else max(s.best_eval_return, final_return)
        last = self.run.save_checkpoint(s.iteration, self.algo.save_to_path, dataclasses.asdict(s), o.keep_checkpoints)
        self.writer.close()
        self._plot()
        best = self.run.best_checkpoint()
        result = {
            "env": o.env,
            "env_steps": s.env_steps,
            "iterations": s.iteration,
            "wall_seconds": round(s.wall_seconds, 2),
            "best_eval_return": s.best_eval_return,
            "final_eval_return": final_return,
            "final_eval_success_rate": final.get("fusion/success_rate"),
            "checkpoint": str(last.resolve()),
            "best_checkpoint": str(best[0].resolve()) if best else None,
            "best_validation": s.best_validation,
            "stopped_because": self.stopped_because,
            "seed": o.seed,
            "num_env_runners": o.num_env_runners,
            "env_runner_restarts": s.env_runner_restarts,
            "resumed": self.resume,
            "cluster": cluster,
            "stop_criteria": self.stops,
        }
        self.run.write_result(result)
        return result

    def _plot(self) -> None:
        from agents.plots import learning_curve

        rows = self.run.read_progress()
        if rows:
            learning_curve(rows, self.run.path / "learning_curve.png", f"DQN on {self.options.env}")

    def close(self) -> None:
        if self.validator is not None:
            self.validator.close()
        if getattr(self, "algo", None) is not None:
            self.algo.stop()


def train(options: TrainOptions, *, resume: bool = False) -> dict[str, Any]:
    """Run training to a stop criterion; returns (and writes) result.json's content."""
    import ray

    from agents import ray_session

    training = Training(options, resume)
    training.prepare_run_dir()
    learners = options.resolved_learners()
    cpus_needed = (options.num_env_runners + options.num_eval_runners) * options.cpus_per_runner
    cluster = ray_session.connect(
        options.address,
        cpus_needed=cpus_needed,
        num_cpus=options.num_cpus,
        gpus_needed=learners["num_gpus_per_learner"] * max(learners["num_learners"], 1),
    )
    try:
        training.build()
        training.loop()
        result = training.finalise(cluster)
        training.close()
        return result
    finally:
        ray.shutdown()


def _progress_bar(stops: dict, state: RunState, options: TrainOptions) -> tqdm:
    """Counts the wall budget when there is one (what the run will really stop on), else env steps."""
    common = {"disable": not options.progress, "desc": options.env, "dynamic_ncols": True}
    if stops.get("minutes") is not None:
        return tqdm(
            total=round(stops["minutes"] * 60),
            initial=round(state.wall_seconds),
            unit="s",
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s of budget "
            "[{remaining} left at most{postfix}]",
            **common,
        )
    return tqdm(total=stops.get("timesteps"), initial=state.env_steps, unit="step", **common)


def _advance(bar: tqdm, stops: dict, state: RunState) -> None:
    now = min(state.wall_seconds, bar.total) if stops.get("minutes") is not None else state.env_steps
    bar.update(now - bar.n)


def _final_evaluation(algo) -> dict:
    """Greedy evaluation of the final policy on fresh episodes (RLlib's evaluation)."""
    try:
        out = algo.evaluate()
    except Exception as exc:  # evaluation must not lose the run's checkpoint and result
        print(f"warning: final evaluation failed: {exc!r}")
        return {}
    return {k: _num(v) for k, v in (out.get("env_runners", {}) or {}).items() if _num(v) is not None}


def _fmt(value, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)
