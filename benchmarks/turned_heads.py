"""Turned heads: does a fusion policy place and stop on faces that are not frontal? Scores runs on
the ten stock portraits of `benchmarks/judge_train_photos` with the most turned or tilted heads
(`TURNED`, the ones session 18's policies failed on almost always), per episode; builds the
face folders of the ablation (the embedded faces plus the other portraits, for
training; the ten, for scoring). Never looks at `benchmarks/real_photos`.

    python benchmarks/turned_heads.py folders OUT                  # OUT/mixed, OUT/turned
    python benchmarks/turned_heads.py score RUN [RUN ...] --faces OUT/turned --out scores.json
    python benchmarks/turned_heads.py score RUN --faces benchmarks/judge_train_photos --episodes 300 --out all.json
    python benchmarks/turned_heads.py score RUN --faces DIR --loops next stop --out rules.json   # loop rules side by side
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.greedy import LOOP_RULES  # noqa: E402

PORTRAITS = ROOT / "benchmarks" / "judge_train_photos"
# profiles, strong yaw or head tilt (crescent-shaped face masks)
TURNED = ("if_008", "if_012", "if_017", "if_018", "if_019", "if_023", "if_040", "if_043", "if_055", "if_063")


def folders(out: Path) -> None:
    """OUT/mixed: the embedded faces as image files plus the portraits not in TURNED; OUT/turned: TURNED."""
    import cv2

    from envs.faces.sources import default_items

    mixed, turned = out / "mixed", out / "turned"
    for d in (mixed, turned):
        d.mkdir(parents=True, exist_ok=True)
    for item in default_items():
        image = item.load()
        if image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(mixed / (item.name.replace(":", "_").replace("/", "_") + ".png")), image)
    for photo in sorted(PORTRAITS.glob("*.jpg")):
        shutil.copy(photo, (turned if photo.stem in TURNED else mixed) / photo.name)
    print(f"{mixed}: {len(list(mixed.iterdir()))} photos; {turned}: {len(list(turned.iterdir()))} photos")


def play(run: str, faces: str, episodes: int, loops: str = "stop") -> dict:
    """Greedy policy (with the loop rule `loops`, agents.greedy) and oracle on the same episodes."""
    from agents.checkpoints import GreedyPolicy, load_module, resolve
    from agents.evaluate import make_env
    from envs.baselines import OraclePolicy, run_episode

    ckpt = resolve(run, "best")
    env = make_env(ckpt.env or "FaceFusion-v0", ckpt.env_config, faces, "all")
    policy = GreedyPolicy(load_module(ckpt), loops=loops)
    rows = []
    for seed in range(10_000, 10_000 + episodes):
        out, oracle = run_episode(env, policy, seed=seed), run_episode(env, OraclePolicy(), seed=seed)
        info = out["info"]
        rows.append(
            {
                "photo": Path(env.unwrapped.faces.files[info["target"]]).stem,
                "success": bool(info["success"]),
                "stopped": bool(info["stopped"]),
                "steps": out["steps"],
                "oracle_steps": oracle["steps"],
            }
        )
    env.close()
    steps = np.mean([r["steps"] for r in rows]) / np.mean([r["oracle_steps"] for r in rows])
    photos = sorted({r["photo"] for r in rows})
    return {
        "loops": loops,
        "success_rate": float(np.mean([r["success"] for r in rows])),
        "stopped_rate": float(np.mean([r["stopped"] for r in rows])),
        "steps_over_oracle": float(steps),
        "failures_not_stopped": sum(not r["success"] and not r["stopped"] for r in rows),
        "failures": sum(not r["success"] for r in rows),
        "per_photo_success": {p: float(np.mean([r["success"] for r in rows if r["photo"] == p])) for p in photos},
        "episodes": rows,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pf = sub.add_parser("folders")
    pf.add_argument("out")
    ps = sub.add_parser("score")
    ps.add_argument("runs", nargs="+", help="train.py run dirs (their best/ is scored)")
    ps.add_argument("--faces", required=True, help="photo folder to play on (OUT/turned of the folders command)")
    ps.add_argument("--episodes", type=int, default=100)
    ps.add_argument(
        "--loops", nargs="+", default=["stop"], choices=LOOP_RULES, help="loop rules to play (agents.greedy)"
    )
    ps.add_argument("--out", required=True)
    args = p.parse_args()
    if args.cmd == "folders":
        folders(Path(args.out))
        return
    from agents.run_dir import atomic_write_json

    scores = {}
    for run in args.runs:
        for loops in args.loops:  # one rule: keyed by run, as before; several: by run and rule
            key = run if len(args.loops) == 1 else f"{run} --loops {loops}"
            s = scores[key] = {"faces": args.faces, **play(run, args.faces, args.episodes, loops)}
            print(
                f"{key} on {args.faces}: {s['success_rate']:.2f} success, "
                f"{s['steps_over_oracle']:.2f}x the oracle's steps"
            )
            atomic_write_json(args.out, scores)


if __name__ == "__main__":
    main()
