"""An ensemble judge (`python -m detectors.judge train --members N`) member by member: the
pooled validation AUC and the held-out and real-photo scores of each member alone, of each
subset, and of the whole ensemble, each with its own threshold fixed on the validation reals
(as `train` fixes it). Only the validation columns may choose anything; held-out faces and
`--real-photos` are scored for the record.

    python benchmarks/judge_members.py --judges runs/judge_ens7 runs/judge_ens8 \
        --out benchmarks/results/judge_members

Writes OUT.json (every subset of every judge) and OUT.md (one table per judge).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the package `detectors`, not benchmarks/detectors.py
KEYS = ("random", "random/paste", "aligned/paste", "aligned/seamless", "all")


def member_logits(judge_dir: Path, real_photos: str) -> dict:
    """Per member, the logits of the validation set `train` used and of the crops `score`
    draws (held-out faces, seed + 3 as `train` scores them; the real photos, `score`'s seed 10)."""
    from detectors.judge import Settings, _validation_set, judge_faces
    from detectors.judge_data import BLENDS, KINDS, JudgeSampler
    from detectors.judge_model import Judge, JudgeEnsemble
    from envs.faces import load_faces

    judge = Judge.from_checkpoint(judge_dir)
    meta = json.loads((judge_dir / "judge.json").read_text())
    s = Settings(**{**meta["settings"], "kind_weights": tuple(meta["settings"]["kind_weights"])})
    nets = list(judge.net.members) if isinstance(judge.net, JudgeEnsemble) else [judge.net]
    members = [Judge(n, 0.0, judge.image_size) for n in nets]
    val = _validation_set(s, judge_faces(s.faces, s.seed, s.val_fraction)[1])
    sets = {"validation": (val.real, {"all": val.fused})}
    for name, faces, split, seed in (
        ("heldout", s.faces, "heldout", s.seed + 3),
        ("real_photos", real_photos, "all", 10),
    ):
        face_set = load_faces(faces).split(split)
        sampler = JudgeSampler(face_set, np.random.default_rng(seed), judge.image_size, context=judge.context)
        real = sampler.real_set(s.real_copies)
        fused = {(k, bl): sampler.fused_set(k, bl, s.n_eval) for k in KINDS for bl in BLENDS}
        groups = {
            "random": np.concatenate([fused["random", bl] for bl in BLENDS]),
            "random/paste": fused["random", "paste"],
            "aligned/paste": fused["aligned", "paste"],
            "aligned/seamless": fused["aligned", "seamless"],
            "all": np.concatenate(list(fused.values())),
        }
        sets[name] = (real, groups)
    return {
        name: [(m.logits(real), {g: m.logits(c) for g, c in groups.items()}) for m in members]
        for name, (real, groups) in sets.items()
    }, s.false_alarms


def subset_rows(logits: dict, false_alarms: float) -> list[dict]:
    """Every non-empty subset of the members: mean logits, threshold on the validation reals."""
    from detectors.judge_metrics import group_metrics, threshold_at

    n = len(logits["validation"])
    rows = []
    for size in range(1, n + 1):
        for subset in itertools.combinations(range(n), size):

            def mean(name, subset=subset):
                real = np.mean([logits[name][k][0] for k in subset], axis=0)
                groups = {g: np.mean([logits[name][k][1][g] for k in subset], axis=0) for g in logits[name][0][1]}
                return real, groups

            v_real, v_groups = mean("validation")
            t = threshold_at(v_real, false_alarms)
            row = {"members": list(subset), "validation_auc": group_metrics(v_real, v_groups["all"], t)["auc"]}
            for name in ("heldout", "real_photos"):
                real, groups = mean(name)
                row[name] = {g: group_metrics(real, groups[g], t)["auc"] for g in KEYS}
                row[name]["false_alarms"] = float((real > t).mean())
            rows.append(row)
    return rows


def table(name: str, rows: list[dict]) -> str:
    out = [
        f"**{name}**",
        "",
        "| members | validation AUC | held-out: " + " | ".join(KEYS) + " | false alarms | real photos: random | "
        "aligned/paste | all | false alarms |",
        "|---|---|" + "---|" * len(KEYS) + "---|---|---|---|---|",
    ]
    for r in rows:
        h, p = r["heldout"], r["real_photos"]
        out.append(
            f"| {'+'.join(map(str, r['members']))} | {r['validation_auc']:.3f} | "
            + " | ".join(f"{h[g]:.3f}" for g in KEYS)
            + f" | {h['false_alarms']:.1%} | {p['random']:.3f} | {p['aligned/paste']:.3f} | {p['all']:.3f} | "
            f"{p['false_alarms']:.1%} |"
        )
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--judges", nargs="+", required=True, help="judge dirs written by detectors.judge train --members N"
    )
    ap.add_argument("--real-photos", default=str(ROOT / "benchmarks" / "real_photos"))
    ap.add_argument("--out", required=True, help="results path without extension (.json, .md)")
    a = ap.parse_args(argv)
    from envs.files import write_json, write_text

    results, parts = {}, []
    for d in map(Path, a.judges):
        rows = subset_rows(*member_logits(d, a.real_photos))
        results[str(d)] = rows
        parts.append(table(str(d), rows))
    write_json(a.out + ".json", results)
    write_text(a.out + ".md", "\n\n".join(parts) + "\n")
    print("\n\n".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
