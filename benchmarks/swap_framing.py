"""How far a swap's ground-truth box (the source face's box mapped onto the target) is from the
target photo's own face box, the judge's frame (`detectors.judge_data.frame_box`), against the
judge's crop jitter; BENCHMARKS.md, "Session 23: swap composites framed like real crops":

    python benchmarks/swap_framing.py --pairs 500 --seed 0 [--faces DIR]
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the package `detectors`, not benchmarks/detectors.py

from detectors import data  # noqa: E402
from detectors.judge_data import JudgeSampler, frame_box  # noqa: E402
from envs.faces import load_faces  # noqa: E402


def side(box: np.ndarray) -> float:
    return float(np.sqrt((box[2] - box[0]) * (box[3] - box[1])))


def centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", default="default")
    ap.add_argument("--pairs", type=int, default=500, help="random (target, source) draws; same-photo draws skipped")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    faces = load_faces(args.faces)
    rng = np.random.default_rng(args.seed)
    offsets, zooms = [], []
    for t, s in rng.integers(len(faces), size=(args.pairs, 2)):
        if t == s:
            continue
        swap, own = data.geometry(faces, int(t), int(s)).box, frame_box(faces, int(t))
        offsets.append(np.hypot(*(centre(swap) - centre(own))) / side(own))
        zooms.append(abs(np.log(side(swap) / side(own))))
    # the judge's crop jitter (JudgeSampler's defaults): shift per axis, log zoom
    params = inspect.signature(JudgeSampler).parameters
    shift, zoom = params["shift"].default, params["zoom"].default
    result = {
        "faces": len(faces),
        "swap_pairs": len(offsets),
        "centre_offset_face_sizes": {"median": float(np.median(offsets)), "p90": float(np.percentile(offsets, 90))},
        "share_offset_beyond_jitter": float(np.mean(np.array(offsets) > shift * np.sqrt(2))),
        "share_size_change_beyond_jitter": float(np.mean(np.array(zooms) > zoom)),
        "jitter": {"shift": shift, "zoom_log": zoom},
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
