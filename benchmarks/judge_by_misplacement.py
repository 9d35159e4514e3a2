"""Where a judge misses randomly placed composites: held-out ROC AUC of real crops vs the
`random` kind (the face on its own photo at a start placement as FaceFusion-v0 draws it), per
blend and per quartile of how far the placement is from the true one (offset in face sizes +
|log scale|, `detectors.judge_data.misplacement_size`). For the record only: held-out faces.

    python benchmarks/judge_by_misplacement.py --judges runs/judge --n 400 \
        --out benchmarks/results/judge_by_misplacement

Writes OUT.json and OUT.md (one table per judge: a row per blend, a column per quartile, and
the three blends pooled with a 95% interval from resampling the held-out faces: real crops
and composites of a face go in or out together, as the faces, not the crops, are the sample).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the package `detectors`, not benchmarks/detectors.py
QUARTILES = 4


def by_misplacement(judge_dir: str, n: int, seed: int) -> dict:
    """{blend: {"all": AUC, "quartiles": [{"from", "to", "auc", "n"}, ...]}} on held-out faces."""
    from detectors.judge_data import BLENDS, JudgeSampler, misplacement_size
    from detectors.judge_metrics import auc_interval, real_vs_fused_auc
    from detectors.judge_model import Judge
    from envs.faces import load_faces

    judge = Judge.from_checkpoint(judge_dir)
    faces = load_faces("default").split("heldout")
    sampler = JudgeSampler(faces, np.random.default_rng(seed), judge.image_size, context=judge.context)
    real_crops, real_face = sampler.real_set(with_faces=True)
    real = judge.logits(real_crops)

    def auc(fused: np.ndarray) -> float:
        return real_vs_fused_auc(real, fused)

    out, pooled, pooled_face = {}, [], []
    for blend in BLENDS:
        crops, targets, places = sampler.fused_set("random", blend, n, with_targets=True, with_placements=True)
        logits, sizes = judge.logits(crops), np.array([misplacement_size(p) for p in places])
        pooled.append(logits)
        pooled_face.append(np.array(targets))
        edges = np.quantile(sizes, np.linspace(0, 1, QUARTILES + 1))
        rows = []
        for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
            inside = (sizes >= lo) & ((sizes < hi) if k < QUARTILES - 1 else (sizes <= hi))
            rows.append({"from": float(lo), "to": float(hi), "auc": auc(logits[inside]), "n": int(inside.sum())})
        out[blend] = {"all": auc(logits), "quartiles": rows}
    fused, fused_face = np.concatenate(pooled), np.concatenate(pooled_face)
    interval = auc_interval(real, real_face, fused, fused_face, len(faces), seed)
    out["pooled"] = {"all": auc(fused), "interval_95": interval, "faces": len(faces)}
    return out


def table(name: str, result: dict) -> str:
    lines = [
        f"**{name}** (held-out real crops vs `random` composites; misplacement = offset in face sizes + |log scale|)",
        "",
        "| blend | all | " + " | ".join(f"quartile {k + 1}" for k in range(QUARTILES)) + " |",
        "|---|---|" + "---|" * QUARTILES,
    ]
    for blend, r in result.items():
        if blend == "pooled":
            low, high = r["interval_95"]
            lines.append(f"| all three | {r['all']:.3f} [{low:.3f}, {high:.3f}] over {r['faces']} faces | | | | |")
            continue
        cells = [f"{q['auc']:.3f} ({q['from']:.2f}-{q['to']:.2f})" for q in r["quartiles"]]
        lines.append(f"| {blend} | {r['all']:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--judges", nargs="+", required=True, help="judge dirs (detectors.judge train --out)")
    ap.add_argument("--n", type=int, default=400, help="random composites per blend")
    ap.add_argument("--seed", type=int, default=10)
    ap.add_argument("--out", required=True, help="results path without extension (.json, .md)")
    a = ap.parse_args(argv)
    from envs.files import write_json, write_text

    results = {d: by_misplacement(d, a.n, a.seed) for d in a.judges}
    text = "\n\n".join(table(d, r) for d, r in results.items())
    write_json(a.out + ".json", results)
    write_text(a.out + ".md", text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
