"""Realism critic benchmark: training time, scoring latency, env step cost, held-out AUCs.

    python benchmarks/detectors.py [--faces default] [--epochs N] [--threads T] [--out DIR]
                                   [--checkpoint DIR] [--steps 3000] [--json FILE]

1. trains a CI-sized critic (detectors.train defaults) on the training split and reports the
   time per epoch (skipped with --checkpoint);
2. scoring latency with torch.set_num_threads(1), as in a Ray env runner: one crop per call
   (what an env step does) and batches of 64, per crop;
3. FaceFusion-v0 steps/s at 84 px under random moves (the four cases timed in turns, best
   of 7 rounds) without a realism hook, with a constant
   hook (the env's own cost of drawing the realism crop; memo off) and with
   `realism_fn=Realism(...)`, realism_weight=1.0, with the per-episode memo of revisited
   placements (default) and without it (the worst case: every step a new placement, as for
   a policy that never backtracks);
4. detectors.report on the held-out faces: AUC real vs random / oracle / generated.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from detectors import data  # noqa: E402
from detectors.realism import Realism  # noqa: E402
from detectors.report import evaluate  # noqa: E402
from detectors.train import Settings, train  # noqa: E402


def best_of(fn, number: int, repeat: int = 5) -> float:
    """Best mean seconds per call over `repeat` runs of `number` calls (least disturbed by
    other work on a shared machine)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t) / number)
    return best


def env_stepper(faces, realism_fn, cache: bool = True):
    """A function doing one FaceFusion-v0 step (random moves, reset at episode end)."""
    import gymnasium as gym

    import envs  # noqa: F401

    env = gym.make(
        "FaceFusion-v0",
        faces=faces,
        realism_fn=realism_fn,
        realism_weight=1.0 if realism_fn is not None else 0.0,
        realism_cache=cache,
    )
    env.reset(seed=0)
    actions = iter(np.random.default_rng(0).integers(0, 6, size=10**7))  # moves only

    def step():
        _, _, term, trunc, _ = env.step(int(next(actions)))
        if term or trunc:
            env.reset()

    return step


def interleaved_seconds(steppers: dict, steps: int, rounds: int = 7) -> dict:
    """Best mean seconds per step of each stepper, timed in turns (`steps` each per round), so
    a noisy neighbour slows all cases alike and the ratios stay fair."""
    best = {k: float("inf") for k in steppers}
    for f in steppers.values():
        f()
    for _ in range(rounds):
        for k, f in steppers.items():
            t = time.perf_counter()
            for _ in range(steps):
                f()
            best[k] = min(best[k], (time.perf_counter() - t) / steps)
    return best


class ConstantCritic:
    """The cost of the hook without a network: fixed score, the critic's crop size."""

    def __init__(self, image_size: int):
        self.image_size = image_size

    def __call__(self, crops):
        return np.full(len(crops), 0.5, np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", default="default")
    ap.add_argument("--epochs", type=int, default=Settings.epochs)
    ap.add_argument("--image-size", type=int, default=Settings.image_size, help="crop side to train at")
    ap.add_argument(
        "--threads",
        type=int,
        default=Settings.threads or 1,
        help="torch threads for training (default 1, as the training CLI)",
    )
    ap.add_argument("--out", default=None, help="training output dir (default: a temp dir)")
    ap.add_argument("--checkpoint", default=None, help="skip training, benchmark this critic")
    ap.add_argument("--steps", type=int, default=3000, help="env steps per timing")
    ap.add_argument("--n", type=int, default=200, help="crops per report group")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()

    from envs.faces import load_faces

    faces = load_faces(args.faces)
    results: dict = {"cores": os.cpu_count(), "threads_train": args.threads, "faces": args.faces}
    tmp = None
    ckpt = args.checkpoint
    if ckpt is None:
        tmp = tempfile.TemporaryDirectory()
        ckpt = args.out or tmp.name
        config = train(
            Settings(
                faces=args.faces,
                out=ckpt,
                epochs=args.epochs,
                image_size=args.image_size,
                threads=args.threads,
                progress=False,
            )
        )
        s = config["settings"]
        results["train"] = {
            "epochs": config["epoch"],
            "batches_per_epoch": s["iters_per_epoch"],
            "batch_size": s["batch_size"],
            "train_faces": config["train_faces"],
            "seconds": config["elapsed_s"],
            "seconds_per_epoch": round(config["elapsed_s"] / config["epoch"], 2),
        }
        print(f"training: {results['train']}", flush=True)

    torch.set_num_threads(1)  # as in a Ray env runner
    critic = Realism.from_checkpoint(ckpt)
    crops = data.CropSampler(faces.split("heldout"), np.random.default_rng(0), size=critic.image_size).composites(64)
    single = best_of(lambda: critic(crops[:1]), 300)
    batched = best_of(lambda: critic(crops), 20) / len(crops)
    results["scoring"] = {
        "ndf": critic.ndf,
        "image_size": critic.image_size,
        "single_crop_us": round(single * 1e6, 1),
        "batch64_per_crop_us": round(batched * 1e6, 1),
    }
    print(f"scoring: {results['scoring']}", flush=True)

    t = interleaved_seconds(
        {
            "plain": env_stepper(faces, None),
            "constant": env_stepper(faces, ConstantCritic(critic.image_size), cache=False),
            "scored": env_stepper(faces, critic),
            "uncached": env_stepper(faces, critic, cache=False),
        },
        args.steps // 5,
    )
    plain, constant, scored, uncached = t["plain"], t["constant"], t["scored"], t["uncached"]
    results["env"] = {
        "obs_size": 84,
        "crop": critic.image_size,
        "steps_per_s_plain": round(1 / plain, 1),
        "steps_per_s_constant_hook": round(1 / constant, 1),
        "steps_per_s_realism": round(1 / scored, 1),
        "steps_per_s_realism_no_memo": round(1 / uncached, 1),
        "slowdown_realism": round(scored / plain, 2),
        "slowdown_realism_no_memo": round(uncached / plain, 2),
        "slowdown_constant_hook": round(constant / plain, 2),
    }
    print(f"env: {results['env']}", flush=True)

    report, _ = evaluate(ckpt, faces, "heldout", args.n)
    results["report"] = {
        k: report[k]
        for k in (
            "auc_random",
            "auc_random_swap",
            "auc_oracle",
            "auc_generated",
            "counts",
            "mean_score",
            "mean_score_by_offset",
        )
    }
    print(f"report: {json.dumps(results['report'])}", flush=True)
    if args.json:
        from detectors.files import write_json

        write_json(args.json, results)
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
