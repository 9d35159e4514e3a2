"""Ablation runner for the FaceFusion preset: train.py once per variant, in parallel, and tabulate
validation success against env steps and wall time (held-out faces are never looked at here).

    python benchmarks/preset_sweep.py --variants benchmarks/sweeps/round1.json --minutes 8 \
        --parallel 14 --out runs/sweep1 [--faces DIR]

A variants file maps a name to {"config": {...preset sections...}, "env": ..., "seed": ...,
"env_config": {...}}; each config is merged over the env's preset (like train.py --config).
Writes OUT/NAME/ (the run dirs) and OUT/summary.md / summary.json: best validation success,
env steps and minutes to the first validation >= 0.9, why the run stopped.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def command(name: str, variant: dict, args, out: Path) -> list[str]:
    config = out / f"{name}.config.json"
    config.write_text(json.dumps(variant.get("config", {})))
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        "--env",
        variant.get("env", "FaceFusion-v0"),
        "--seed",
        str(variant.get("seed", 0)),
        "--config",
        str(config),
        "--run-dir",
        str(out / name),
        "--stop-minutes",
        str(args.minutes),
        "--eval-episodes",
        "0",
        "--no-progress",
        "--checkpoint-every",
        "0",
    ]
    if args.faces:
        cmd += ["--faces", args.faces]
    for key, value in variant.get("env_config", {}).items():
        cmd += ["--env-config", f"{key}={json.dumps(value)}"]
    return cmd


def summarize(run: Path) -> dict:
    rows = list(csv.DictReader((run / "progress.csv").open())) if (run / "progress.csv").exists() else []
    vals = [
        (int(r["env_steps"]), float(r["wall_seconds"]), float(r["val_success_rate"]))
        for r in rows
        if r.get("val_success_rate") not in ("", None)
    ]
    result = json.loads((run / "result.json").read_text()) if (run / "result.json").exists() else {}
    first90 = next(((s, w) for s, w, v in vals if v >= 0.9), None)
    best = result.get("best_validation") or {}
    return {
        "run": run.name,
        "stopped_because": result.get("stopped_because"),
        "env_steps": result.get("env_steps"),
        "minutes": round(result.get("wall_seconds", 0) / 60, 1),
        "best_val_success": best.get("success_rate"),
        "best_val_steps": best.get("mean_steps"),
        "best_at_env_steps": best.get("env_steps"),
        "first_val90_env_steps": first90[0] if first90 else None,
        "first_val90_minutes": round(first90[1] / 60, 1) if first90 else None,
        "val_curve": [(s, round(v, 2)) for s, _, v in vals],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", required=True)
    p.add_argument("--minutes", type=float, default=8.0)
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--faces", default=None)
    p.add_argument("--out", required=True)
    p.add_argument("--only", nargs="*", default=None, help="variant names to run (default all)")
    args = p.parse_args(argv)
    variants = json.loads(Path(args.variants).read_text())
    names = [n for n in variants if args.only is None or n in args.only]
    out = Path(args.out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    pending, running = list(names), {}
    while pending or running:
        while pending and len(running) < args.parallel:
            name = pending.pop(0)
            log = (out / f"{name}.log").open("w")
            running[name] = (
                subprocess.Popen(
                    command(name, variants[name], args, out), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT
                ),
                log,
            )
        time.sleep(2)
        for name, (proc, log) in list(running.items()):
            if proc.poll() is not None:
                log.close()
                del running[name]
                print(f"{name}: exit {proc.returncode}", flush=True)
    rows = [summarize(out / n) for n in names]
    (out / "summary.json").write_text(json.dumps(rows, indent=2))
    lines = [
        "| variant | stopped | env steps | min | best val | val steps | first val>=0.9 (steps / min) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        first = f"{r['first_val90_env_steps']} / {r['first_val90_minutes']}" if r["first_val90_env_steps"] else "-"
        lines.append(
            f"| {r['run']} | {r['stopped_because']} | {r['env_steps']} | {r['minutes']} | "
            f"{r['best_val_success']} | {r['best_val_steps']} | {first} |"
        )
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
