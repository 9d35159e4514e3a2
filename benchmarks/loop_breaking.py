"""Greedy play with each loop rule of agents.greedy (plain argmax `off`, loop breaking `next`,
`stop` at a loop, `once`), on the validation faces: the evidence behind the default. For each
run dir given, its `best/` and every model in its `snapshots/` (kept by
benchmarks/facefusion_vs_sb3.py) are validated each way on the preset's validation episodes
(the same 100 episodes training validates on). Held-out faces are not used here.

    python benchmarks/loop_breaking.py --runs runs/vs_sb3/ours-FaceFusionSwap-v0-seed0 \
        runs/vs_sb3/ours-FaceFusionSwap-v0-seed1 --out benchmarks/results/loop_breaking
    python benchmarks/loop_breaking.py --runs RUN... --rules stop once --versus once stop --out OUT   # two rules

Writes OUT.json (every model), OUT.md (table per run) and OUT.png (success per model, each rule).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

# result keys (kept from the first version of this file) -> agents.greedy loop rules
RULES = {
    "plain": "off",
    "loop_breaking": "next",
    "stop_at_loop": "stop",
    "next_once_then_stop": "once",
}
LABELS = {
    "off": ("plain argmax", "o-"),
    "next": ("loop breaking (next)", "s-"),
    "stop": ("stop at a loop", "^-"),
    "once": ("once, then stop", "v:"),
}
KEYS = {rule: key for key, rule in RULES.items()}
METRICS = ("success_rate", "mean_steps", "steps_over_oracle", "mean_loop_breaks")


def models_of(run: Path) -> list[tuple[str, Path]]:
    """(name, checkpoint dir): best/ first, then the snapshots in training order."""
    found = [("best", run / "best")] if (run / "best").is_dir() else []
    snaps = run / "snapshots"
    if snaps.is_dir():
        found += [(p.name, p) for p in sorted(snaps.iterdir(), key=lambda p: p.name.split("_")[-1]) if p.is_dir()]
    return found


def validate_run(run: Path, limit: int | None, rules: tuple[str, ...] = tuple(KEYS)) -> dict:
    import gymnasium as gym

    import envs  # noqa: F401
    from agents.checkpoints import MODULE_SUBPATH, PolicyCheckpoint, load_module, resolve
    from agents.greedy import module_scores
    from agents.presets import preset_for
    from agents.validation import Validator, validation_env_config

    ckpt = resolve(run)
    if ckpt.env is None:
        raise SystemExit(f"{run}: no run.json naming the env; expected a run dir of train.py")
    preset = preset_for(ckpt.env)
    config = validation_env_config(preset, ckpt.env_config)
    validator = Validator.from_section(lambda: gym.make(ckpt.env, **config), preset.get("validation") or {})
    rows = []
    models = models_of(run)[:limit]
    for name, path in tqdm(models, desc=run.name, leave=False):
        module = load_module(PolicyCheckpoint(path / MODULE_SUBPATH, ckpt.env, ckpt.env_config))
        scores = module_scores(module)
        row = {"model": name}
        for rule in rules:
            result = validator.score(scores, loops=rule)
            row[KEYS[rule]] = {k: result[k] for k in METRICS if k in result}
        rows.append(row)
    validator.close()
    return {"run": str(run), "env": ckpt.env, "models": rows}


def summary(runs: list[dict], versus: tuple[str, str] = ("stop", "next")) -> str:
    present = [k for k in RULES if any(k in m for r in runs for m in r["models"])]
    names = " / ".join(LABELS[RULES[k]][0] for k in present)
    lines = [
        f"| run | models | validation success, mean over models: {names} | "
        f"models better / same / worse ({versus[0]} vs {versus[1]}) | best/: success, each rule | "
        "steps / oracle, best/, each rule |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        success = {k: np.array([m[k]["success_rate"] for m in r["models"] if k in m]) for k in present}
        means = " / ".join(f"{success[k].mean():.3f}" for k in present)
        one, other = success.get(KEYS[versus[0]], []), success.get(KEYS[versus[1]], [])
        versus_cell = (
            f"{(one > other).sum()} / {(one == other).sum()} / {(one < other).sum()}"
            if len(one) and len(one) == len(other)
            else "-"
        )
        best = next((m for m in r["models"] if m["model"] == "best"), None)
        best_cell = " / ".join(f"{best[k]['success_rate']:.2f}" for k in present if k in best) if best else "-"
        ratio_cell = " / ".join(f"{best[k]['steps_over_oracle']:.2f}" for k in present if k in best) if best else "-"
        n = len(r["models"])
        lines.append(f"| {Path(r['run']).name} | {n} | {means} | {versus_cell} | {best_cell} | {ratio_cell} |")
    return "\n".join(lines)


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, len(runs))
    rows = -(-len(runs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(runs) :]:
        ax.axis("off")
    for ax, r in zip(axes.flat, runs):
        snaps = [m for m in r["models"] if m["model"] != "best"]
        x = np.arange(len(snaps))
        for key, rule in RULES.items():
            if snaps and key in snaps[0]:
                label, style = LABELS[rule]
                ax.plot(x, [m[key]["success_rate"] for m in snaps], style, label=label)
        ax.set_title(Path(r["run"]).name, fontsize=9)
        ax.set_xlabel("saved model (training order)")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    for row in axes:
        row[0].set_ylabel("validation success")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=Path, nargs="+", required=True, help="run dirs of train.py")
    p.add_argument("--out", type=Path, required=True, help="output path without extension")
    p.add_argument("--limit", type=int, default=None, help="models per run (a quick check)")
    p.add_argument("--rules", nargs="+", default=list(KEYS), choices=list(KEYS), help="loop rules to play")
    p.add_argument(
        "--versus", nargs=2, default=["stop", "next"], choices=list(KEYS), help="rules compared model by model"
    )
    args = p.parse_args(argv)
    for run in args.runs:
        if not run.is_dir():
            p.error(f"--runs {run}: no such directory")
    runs = [validate_run(run, args.limit, tuple(args.rules)) for run in args.runs]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from agents.run_dir import atomic_write_json, atomic_write_text

    atomic_write_json(args.out.with_suffix(".json"), {"command": " ".join(sys.argv), "runs": runs})
    table = summary(runs, tuple(args.versus))
    atomic_write_text(args.out.with_suffix(".md"), table + "\n")
    plot(runs, args.out.with_suffix(".png"))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
