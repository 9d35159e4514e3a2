"""A folder of N face photos made from the faces embedded in installed packages (astronaut,
grace_hopper, LFW): random crops, flips, colour jitter and resizes, written as JPEGs in
sub-folders of 1000 (as datasets ship), plus an optional fraction of bad files (truncated
JPEGs, photos without a face) so the report has something to say.

    python benchmarks/make_face_folder.py OUT --n 20000 [--sides 200 512] [--bad 0.005] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from envs.faces.sources import default_items  # noqa: E402


def bases(n_lfw: int = 20) -> list[np.ndarray]:
    """The photos variants are cut from: astronaut, grace_hopper and `n_lfw` LFW faces."""
    items = default_items()
    return [it.load() for it in items[-2:]] + [it.load() for it in items[:n_lfw]]


def variant(img: np.ndarray, rng: np.random.Generator, side: int, jitter: bool = True) -> np.ndarray:
    """A random crop (85-100% of each side), maybe mirrored, colour-jittered, resized so its
    longer side is `side`."""
    h, w = img.shape[:2]
    f = rng.uniform(0.85, 1.0)
    ch, cw = int(h * f), int(w * f)
    y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    crop = img[y : y + ch, x : x + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    s = side / max(ch, cw)
    crop = cv2.resize(
        np.ascontiguousarray(crop),
        (max(1, round(cw * s)), max(1, round(ch * s))),
        interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC,
    )
    if jitter:  # brightness, contrast and per-channel gain
        gain = rng.uniform(0.85, 1.15, 3) * rng.uniform(0.8, 1.2)
        offset = rng.uniform(-20, 20)
        mean = crop.mean()
        crop = np.clip((crop - mean) * gain + mean + offset, 0, 255).astype(np.uint8)
    return crop


def photo_name(i: int) -> str:
    return f"{i // 1000:03d}/face_{i:06d}.jpg"


def make_folder(
    folder: str, n: int, sides: tuple[int, int] = (200, 512), seed: int = 0, jitter: bool = True, bad: float = 0.0
) -> dict:
    """Write n photos under `folder`; returns counts of what was written."""
    rng = np.random.default_rng(seed)
    src = bases()
    counts = {"photos": 0, "truncated": 0, "no_face": 0}
    for i in range(n):
        path = os.path.join(folder, photo_name(i))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        kind = "photos"
        if bad and rng.random() < bad:
            kind = "truncated" if rng.random() < 0.5 else "no_face"
        side = int(rng.integers(sides[0], sides[1] + 1))
        img = variant(src[i % len(src)], rng, side, jitter)
        if kind == "no_face":
            img = cv2.GaussianBlur(img, (0, 0), 25)[::-1]
        _, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        data = buf.tobytes()
        if kind == "truncated":
            data = data[: len(data) // 3]
        with open(path, "wb") as fh:
            fh.write(data)
        counts[kind] += 1
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--sides", type=int, nargs=2, default=[200, 512], help="longer side drawn from this range (px)")
    ap.add_argument("--bad", type=float, default=0.005, help="fraction of truncated / faceless files")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    counts = make_folder(args.out, args.n, tuple(args.sides), args.seed, bad=args.bad)
    print(f"wrote {args.n} files to {args.out} in {time.perf_counter() - t0:.1f} s: {counts}")


if __name__ == "__main__":
    main()
