"""Can the observation tell "in place" from "just outside"? A supervised probe of the stop decision.

The stop action needs the policy to see whether the face is within tolerance (2 px at 84 px,
5% scale). This probe takes that question out of RL: it draws placements half within
tolerance and half just outside it (1.1-2.5x the position tolerance, or the scale 5.5-10% off),
trains the preset's CNN as a classifier on training faces for a fixed time and reports its
accuracy on validation faces (other identities). Held-out faces are not used.

    python benchmarks/stop_probe.py --mode self
    python benchmarks/stop_probe.py --mode swap
    python benchmarks/stop_probe.py --mode swap --landmarks --out benchmarks/results/stop_probe_swap_landmarks.json

Chance is 0.5. Self mode reaches ~0.97; swap mode without the keypoint channels stays near
0.68, with them ~0.93 (BENCHMARKS.md, "Swap").
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import envs  # noqa: E402,F401  (registers the envs)
from agents.run_dir import atomic_write_json  # noqa: E402


def near_goal(env, rng: np.random.Generator, inside: bool) -> dict:
    """reset() options placing the face within tolerance (`inside`) or just outside it."""
    tol = env.position_tolerance_px / env.k / env._face_px  # in face sizes, as reset's `offset`
    in_scale = math.exp(rng.uniform(-0.045, 0.045))
    if inside:
        radius, scale = tol * math.sqrt(rng.uniform(0, 1)), in_scale
    elif rng.random() < 0.7:  # off in position
        radius, scale = tol * rng.uniform(1.1, 2.5), in_scale
    else:  # in position, off in scale
        radius, scale = tol * math.sqrt(rng.uniform(0, 1)), math.exp(rng.choice([-1, 1]) * rng.uniform(0.055, 0.1))
    angle = rng.uniform(0, 2 * math.pi)
    return {"offset": (radius * math.cos(angle), radius * math.sin(angle)), "scale": scale}


def dataset(env, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = np.empty((n, *env.observation_space.shape), np.uint8)
    y = np.empty(n, np.float32)
    for i in range(n):
        seed = int(rng.integers(1 << 30))
        env.reset(seed=seed)  # draws the faces: the face size the offsets are in
        x[i], info = env.reset(seed=seed, options=near_goal(env, rng, inside=i % 2 == 0))
        y[i] = float(info["within_tolerance"])
    return x, y


def classifier(shape: tuple[int, ...]) -> nn.Module:
    """Close to the FaceFusion preset's network: the filters of agents.config.conv_filters_for
    at 84 px and its 256-unit head, with one logit; symmetric padding, so the last grid is
    10x10 where RLlib's "same" padding gives 11x11."""
    channels = shape[-1]
    convs = nn.Sequential(
        nn.Conv2d(channels, 16, 8, 4, padding=2),
        nn.ReLU(),
        nn.Conv2d(16, 32, 4, 2, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, 1, padding=1),
        nn.ReLU(),
        nn.Flatten(),
    )
    with torch.no_grad():
        width = convs(torch.zeros(1, channels, *shape[:2])).shape[1]
    return nn.Sequential(convs, nn.Linear(width, 256), nn.ReLU(), nn.Linear(256, 1))


def tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).float() / 255


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=("self", "swap"), default="swap")
    p.add_argument("--landmarks", action="store_true", help="observation with the keypoint channels")
    p.add_argument("--train", type=int, default=12_000, help="training placements (training faces)")
    p.add_argument("--test", type=int, default=2_000, help="test placements (validation faces)")
    p.add_argument("--seconds", type=float, default=240.0, help="training time")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="JSON file for the accuracy curve")
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    def make(split: str):
        return gym.make("FaceFusion-v0", split=split, mode=args.mode, landmarks=args.landmarks).unwrapped

    x_train, y_train = dataset(make("train"), args.train, rng)
    x_test, y_test = dataset(make("validation"), args.test, rng)
    x_test, y_test = tensor(x_test), torch.from_numpy(y_test)
    net = classifier(x_train.shape[1:])
    optim = torch.optim.Adam(net.parameters(), 5e-4)
    curve, t0, it = [], time.time(), 0
    while time.time() - t0 < args.seconds:
        idx = rng.integers(len(x_train), size=64)
        batch = x_train[idx]
        if rng.random() < 0.5:  # the rules are mirror-symmetric, as in the preset's replay
            batch = batch[:, :, ::-1]
        loss = nn.functional.binary_cross_entropy_with_logits(
            net(tensor(batch)).squeeze(1), torch.from_numpy(y_train[idx])
        )
        optim.zero_grad()
        loss.backward()
        optim.step()
        it += 1
        if it % 500 == 0:
            with torch.no_grad():
                logits = torch.cat([net(x_test[i : i + 500]).squeeze(1) for i in range(0, len(x_test), 500)])
            accuracy = float(((logits > 0).float() == y_test).float().mean())
            curve.append({"updates": it, "seconds": round(time.time() - t0, 1), "accuracy": round(accuracy, 4)})
            print(
                f"{args.mode}{' +landmarks' if args.landmarks else ''}: {it} updates, "
                f"{curve[-1]['seconds']:.0f} s, validation-face accuracy {accuracy:.3f}",
                flush=True,
            )
    best_late = max(c["accuracy"] for c in curve[len(curve) // 2 :]) if curve else None
    summary = {
        "command": " ".join(["python", *sys.argv]),
        "args": vars(args),
        "curve": curve,
        "final_accuracy": curve[-1]["accuracy"] if curve else None,
        "best_second_half": best_late,
    }
    print(f"final accuracy {summary['final_accuracy']}, best in the second half {best_late}")
    if args.out:
        atomic_write_json(Path(args.out), summary)


if __name__ == "__main__":
    main()
