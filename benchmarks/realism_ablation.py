"""Does the realism reward make fusions look more real? The ablation, from one command.

    python benchmarks/realism_ablation.py --seeds 0 1 2 --envs FaceFusion-v0 FaceFusionSwap-v0 \\
        --weights 0 0.5 --episodes 100 --parallel 2 --out benchmarks/results/realism_ablation

1. A reward critic (`python -m detectors.train`) and an independent judge (`python -m
   detectors.judge train`) are trained into OUT/critic and OUT/judge, unless --critic / --judge
   name existing ones.
2. Each (env, realism weight, seed) trains the env's preset with `python train.py`, with the
   preset's own stop (validation success, or 10 minutes for FaceFusion-v0, 15 for
   FaceFusionSwap-v0) unless --stop-minutes M / --stop-timesteps N are given. Weight 0 is the
   plain env (no critic in the loop); a weight > 0 loads the critic as `realism_checkpoint`
   and adds `weight x` its score change to the reward. At equal minutes the weight-0 arm samples more env steps (the critic costs ~1.7x per
   step); the table reports env steps so that difference is visible (use --stop-timesteps
   for equal steps).
3. Each run is evaluated on held-out faces: `python -m agents.evaluate --detector CRITIC --judge
   JUDGE` (the trained policy, and the random, oracle and landmark baselines on the same seeds).

Writes OUT/ablation.json (every run's metrics) and OUT/ablation.md: per env and arm, held-out
success and position error (mean +- sd over seeds), the reward critic's mean score, env steps,
and the judge's detection rate per blend mode over all episodes of all seeds with a 95% Wilson
interval; the landmark and oracle baselines on the same episodes as reference rows.
Runs whose evaluation already exists are reused, so an interrupted ablation resumes.
`--reuse FILE` takes runs from an earlier OUT/ablation.json instead (another machine, a deleted
run dir): only when that file's judge threshold is this judge's, and the table refuses to mix
rows whose baselines (same episodes, independent of the policy) were scored differently, i.e.
by another critic or judge. Give the same --critic and --judge dirs: retrained from the same
command on another machine, the judge is close but not identical (threshold 0.98409 against
0.98431, the same AUCs to three decimals), which is refused.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the README's judge: real photos in its training and in its validation (BENCHMARKS.md, "Session 12")
JUDGE_PHOTOS = [
    "--train-faces",
    str(ROOT / "benchmarks" / "judge_train_photos"),
    "--val-faces",
    str(ROOT / "benchmarks" / "judge_photos"),
]
BLENDS = ("paste", "color", "seamless")  # envs.fusion.BLENDS (not imported: keeps --help instant)


def wilson(k: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion k / n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _run(cmd: list[str], log: Path) -> None:
    """Run a step with its output in `log`; on failure, raise with the log's tail."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "PYTHONPATH": str(ROOT)}
    sys.stdout.write(f"$ {' '.join(cmd)}\n")  # one write: lines of parallel runs do not interleave
    sys.stdout.flush()
    with open(log, "w") as f:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}); log {log}:\n{log.read_text()[-3000:]}")


def detectors(args, out: Path) -> tuple[str, str]:
    """(critic dir, judge dir): the given ones, or trained now (reused if already there)."""
    critic, judge = args.critic, args.judge
    dry = ["--dry-run"] if args.dry_run_detectors else []
    if critic is None:
        critic = str(out / "critic")
        if not (out / "critic" / "discriminator.pt").is_file():
            _run(
                [sys.executable, "-m", "detectors.train", "--out", critic, "--no-progress", *dry],
                out / "logs" / "critic.log",
            )
    if judge is None:
        judge = str(out / "judge")
        if not (out / "judge" / "judge.pt").is_file():
            _run(
                [
                    sys.executable,
                    "-m",
                    "detectors.judge",
                    "train",
                    "--out",
                    judge,
                    "--no-progress",
                    *JUDGE_PHOTOS,
                    *dry,
                ],
                out / "logs" / "judge.log",
            )
    return critic, judge


def one_run(args, out: Path, env: str, weight: float, seed: int, critic: str, judge: str) -> dict:
    name = f"{env}-w{weight:g}-s{seed}"
    run_dir, eval_dir = out / "runs" / name, out / "runs" / name / "eval_ablation"
    if not (eval_dir / "metrics.json").is_file():
        cmd = [
            sys.executable,
            "train.py",
            "--env",
            env,
            "--seed",
            str(seed),
            "--run-dir",
            str(run_dir),
            "--eval-episodes",
            "0",
            "--checkpoint-every",
            "0",
            "--no-progress",
        ]
        cmd += ["--stop-timesteps", str(args.stop_timesteps)] if args.stop_timesteps else []
        cmd += ["--stop-minutes", str(args.stop_minutes)] if args.stop_minutes else []
        if weight > 0:
            cmd += ["--env-config", f"realism_checkpoint={critic}", "--env-config", f"realism_weight={weight}"]
        if args.faces:
            cmd += ["--faces", args.faces]
        if not (run_dir / "result.json").is_file():
            _run(cmd, out / "logs" / f"{name}.train.log")
        _run(
            [
                sys.executable,
                "-m",
                "agents.evaluate",
                "--checkpoint",
                str(run_dir),
                "--split",
                "heldout",
                "--episodes",
                str(args.episodes),
                "--detector",
                critic,
                "--judge",
                judge,
                "--out",
                str(eval_dir),
                "--no-progress",
                *(["--faces", args.faces] if args.faces else []),
            ],
            out / "logs" / f"{name}.eval.log",
        )
    result = json.loads((run_dir / "result.json").read_text())
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    return {
        "env": env,
        "weight": weight,
        "seed": seed,
        "run_dir": str(run_dir),
        "env_steps": result.get("env_steps"),
        "wall_seconds": result.get("wall_seconds"),
        "metrics": metrics,
    }


def reused_runs(files: list[str], judge_threshold: float) -> dict[tuple, dict]:
    """(env, weight, seed) -> run row, from earlier ablation.json files scored by this judge."""
    rows = {}
    for name in files:
        try:
            data = json.loads(Path(name).read_text())
            threshold, runs = data["judge_threshold"], data["runs"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RuntimeError(f"--reuse {name}: not a realism_ablation.py ablation.json ({exc})") from exc
        if not math.isclose(threshold, judge_threshold, rel_tol=0, abs_tol=1e-9):
            raise RuntimeError(
                f"--reuse {name}: scored by a judge with threshold {threshold!r}, this judge's is "
                f"{judge_threshold!r}; retrain the judge with that file's command or rerun its runs"
            )
        for run in runs:
            rows[(run["env"], float(run["weight"]), int(run["seed"]))] = {**run, "reused_from": str(name)}
    return rows


def check_baselines(runs: list[dict]) -> None:
    """Every evaluation plays the same episodes, so its baseline rows must agree; they do not
    when runs were scored by different critics or judges (e.g. a --reuse file's)."""
    keys = ("mean_realism", "judge_p_fake_paste", "success_rate")
    for env in dict.fromkeys(r["env"] for r in runs):
        rows = [r for r in runs if r["env"] == env]
        ref = rows[0]["metrics"]["landmark"]
        for r in rows[1:]:
            other = r["metrics"]["landmark"]
            bad = [k for k in keys if k in ref and not math.isclose(ref[k], other.get(k, math.nan), abs_tol=1e-6)]
            if bad:
                raise RuntimeError(
                    f"{env}: the landmark baseline of {r.get('reused_from', r['run_dir'])} differs from "
                    f"{rows[0].get('reused_from', rows[0]['run_dir'])} in {bad}: scored by another critic, "
                    "judge or episode set; these runs cannot share a table"
                )


def _pooled(rows: list[dict], policy: str) -> dict:
    """One arm (or baseline) over all its seeds: means and sds across seeds, judge rates over
    all episodes pooled, with Wilson intervals."""
    ms = [r["metrics"][policy] for r in rows]
    n = sum(m["episodes"] for m in ms)

    def mean_sd(key):
        vals = [m[key] for m in ms if key in m]
        return (statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0) if vals else (None, None)

    out = {
        "seeds": len(rows),
        "episodes": n,
        "success": mean_sd("success_rate"),
        "position_error_px": mean_sd("mean_position_error_px"),
        "critic": mean_sd("mean_realism"),
        "env_steps": statistics.fmean(r["env_steps"] for r in rows) if rows[0]["env_steps"] else None,
    }
    for blend in BLENDS:
        detected = sum(m[f"judge_detection_rate_{blend}"] * m["episodes"] for m in ms)
        out[f"judge_{blend}"] = {
            "rate": detected / n,
            "ci95": wilson(detected, n),
            "p_fake": statistics.fmean(m[f"judge_p_fake_{blend}"] for m in ms),
        }
    return out


def table(runs: list[dict], judge_meta: dict | None) -> tuple[dict, str]:
    summary, lines = (
        {},
        [
            "| env | arm | seeds | episodes | env steps | held-out success | position error (px) | "
            "critic P(real) | " + " | ".join(f"judge detects ({b}) [95% CI]" for b in BLENDS) + " |",
            "|---|---|---|---|---|---|---|---|" + "---|" * len(BLENDS),
        ],
    )

    def pm(v, fmt):
        return "-" if v[0] is None else f"{v[0]:{fmt}} ± {v[1]:{fmt}}"

    for env in dict.fromkeys(r["env"] for r in runs):
        arms = [
            (f"realism_weight={w:g}", [r for r in runs if r["env"] == env and r["weight"] == w], "policy")
            for w in dict.fromkeys(r["weight"] for r in runs if r["env"] == env)
        ]
        # every evaluation plays the same held-out episodes (agents.evaluate's fixed seeds), and
        # the baselines do not depend on the trained policy: one evaluation's rows, not duplicates
        first = [next(r for r in runs if r["env"] == env)]
        arms += [("landmark baseline", first, "landmark"), ("oracle baseline", first, "oracle")]
        for arm, rows, policy in arms:
            s = summary.setdefault(env, {})[arm] = _pooled(rows, policy)
            steps = f"{s['env_steps']:,.0f}" if policy == "policy" and s["env_steps"] else "-"
            judge = " | ".join(
                f"{s[f'judge_{b}']['rate']:.1%} [{s[f'judge_{b}']['ci95'][0]:.1%}, {s[f'judge_{b}']['ci95'][1]:.1%}]"
                for b in BLENDS
            )
            lines.append(
                f"| {env} | {arm} | {s['seeds']} | {s['episodes']} | {steps} | {pm(s['success'], '.1%')} | "
                f"{pm(s['position_error_px'], '.2f')} | {pm(s['critic'], '.3f')} | {judge} |"
            )
    if judge_meta:
        lines += [
            "",
            f"Judge threshold: logit {judge_meta.get('threshold_logit', float('nan')):.2f}, P {judge_meta['threshold']:.6f} "
            "(5% false alarms on its validation real "
            "crops). Every run is evaluated on the same held-out episodes; the baselines are "
            "shown once (they do not depend on the run).",
        ]
    return summary, "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--envs", nargs="+", default=["FaceFusion-v0", "FaceFusionSwap-v0"])
    ap.add_argument(
        "--weights", type=float, nargs="+", default=[0.0, 0.5], help="realism_weight arms (0 = no critic in the loop)"
    )
    ap.add_argument(
        "--stop-minutes", type=float, default=0.0, help="training budget per run (default 0: the preset's own)"
    )
    ap.add_argument("--stop-timesteps", type=int, default=None, help="env-step budget per run")
    ap.add_argument("--episodes", type=int, default=100, help="held-out evaluation episodes per run")
    ap.add_argument("--parallel", type=int, default=1, help="runs trained at a time (give each a core)")
    ap.add_argument("--faces", default=None, help="faces for training and evaluation (default: embedded)")
    ap.add_argument("--critic", default=None, help="existing reward critic dir (default: train one)")
    ap.add_argument("--judge", default=None, help="existing judge dir (default: train one)")
    ap.add_argument(
        "--reuse",
        nargs="+",
        default=[],
        metavar="ABLATION_JSON",
        help="take (env, weight, seed) runs from earlier ablation.json files scored by the same judge",
    )
    ap.add_argument("--dry-run-detectors", action="store_true", help="train critic and judge with --dry-run (smoke)")
    ap.add_argument("--out", default="benchmarks/results/realism_ablation")
    args = ap.parse_args(argv)
    if args.parallel < 1:
        ap.error(f"--parallel must be >= 1, got {args.parallel}")
    if any(w < 0 for w in args.weights):
        ap.error(f"--weights must be >= 0, got {args.weights}")
    out = Path(args.out).resolve()
    t0 = time.perf_counter()
    try:
        critic, judge = detectors(args, out)
        judge_meta = json.loads((Path(judge) / "judge.json").read_text())
        reused = reused_runs(args.reuse, judge_meta["threshold"])
        jobs = [(env, w, seed) for env in args.envs for w in args.weights for seed in args.seeds]
        fresh = [job for job in jobs if job not in reused]
        with ThreadPoolExecutor(max_workers=args.parallel) as pool:  # each run is its own process
            done = dict(zip(fresh, pool.map(lambda job: one_run(args, out, *job, critic, judge), fresh)))
        runs = [reused.get(job) or done[job] for job in jobs]
        check_baselines(runs)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    summary, md = table(runs, judge_meta)
    command = "python benchmarks/realism_ablation.py " + " ".join(sys.argv[1:] if argv is None else argv)
    result = {
        "command": command,
        "critic": critic,
        "judge": judge,
        "judge_threshold": judge_meta["threshold"],
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "summary": summary,
        "runs": runs,
    }
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("ablation.json", json.dumps(result, indent=2)), ("ablation.md", f"`{command}`\n\n{md}\n")):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(out / name)
    print(md)
    print(f"wrote {out / 'ablation.json'} and ablation.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
