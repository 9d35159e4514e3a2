"""Every saved model of our runs in a `facefusion_vs_sb3.py` OUT dir, scored on real photos (and,
with --augmented-validation, on validation faces seen through the training augmentation):
does the best-by-validation model's real-photo score say much about the run? Scores only;
nothing here chooses anything.

    python benchmarks/real_photo_scan.py runs/vs_sb3_e4/ours-FaceFusion-v0-seed{0,1,2} --out scan.json
    python benchmarks/real_photo_scan.py runs/vs_sb3_e4/ours-FaceFusion-v0-seed0 --augmented-validation
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import facefusion_vs_sb3 as vs  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="ours-ENV-seedS dirs of facefusion_vs_sb3.py")
    p.add_argument("--real-photos", default=str(ROOT / "benchmarks" / "real_photos"))
    p.add_argument("--min-validation", type=float, default=0.9, help="skip models below this validation success")
    p.add_argument("--augmented-validation", action="store_true", help="score on augmented validation faces instead")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    import gymnasium as gym

    import envs  # noqa: F401  (registers the envs)
    from agents.run_dir import atomic_write_json
    from agents.validation import VALIDATION_SEED
    from envs.baselines import OraclePolicy

    seeds = [vs.HELDOUT_SEED + i for i in range(100)]  # the benchmark's own episodes
    out = {}
    for run in map(Path, args.runs):
        env_id, seed = run.name.split("-")[1], int(run.name.rsplit("seed", 1)[1])
        job = vs.Job("ours", env_id, seed, run)
        models, _, env_kwargs = vs.saved_models(job)
        if args.augmented_validation:  # validation's own episodes, through random camera settings
            episodes = [VALIDATION_SEED + i for i in range(100)]
            env = gym.make(env_id, **{**env_kwargs, "split": "validation", "augment": True})
        else:
            episodes = seeds
            env = vs.eval_env(env_id, env_kwargs, faces=args.real_photos, split="all")
        oracle_steps = float(np.mean(vs.play(env, OraclePolicy(), episodes)["steps"]))
        policies, rows = vs.Policies(job, env_kwargs), []
        for m in models:
            if m["is_best"] or (m["val_success_rate"] or 0) < args.min_validation:
                continue
            r = vs.play(env, policies(m, env), episodes)
            rows.append(
                {
                    "model": m["key"],
                    "minutes": round(m["wall_seconds"] / 60, 1),
                    "validation": m["val_success_rate"],
                    "success": float(np.mean(r["success"])),
                    "steps_over_oracle": round(float(np.mean(r["steps"])) / oracle_steps, 2),
                }
            )
            print(run.name, rows[-1], flush=True)
        out[run.name] = rows
    if args.out:
        atomic_write_json(Path(args.out), out)


if __name__ == "__main__":
    main()
