"""The training loop: build the DQN algorithm, train until a stop criterion, log, checkpoint."""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from agents.presets import preset_for
from agents.run_dir import RunDir, RunDirError

RESUMABLE_KEYS = ("env", "num_env_runners", "num_eval_runners", "cpus_per_runner", "seed", "config",
                  "env_config", "stop_return", "stop_success", "stop_timesteps", "stop_minutes",
                  "checkpoint_every")


@dataclass
class TrainOptions:
    env: str = "FaceFusion-v0"
    run_dir: str = "runs/latest"
    num_env_runners: int = 0
    num_eval_runners: int = 0
    cpus_per_runner: float = 1.0
    address: str | None = None
    seed: int = 0
    config: str | None = None
    env_config: dict = field(default_factory=dict)
    stop_return: float | None = None
    stop_success: float | None = None
    stop_timesteps: int | None = None
    stop_minutes: float | None = None
    checkpoint_every: int = 5
    keep_checkpoints: int = 3
    progress: bool = True
    final_eval_episodes: int | None = None
    num_cpus: int | None = None  # local Ray only

    def resolved_stops(self) -> dict[str, Any]:
        """Stop criteria: explicit options win, else the preset's defaults."""
        stop = preset_for(self.env, self.config).get("stop", {})
        return {
            "return": self.stop_return if self.stop_return is not None else stop.get("return"),
            "success": self.stop_success if self.stop_success is not None else stop.get("success"),
            "timesteps": self.stop_timesteps if self.stop_timesteps is not None else stop.get("timesteps"),
            "minutes": self.stop_minutes if self.stop_minutes is not None else stop.get("minutes"),
        }


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


def summarize(result: dict) -> dict[str, Any]:
    """The numbers we log per iteration, pulled out of RLlib's nested result dict."""
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
        "num_healthy_env_runners": _num(runners.get("num_healthy_workers", result.get("num_healthy_workers"))),
    }


def check_stop(summary: dict, stops: dict, minutes: float) -> str | None:
    if stops.get("return") is not None and summary["eval_return"] is not None \
            and summary["eval_return"] >= stops["return"]:
        return "stop_return"
    if stops.get("success") is not None and summary["eval_success_rate"] is not None \
            and summary["eval_success_rate"] >= stops["success"]:
        return "stop_success"
    if stops.get("timesteps") is not None and summary["env_steps"] >= stops["timesteps"]:
        return "stop_timesteps"
    if stops.get("minutes") is not None and minutes >= stops["minutes"]:
        return "stop_minutes"
    return None


def options_from_run_dir(run_dir: str, **overrides) -> TrainOptions:
    saved = RunDir(run_dir).load_options()
    kwargs = {k: saved[k] for k in RESUMABLE_KEYS if k in saved}
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    return TrainOptions(run_dir=run_dir, **kwargs)


def train(options: TrainOptions, *, resume: bool = False) -> dict[str, Any]:
    """Run training to a stop criterion; returns (and writes) result.json's content."""
    import ray
    from tensorboardX import SummaryWriter

    from agents import ray_session
    from agents.config import build_config
    from agents.plots import learning_curve

    preset = preset_for(options.env, options.config)
    stops = options.resolved_stops()
    run = RunDir(options.run_dir)
    start_state: dict[str, Any] = {"iteration": 0, "env_steps": 0, "wall_seconds": 0.0,
                                    "best_eval_return": None, "env_runner_restarts": 0}
    checkpoint_to_restore = None
    if resume:
        latest = run.latest_checkpoint()
        if latest is None:
            raise RunDirError(f"--resume {run.path}: no complete checkpoint in {run.checkpoints}")
        checkpoint_to_restore, start_state = latest[0], {**start_state, **latest[1]}
        run.truncate_progress(start_state["iteration"])
    else:
        run.create({**dataclasses.asdict(options), "address": options.address})

    cpus_needed = (options.num_env_runners + options.num_eval_runners) * options.cpus_per_runner
    cluster = ray_session.connect(options.address, cpus_needed=cpus_needed, num_cpus=options.num_cpus)
    try:
        config = build_config(
            options.env, preset,
            num_env_runners=options.num_env_runners,
            num_eval_runners=options.num_eval_runners,
            cpus_per_runner=options.cpus_per_runner,
            seed=options.seed,
            env_config=options.env_config,
        )
        algo = config.build_algo()
        if checkpoint_to_restore is not None:
            algo.restore_from_path(str(checkpoint_to_restore))
        writer = SummaryWriter(str(run.path))
        iteration = int(start_state["iteration"])
        best = start_state["best_eval_return"]
        restarts_before = int(start_state.get("env_runner_restarts", 0))
        wall_offset = float(start_state["wall_seconds"])
        steps_offset = int(start_state["env_steps"])
        t0 = time.time()
        stopped_because, summary, last_eval, last_ckpt = None, None, None, None
        bar = tqdm(total=stops.get("timesteps"), initial=steps_offset, unit="step", disable=not options.progress,
                   desc=options.env, dynamic_ncols=True)

        def state_now() -> dict:
            return {"iteration": iteration, "env_steps": env_steps, "wall_seconds": wall,
                    "best_eval_return": best, "env_runner_restarts": restarts,
                    "last_eval_return": last_eval}

        def restarts_so_far() -> int:
            group = getattr(algo, "env_runner_group", None)
            n = group.num_remote_worker_restarts() if group is not None else 0
            return restarts_before + int(n)

        env_steps, wall, restarts = steps_offset, wall_offset, restarts_before
        eval_interval = int(config.evaluation_interval or 0)
        try:
            while stopped_because is None:
                result = algo.train()
                iteration += 1
                summary = summarize(result)
                if eval_interval and iteration % eval_interval:  # RLlib repeats the last evaluation
                    summary.update({k: None for k in summary if k.startswith("eval_")})
                # RLlib restores its lifetime counters from the checkpoint; guard anyway.
                env_steps = max(summary["env_steps"], steps_offset)
                summary["env_steps"] = env_steps
                wall = wall_offset + time.time() - t0
                restarts = restarts_so_far()
                if summary["eval_return"] is not None:
                    last_eval = summary["eval_return"]
                    best = last_eval if best is None else max(best, last_eval)
                row = {"iteration": iteration, "wall_seconds": round(wall, 2), **summary,
                       "env_runner_restarts": restarts}
                run.append_progress({k: ("" if v is None else v) for k, v in row.items()})
                for key, value in row.items():
                    if value is not None and key != "iteration":
                        writer.add_scalar(f"train/{key}", value, env_steps)
                bar.update(env_steps - bar.n)
                bar.set_postfix(it=iteration, ret=_fmt(summary["train_return"]), eval=_fmt(last_eval),
                                sps=f"{(env_steps - steps_offset) / max(wall - wall_offset, 1e-6):.0f}")
                stopped_because = check_stop(summary, stops, wall / 60.0)
                if options.checkpoint_every and iteration % options.checkpoint_every == 0 and not stopped_because:
                    last_ckpt = run.save_checkpoint(iteration, algo.save_to_path, state_now(),
                                                    options.keep_checkpoints)
        except KeyboardInterrupt:
            stopped_because = "interrupted"
        bar.close()
        final_eval = _final_evaluation(algo, options)
        final_return = final_eval.get("episode_return_mean", last_eval)
        if final_return is not None:
            best = final_return if best is None else max(best, final_return)
        last_ckpt = run.save_checkpoint(iteration, algo.save_to_path, state_now(), options.keep_checkpoints)
        writer.close()
        rows = run.read_progress()
        if rows:
            learning_curve(rows, run.path / "learning_curve.png", f"DQN on {options.env}")
        result = {
            "env": options.env,
            "env_steps": env_steps,
            "iterations": iteration,
            "wall_seconds": round(wall, 2),
            "best_eval_return": best,
            "final_eval_return": final_return,
            "final_eval_success_rate": final_eval.get("fusion/success_rate"),
            "checkpoint": str(last_ckpt.resolve()),
            "stopped_because": stopped_because,
            "seed": options.seed,
            "num_env_runners": options.num_env_runners,
            "env_runner_restarts": restarts,
            "resumed": resume,
            "cluster": cluster,
            "stop_criteria": stops,
        }
        run.write_result(result)
        algo.stop()
        return result
    finally:
        ray.shutdown()


def _final_evaluation(algo, options: TrainOptions) -> dict:
    """Greedy evaluation of the final policy on fresh episodes."""
    try:
        out = algo.evaluate()
    except Exception as exc:  # evaluation must not lose the run's checkpoint and result
        print(f"warning: final evaluation failed: {exc!r}")
        return {}
    return {k: _num(v) for k, v in (out.get("env_runners", {}) or {}).items() if _num(v) is not None}


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.1f}"
