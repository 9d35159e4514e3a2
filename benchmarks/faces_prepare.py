"""Throughput of the face pipeline (envs.faces prepare): images/second on folders of 256 px
and 1024 px JPEG photos made from the embedded faces (astronaut, grace_hopper, LFW).

    python benchmarks/faces_prepare.py [--n 100] [--sides 256 1024] [--workers N] [--repeat 5]

Reports, per size: the first prepare() call in the process (creates the detectors on the
first size, writes the cache), then warm calls (detectors reused, cache bypassed: best and
median of --repeat), the CPU time per image (process-wide, so it includes mediapipe's own
threads), the CLI end to end (a fresh `python -m envs.faces prepare`: interpreter start,
imports, detector start, cache write) and the time to load the written cache.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from envs.faces import load_faces, prepare  # noqa: E402
from envs.faces.pipeline import Settings, default_workers  # noqa: E402
from envs.faces.sources import default_items  # noqa: E402


def make_folder(folder: str, n: int, side: int, seed: int = 0) -> None:
    """n JPEGs with longer side `side`: random crops/flips of the embedded faces."""
    rng = np.random.default_rng(seed)
    items = default_items()
    bases = [it.load() for it in items[-2:]] + [it.load() for it in items[:20]]
    for i in range(n):
        img = bases[i % len(bases)]
        h, w = img.shape[:2]
        f = rng.uniform(0.85, 1.0)
        ch, cw = int(h * f), int(w * f)
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crop = img[y:y + ch, x:x + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        s = side / max(ch, cw)
        crop = cv2.resize(crop, (round(cw * s), round(ch * s)),
                          interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        with open(os.path.join(folder, f"face_{i:04d}.jpg"), "wb") as fh:
            fh.write(buf.tobytes())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--sides", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    workers = args.workers or default_workers()
    print(f"cores={os.cpu_count()} workers={workers} n={args.n} loadavg(1 min) before={os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        for side in args.sides:
            folder = os.path.join(tmp, f"photos{side}")
            os.makedirs(folder)
            make_folder(folder, args.n, side)
            cache_dir = os.path.join(tmp, f"cache{side}")
            rates, cpu = [], []
            for r in range(1 + args.repeat):
                t0, c0 = time.perf_counter(), time.process_time()
                res = prepare(folder, cache_dir, Settings(), workers=workers, use_cache=(r == 0))
                rates.append(args.n / (time.perf_counter() - t0))
                cpu.append((time.process_time() - c0) / args.n)
            t0 = time.perf_counter()
            fs = load_faces(cache_dir)
            t_load = time.perf_counter() - t0
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "envs.faces", "prepare", folder, "--out",
                            os.path.join(tmp, f"cli{side}"), "--no-progress", "--workers", str(workers)],
                           cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            t_cli = time.perf_counter() - t0
            c = res.report["counts"]
            cpu_ms = float(np.median(cpu[1:])) * 1000
            print(f"{side:5d} px: first call {rates[0]:6.1f} img/s (incl. cache write), warm best "
                  f"{max(rates[1:]):6.1f} img/s, median {np.median(rates[1:]):6.1f}; CPU {cpu_ms:.1f} ms/img "
                  f"(= {2000 / cpu_ms:.0f} img/s if 2 cores were free); kept {c['kept']}/{args.n} "
                  f"{c['by_backend']}; CLI end to end {t_cli:.2f} s ({args.n / t_cli:.0f} img/s); "
                  f"cache load {t_load * 1000:.0f} ms for {len(fs)} faces")
    print(f"loadavg(1 min) after={os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
