"""Our trainer (`python train.py`) against stable-baselines3 DQN on FaceFusion, side by side on
this machine, with the same wall budget and the same validation-based best model; plus our
trainer on FaceFusionSwap-v0. The full benchmark (about 9 runs x 10 min + held-out scoring;
run it on a quiet machine):

    nice -n 10 .venv/bin/python benchmarks/facefusion_vs_sb3.py --minutes 10 --seeds 0 1 2 \
        --out runs/vs_sb3 --results benchmarks/results/facefusion_vs_sb3

Quick end-to-end check (30 s budgets, seed 0, 10 validation / 10 held-out episodes; ~5 min):

    nice -n 10 .venv/bin/python benchmarks/facefusion_vs_sb3.py --dry-run --out /tmp/vs_sb3_dry

Phases: (1) train, one run after another (`--parallel 2` runs two at a time); every run gets
the same torch threads (`--threads`, default: this machine's cores / runs at a time; ours via
OMP_NUM_THREADS, which its learner's "auto" threads follow, SB3 via torch.set_num_threads); (2) post hoc, score every model each run
saved on the held-out faces, the same episodes for every model (env seeds 10000.., as
agents.evaluate; `--episodes`, default 100), and the oracle (envs.baselines.OraclePolicy) on the same episodes; (3) write
`--results`.json/.md/.png. Held-out scores never feed back into training or selection.

* Ours: `train.py --seed S --run-dir OUT/ours-ENV-seedS --stop-minutes M`; it validates on the
  validation faces and keeps `best/` itself. A watcher copies every checkpoint and every
  `best/` it writes (RLModule + state.json) into `snapshots/`, so the held-out curve does not
  depend on how many checkpoints the run keeps.
* SB3: benchmarks/_sb3.py, DQN `CnnPolicy` (NatureCNN) with its own settings (see there),
  validated on the same validation episodes at the same interval, best model kept.

Per run: wall minutes to >= 90% held-out success (first saved model, in wall order, that
reaches it; wall = the trainer's own training clock, validation included, startup excluded),
held-out success of the best-by-validation model, its mean steps / the oracle's; the same for
that model on benchmarks/real_photos (`--real-photos`, split "all"; evaluation only).
Completed runs (result.json present) are not retrained and held-out scores are cached per
run (heldout.json), so an interrupted benchmark picks up where it stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agents.presets import PRESETS

ROOT = Path(__file__).resolve().parent.parent
SWAP_PRESET_MINUTES = float(PRESETS["FaceFusionSwap-v0"]["stop"]["minutes"])
SB3_SCRIPT = Path(__file__).resolve().parent / "_sb3.py"
HELDOUT_SEED = 10_000  # agents.evaluate's default first seed
TARGET_SUCCESS = 0.9
SWAP_TARGET = 0.85
RATIO_TARGET = 1.5
DRY_RUN = {
    "minutes": 0.5,
    "seeds": [0],
    "episodes": 10,
    "config": {"validation": {"episodes": 10, "interval_seconds": 10.0}},
    "sb3_settings": {"learning_starts": 200, "target_update_interval": 250, "buffer_size": 5000},
}


@dataclass
class Job:
    trainer: str  # "ours" | "sb3"
    env: str
    seed: int
    dir: Path
    minutes: float

    @property
    def label(self) -> str:
        return f"{self.trainer}-{self.env}-seed{self.seed}"


def plan(args) -> list[Job]:
    jobs = []
    for seed in args.seeds:
        jobs.append(Job("ours", "FaceFusion-v0", seed, args.out / f"ours-FaceFusion-v0-seed{seed}", args.minutes))
        if not args.no_sb3:
            jobs.append(Job("sb3", "FaceFusion-v0", seed, args.out / f"sb3-FaceFusion-v0-seed{seed}", args.minutes))
    if not args.no_swap:
        jobs += [
            Job("ours", "FaceFusionSwap-v0", seed, args.out / f"ours-FaceFusionSwap-v0-seed{seed}", args.swap_minutes)
            for seed in args.seeds
        ]
    return jobs


# ---- training ------------------------------------------------------------------------------


class SnapshotWatcher(threading.Thread):
    """Copies each complete checkpoint of a running train.py (checkpoints/iter_* and best/)
    into `snapshots/`: the RLModule and state.json only, small next to RLlib's full state."""

    def __init__(self, run_dir: Path, poll: float = 1.0):
        super().__init__(daemon=True)
        self.run_dir, self.snaps, self.poll = run_dir, run_dir / "snapshots", poll
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.poll):
            self.sweep()
        self.sweep()

    def sweep(self) -> None:
        from agents.checkpoints import MODULE_SUBPATH
        from agents.run_dir import BEST, STATE_FILE, read_state

        sources = sorted((self.run_dir / "checkpoints").glob("iter_*")) + [self.run_dir / BEST]
        for src in sources:
            state = read_state(src)
            if state is None:
                continue
            key = f"{'best' if src.name == BEST else 'iter'}_{int(state['iteration']):06d}"
            dest = self.snaps / key
            if dest.exists():
                continue
            tmp = self.snaps / f".tmp-{key}"
            try:
                shutil.rmtree(tmp, ignore_errors=True)
                shutil.copytree(src / MODULE_SUBPATH, tmp / MODULE_SUBPATH)
                if read_state(src) != state:  # replaced while we copied: take the new one next time
                    raise OSError("changed during copy")
                (tmp / STATE_FILE).write_text(json.dumps(state))
                os.replace(tmp, dest)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)


def _train_help() -> str:
    return subprocess.run(
        [sys.executable, "train.py", "--help"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout


def train_job(job: Job, args, config: Path | None, threads: int, train_help: str) -> None:
    if (job.dir / "result.json").exists():
        print(f"[{job.label}] done before, not retrained", flush=True)
        return
    if job.dir.exists():  # an interrupted run: keep it aside, start afresh
        job.dir.rename(job.dir.with_name(f"{job.dir.name}.incomplete-{time.strftime('%Y%m%d-%H%M%S')}"))
    job.dir.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "OMP_NUM_THREADS": str(threads)}
    if job.trainer == "ours":
        cmd = [
            sys.executable,
            "train.py",
            "--env",
            job.env,
            "--seed",
            str(job.seed),
            "--run-dir",
            str(job.dir),
            "--stop-minutes",
            str(job.minutes),
            "--no-progress",
            "--eval-episodes",
            "0",
        ]
        if "--keep-checkpoints" in train_help:
            cmd += ["--keep-checkpoints", "100000"]
        if args.checkpoint_every is not None:
            cmd += ["--checkpoint-every", str(args.checkpoint_every)]
    else:
        cmd = [
            sys.executable,
            str(SB3_SCRIPT),
            "--env",
            job.env,
            "--seed",
            str(job.seed),
            "--out",
            str(job.dir),
            "--minutes",
            str(job.minutes),
            "--threads",
            str(threads),
            "--settings",
            json.dumps(DRY_RUN["sb3_settings"] if args.dry_run else {}),
        ]
    if config is not None:
        cmd += ["--config", str(config)]
    log = job.dir.with_name(job.dir.name + ".log")
    print(f"[{job.label}] {' '.join(cmd)}  (log: {log})", flush=True)
    watcher = SnapshotWatcher(job.dir) if job.trainer == "ours" else None
    if watcher:
        watcher.start()
    t0 = time.time()
    try:
        with log.open("w") as fh:
            rc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, check=False).returncode
    finally:
        if watcher:
            watcher.done.set()
            watcher.join()
    print(f"[{job.label}] exit {rc} after {time.time() - t0:.0f} s", flush=True)
    if rc != 0:
        raise RuntimeError(f"{job.label} failed (exit {rc}); see {log}")


# ---- held-out scoring ----------------------------------------------------------------------


def saved_models(job: Job) -> tuple[list[dict], dict, dict]:
    """(models in wall order, the run's result.json, env kwargs to score with). Each model:
    key, path, wall_seconds, env_steps, validation success (when validated), is_best."""
    result = json.loads((job.dir / "result.json").read_text())
    models = []
    if job.trainer == "ours":
        from agents.checkpoints import resolve
        from agents.run_dir import read_state

        for snap in sorted((job.dir / "snapshots").glob("*_*")):
            state = read_state(snap)
            val = state.get("validation") if snap.name.startswith("best_") else state.get("last_validation")
            wall = (
                (val or {}).get("wall_seconds", state["wall_seconds"])
                if snap.name.startswith("best_")
                else state["wall_seconds"]
            )
            models.append(
                {
                    "key": snap.name,
                    "path": str(snap),
                    "wall_seconds": float(wall),
                    "env_steps": int(state["env_steps"]),
                    "val_success_rate": (val or {}).get("success_rate"),
                    "is_best": False,
                }
            )
        from agents.run_dir import RunDir

        run = RunDir(job.dir)  # best/ as agents.evaluate picks it (the newest checkpoint if none)
        best_dir, best_state = run.best_checkpoint() or run.latest_checkpoint()
        best_val = best_state.get("validation") or {}
        models.append(
            {
                "key": "best",
                "path": str(best_dir),
                "is_best": True,
                "wall_seconds": float(best_val.get("wall_seconds", best_state.get("wall_seconds", 0.0))),
                "env_steps": int(best_state.get("env_steps", 0)),
                "val_success_rate": best_val.get("success_rate"),
            }
        )
        env_kwargs = dict(resolve(job.dir).env_config)
    else:
        for line in (job.dir / "validations.jsonl").read_text().splitlines():
            row = json.loads(line)
            models.append(
                {
                    "key": Path(row["model"]).stem,
                    "path": str(job.dir / row["model"]),
                    "wall_seconds": row["wall_seconds"],
                    "env_steps": row["env_steps"],
                    "val_success_rate": row["validation"]["success_rate"],
                    "is_best": False,
                }
            )
        best = result["best"]
        models.append(
            {
                "key": "best",
                "path": str(job.dir / result["best_checkpoint"]),
                "is_best": True,
                "wall_seconds": best["wall_seconds"],
                "env_steps": best["env_steps"],
                "val_success_rate": best["success_rate"],
            }
        )
        env_kwargs = {k: v for k, v in result["env_kwargs"].items() if k != "split"}
    models.sort(key=lambda m: (m["wall_seconds"], m["is_best"]))
    return models, result, env_kwargs


def eval_env(env_id: str, env_kwargs: dict, faces: str | None = None, split: str = "heldout"):
    """The env agents.evaluate scores with (training-only keys dropped)."""
    from agents.evaluate import make_env

    return make_env(env_id, env_kwargs, faces=faces, split=split)


def play(env, policy, seeds: list[int]) -> dict:
    from envs.baselines import run_episode

    eps = [run_episode(env, policy, seed=s) for s in seeds]
    return {
        "success": [bool(e["info"]["success"]) for e in eps],
        "steps": [int(e["steps"]) for e in eps],
        "position_error_px": [float(e["info"]["position_error_px"]) for e in eps],
    }


class Policies:
    """Greedy policies of one run's saved models, for the same `policy(observation, env)` loop."""

    def __init__(self, job: Job, env_kwargs: dict):
        self.job, self.env_kwargs, self.sb3 = job, env_kwargs, None

    def __call__(self, model: dict, env):
        if self.job.trainer == "ours":
            from agents.checkpoints import GreedyPolicy, load_module, resolve

            policy = GreedyPolicy(load_module(resolve(model["path"])))
            policy.check_spaces(env, model["path"])
            return policy
        if self.sb3 is None:
            sys.path.insert(0, str(SB3_SCRIPT.parent))
            from _sb3 import inference_policy

            self.sb3 = inference_policy(self.job.env, {**self.env_kwargs, "split": "heldout"})
        return self.sb3.load_weights(Path(model["path"]))


def _oracle(oracles: dict, env, key: list, seeds: list[int]) -> dict:
    from envs.baselines import OraclePolicy

    okey = json.dumps(key, sort_keys=True)
    if okey not in oracles:
        oracles[okey] = play(env, OraclePolicy(), seeds)
    return oracles[okey]


def score(job: Job, seeds: list[int], oracles: dict, real_photos: str | None = None) -> dict:
    """Held-out scores of every model of one run (cached in RUN/heldout.json); with
    `real_photos`, also the best model's on that folder (all of it)."""
    from agents.run_dir import atomic_write_json

    models, result, env_kwargs = saved_models(job)
    cache_file = job.dir / "heldout.json"
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    if cache.get("seeds") != seeds:
        cache = {"seeds": seeds, "models": {}}
    policies = Policies(job, env_kwargs)
    env = eval_env(job.env, env_kwargs)
    oracle = _oracle(oracles, env, [job.env, env_kwargs, "heldout"], seeds)
    for m in models:
        if m["key"] in cache["models"]:
            continue
        t0 = time.time()
        cache["models"][m["key"]] = play(env, policies(m, env), seeds)
        print(
            f"[{job.label}] {m['key']}: held-out success {np.mean(cache['models'][m['key']]['success']):.2f} "
            f"({time.time() - t0:.1f} s)",
            flush=True,
        )
        atomic_write_json(cache_file, cache)
    env.close()
    rows = []
    for m in models:
        ep = cache["models"][m["key"]]
        rows.append(
            {
                **m,
                "heldout_success_rate": float(np.mean(ep["success"])),
                "heldout_mean_steps": float(np.mean(ep["steps"])),
                "heldout_mean_position_error_px": float(np.mean(ep["position_error_px"])),
            }
        )
    best = next(r for r in rows if r["is_best"])
    curve = [r for r in rows if not r["is_best"]] or [best]
    reached = next((r for r in curve if r["heldout_success_rate"] >= TARGET_SUCCESS), None)
    oracle_steps = float(np.mean(oracle["steps"]))
    out = {
        "trainer": job.trainer,
        "env": job.env,
        "seed": job.seed,
        "run_dir": str(job.dir),
        "env_steps": result.get("env_steps"),
        "wall_seconds": result.get("wall_seconds"),
        "stopped_because": result.get("stopped_because"),
        "env_kwargs": env_kwargs,
        "best_validation_success": best["val_success_rate"],
        "best_wall_seconds": best["wall_seconds"],
        "best_env_steps": best["env_steps"],
        "heldout_success_best": best["heldout_success_rate"],
        "heldout_steps_best": best["heldout_mean_steps"],
        "oracle_steps": oracle_steps,
        "steps_over_oracle_best": best["heldout_mean_steps"] / oracle_steps,
        "oracle_success": float(np.mean(oracle["success"])),
        "minutes_to_target": None if reached is None else reached["wall_seconds"] / 60.0,
        "max_heldout_success": max(r["heldout_success_rate"] for r in curve),
        "models": rows,
    }
    if real_photos:
        key = f"real:{Path(real_photos).resolve()}"
        env = eval_env(job.env, env_kwargs, faces=real_photos, split="all")
        if key not in cache:
            cache[key] = play(env, policies(best, env), seeds)
            atomic_write_json(cache_file, cache)
        real_oracle = _oracle(oracles, env, [job.env, env_kwargs, key], seeds)
        env.close()
        out.update(
            {
                "real_photos": str(real_photos),
                "real_success_best": float(np.mean(cache[key]["success"])),
                "real_steps_over_oracle_best": float(np.mean(cache[key]["steps"]))
                / float(np.mean(real_oracle["steps"])),
            }
        )
        print(
            f"[{job.label}] best on {real_photos}: success {out['real_success_best']:.2f}, "
            f"{out['real_steps_over_oracle_best']:.2f}x oracle steps",
            flush=True,
        )
    return out


# ---- report --------------------------------------------------------------------------------


def _fmt(value, spec: str, none: str = "-") -> str:
    return none if value is None else format(value, spec)


def markdown(runs: list[dict], args, machine: str) -> str:
    lines = [
        (
            f"Held-out faces, {args.episodes} fixed episodes per model; wall budget {args.minutes:g} min per run "
            f"(our FaceFusionSwap-v0: {args.swap_minutes:g}); "
            f"{machine}."
        ),
        "",
        (
            "| trainer | env | seed | env steps | wall min | stopped | best val. success | min to >= 90% held-out "
            "| held-out success (best) | steps / oracle (best) | real photos: success, steps / oracle (best) |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        reach = (
            _fmt(r["minutes_to_target"], ".1f")
            if r["minutes_to_target"] is not None
            else f"not reached (max {r['max_heldout_success']:.0%})"
        )
        real = (
            f"{r['real_success_best']:.0%}, {r['real_steps_over_oracle_best']:.2f}x"
            if "real_success_best" in r
            else "-"
        )
        lines.append(
            f"| {r['trainer']} | {r['env']} | {r['seed']} | {r['env_steps']} | "
            f"{_fmt(r['wall_seconds'] and r['wall_seconds'] / 60, '.1f')} | {r['stopped_because'] or '-'} | "
            f"{_fmt(r['best_validation_success'], '.2f')} | {reach} | {r['heldout_success_best']:.0%} | "
            f"{r['steps_over_oracle_best']:.2f}x | {real} |"
        )
    lines += ["", "Targets (issue 12):"]
    for line in targets(runs):
        lines.append(f"- {line}")
    return "\n".join(lines) + "\n"


def targets(runs: list[dict]) -> list[str]:
    out = []
    ours = {r["seed"]: r for r in runs if r["trainer"] == "ours" and r["env"] == "FaceFusion-v0"}
    sb3 = {r["seed"]: r for r in runs if r["trainer"] == "sb3"}
    swap = [r for r in runs if r["trainer"] == "ours" and r["env"] == "FaceFusionSwap-v0"]
    if ours:
        ok = all(r["heldout_success_best"] >= TARGET_SUCCESS for r in ours.values())
        out.append(
            f"ours, held-out success >= {TARGET_SUCCESS:.0%} on every seed: {'met' if ok else 'NOT met'} "
            "(" + ", ".join(f"{r['heldout_success_best']:.0%}" for r in ours.values()) + ")"
        )
        ok = all(r["steps_over_oracle_best"] <= RATIO_TARGET for r in ours.values())
        out.append(
            f"ours, mean steps <= {RATIO_TARGET}x oracle: {'met' if ok else 'NOT met'} "
            "(" + ", ".join(f"{r['steps_over_oracle_best']:.2f}x" for r in ours.values()) + ")"
        )
    both = sorted(set(ours) & set(sb3))
    if both:

        def t(r):
            return float("inf") if r["minutes_to_target"] is None else r["minutes_to_target"]

        ok = all(ours[s]["minutes_to_target"] is not None and t(ours[s]) <= t(sb3[s]) for s in both)
        out.append(
            "ours reaches 90% held-out no later than SB3 on every seed: "
            + ("met" if ok else "NOT met")
            + " ("
            + ", ".join(
                f"seed {s}: {_fmt(ours[s]['minutes_to_target'], '.1f', 'never')} vs "
                f"{_fmt(sb3[s]['minutes_to_target'], '.1f', 'never')} min"
                for s in both
            )
            + ")"
        )
    real = [r for r in ours.values() if "real_success_best" in r]
    if real:
        ok = all(
            r["real_success_best"] >= TARGET_SUCCESS and r["real_steps_over_oracle_best"] <= RATIO_TARGET for r in real
        )
        out.append(
            f"ours on real photos, >= {TARGET_SUCCESS:.0%} success and <= {RATIO_TARGET}x oracle steps: "
            + ("met" if ok else "NOT met")
            + " ("
            + ", ".join(f"{r['real_success_best']:.0%} / {r['real_steps_over_oracle_best']:.2f}x" for r in real)
            + ")"
        )
    if swap:
        ok = all(r["heldout_success_best"] >= SWAP_TARGET for r in swap)
        out.append(
            f"FaceFusionSwap-v0 held-out success >= {SWAP_TARGET:.0%}: {'met' if ok else 'NOT met'} "
            "(" + ", ".join(f"{r['heldout_success_best']:.0%}" for r in swap) + ")"
        )
    return out


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    for r in runs:
        curve = [m for m in r["models"] if not m["is_best"]]
        style = "-" if r["trainer"] == "ours" else "--"
        ax.plot(
            [m["wall_seconds"] / 60 for m in curve],
            [m["heldout_success_rate"] for m in curve],
            style,
            marker=".",
            label=f"{r['trainer']} {r['env']} seed {r['seed']}",
        )
    ax.axhline(TARGET_SUCCESS, color="grey", lw=0.8)
    ax.set_xlabel("wall minutes (trainer's clock)")
    ax.set_ylabel("held-out success of saved models")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Our trainer vs stable-baselines3 DQN on FaceFusion (see module docstring)."
    )
    p.add_argument("--minutes", type=float, default=10.0, help="wall budget per run")
    p.add_argument(
        "--swap-minutes",
        type=float,
        default=None,
        help="wall budget of our FaceFusionSwap-v0 runs (default: --minutes, or its preset's when larger)",
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--episodes", type=int, default=100, help="held-out episodes per saved model")
    p.add_argument("--parallel", type=int, default=1, choices=(1, 2), help="runs at a time")
    p.add_argument("--threads", type=int, default=None, help="torch threads per run (default: cores / --parallel)")
    p.add_argument("--out", type=Path, default=Path("runs/vs_sb3"), help="run dirs and logs")
    p.add_argument(
        "--results", type=Path, default=None, help="prefix of the .json/.md/.png results (default OUT/results)"
    )
    p.add_argument("--checkpoint-every", type=int, default=None, help="passed to train.py (default: its own)")
    p.add_argument(
        "--real-photos",
        default=str(ROOT / "benchmarks" / "real_photos"),
        help="also score each run's best model on this photo folder (all of it; '' = skip)",
    )
    p.add_argument("--no-swap", action="store_true", help="skip our trainer on FaceFusionSwap-v0")
    p.add_argument("--no-sb3", action="store_true", help="our trainer only (re-measuring the preset; no race row)")
    p.add_argument("--skip-training", action="store_true", help="only score and report existing runs")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help=f"tiny end-to-end check: {DRY_RUN['minutes']} min, seed 0, {DRY_RUN['episodes']} episodes",
    )
    args = p.parse_args(argv)
    if args.dry_run:
        args.minutes, args.seeds, args.episodes = DRY_RUN["minutes"], DRY_RUN["seeds"], DRY_RUN["episodes"]
    if args.minutes <= 0 or args.episodes < 1:
        p.error("--minutes must be > 0 and --episodes >= 1")
    if args.swap_minutes is None:
        args.swap_minutes = args.minutes if args.dry_run else max(args.minutes, SWAP_PRESET_MINUTES)
    if args.swap_minutes <= 0:
        p.error(f"--swap-minutes must be > 0, got {args.swap_minutes}")
    if args.threads is None:
        args.threads = max(1, (os.cpu_count() or 1) // args.parallel)
    if args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    args.out = args.out.absolute()
    args.out.mkdir(parents=True, exist_ok=True)
    results = (args.results or args.out / "results").absolute()
    config = None
    if args.dry_run:
        config = args.out / "dry_run_config.json"
        config.write_text(json.dumps(DRY_RUN["config"]))
    jobs = plan(args)
    t0 = time.time()
    if not args.skip_training:
        train_help = _train_help()
        with ThreadPoolExecutor(max_workers=args.parallel) as pool:
            for future in [pool.submit(train_job, job, args, config, args.threads, train_help) for job in jobs]:
                future.result()
    train_seconds = time.time() - t0
    import torch

    torch.set_num_threads(1)  # batch-1 forward passes: a second thread only adds sync (and stalls on busy cores)
    seeds = [HELDOUT_SEED + i for i in range(args.episodes)]
    oracles: dict = {}
    real = args.real_photos if args.real_photos and Path(args.real_photos).is_dir() else None
    runs = [score(job, seeds, oracles, real) for job in jobs if (job.dir / "result.json").exists()]
    machine = f"{os.cpu_count()} CPU cores, parallel {args.parallel}, {args.threads} torch thread(s) per run"
    payload = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "minutes": args.minutes,
        "swap_minutes": args.swap_minutes,
        "seeds": args.seeds,
        "heldout_episodes": args.episodes,
        "heldout_seed": HELDOUT_SEED,
        "parallel": args.parallel,
        "threads": args.threads,
        "machine": machine,
        "dry_run": args.dry_run,
        "train_seconds_total": round(train_seconds, 1),
        "targets": targets(runs),
        "runs": runs,
    }
    from agents.run_dir import atomic_write_json, atomic_write_text

    results.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(results.with_suffix(".json"), payload)
    table = markdown(runs, args, machine)
    atomic_write_text(results.with_suffix(".md"), f"`{payload['command']}`\n\n" + table)
    plot(runs, results.with_suffix(".png"))
    print(table)
    print(f"results: {results.with_suffix('.json')}, .md, .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
