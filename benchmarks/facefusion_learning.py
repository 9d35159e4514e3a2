"""Learning curves of the default FaceFusion preset over seeds: greedy evaluation success and
final position error vs env steps and wall minutes, plus held-out results from each run's
final report (RUN_DIR/eval/metrics.json, written by train.py).

    python train.py --seed 0 --run-dir runs/ff-seed0      # the main job, one per seed
    python train.py --seed 1 --run-dir runs/ff-seed1
    python benchmarks/facefusion_learning.py runs/ff-seed0 runs/ff-seed1 --out benchmarks/results/facefusion_learning.png
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _series(rows, x_key, y_key, scale=1.0):
    pts = [(float(r[x_key]) * scale, float(r[y_key])) for r in rows if r.get(y_key) not in ("", None)]
    return [p[0] for p in pts], [p[1] for p in pts]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("runs", nargs="+")
    p.add_argument("--out", default="benchmarks/results/facefusion_learning.png")
    args = p.parse_args()
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    table = [
        "| run | seed | env steps | wall min | stopped because | held-out success | mean steps (policy / oracle) "
        "| held-out pos. error px | random success |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in map(Path, args.runs):
        with (run / "progress.csv").open() as fh:
            rows = list(csv.DictReader(fh))
        result = json.loads((run / "result.json").read_text())
        label = f"{run.name} (seed {result['seed']})"
        for col, (x_key, scale, xlabel) in enumerate(
            (("env_steps", 1.0, "env steps"), ("wall_seconds", 1 / 60, "wall minutes"))
        ):
            axes[0, col].plot(*_series(rows, x_key, "eval_success_rate", scale), label=label)
            axes[1, col].plot(*_series(rows, x_key, "eval_position_error_px", scale), label=label)
            axes[1, col].set_xlabel(xlabel)
        metrics_file = run / "eval" / "metrics.json"
        if metrics_file.exists():
            m = json.loads(metrics_file.read_text())
            pol, ora = m["policy"], m["oracle"]
            table.append(
                f"| {run.name} | {result['seed']} | {result['env_steps']} | {result['wall_seconds'] / 60:.1f} | "
                f"{result['stopped_because']} | {pol['success_rate']:.1%} | {pol['mean_steps']:.1f} / "
                f"{ora['mean_steps']:.1f} = {pol['mean_steps'] / ora['mean_steps']:.2f}x | "
                f"{pol['mean_position_error_px']:.2f} | {m['random']['success_rate']:.1%} |"
            )
    axes[0, 0].set_ylabel("greedy eval success rate (train faces)")
    axes[1, 0].set_ylabel("final position error (obs px)")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("DQN on FaceFusion-v0, default preset, 2 CPU cores")
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    print("\n".join(table))
    print(f"plot: {out}")


if __name__ == "__main__":
    main()
