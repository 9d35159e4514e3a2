"""How well the realism critic separates real face crops from bad fusions, on held-out faces.

    python -m detectors.report --checkpoint DIR [--faces default|CACHE_DIR|FOLDER]
                               [--split heldout] [--out DIR] [--n 200] [--seed 0]

Groups, all as the env's realism crop (the critic's image size, 1.2 x the ground-truth face box):

* real: each face's crop, and its mirror image;
* random: the face pasted onto its own photo at a random initial placement as FaceFusion-v0
  draws it (offset uniform +-0.25 face size per axis, scale log-uniform within +-15%);
* random_swap: the same with another photo's face (FaceFusionSwap-v0);
* oracle: another photo's face at its ground-truth keypoint alignment (a correctly placed
  swap; a correctly placed self composite is the real crop itself);
* generated: generator samples (if generator.pt is there).

Writes report.json (auc_random, auc_oracle, auc_generated, auc_random_swap, counts, mean
scores, mean score by offset), report.md and scores.png (histograms) to --out (default:
the checkpoint folder).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from envs.faces import FaceSet, load_faces

from . import data, files
from .models import Generator, image_size_of, ngf_nz_of
from .realism import Realism, resolve_checkpoint

GROUPS = ("real", "random", "random_swap", "oracle", "generated")
OFFSETS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25)


def real_crops(faces: FaceSet, size: int) -> np.ndarray:
    """Every face's realism crop and its mirror image."""
    crops = np.stack(
        [data.composite_crop(faces, i, i, None, data.geometry(faces, i, i).box, size) for i in range(len(faces))]
    )
    return np.concatenate([crops, crops[:, :, ::-1]])


def placed_crops(
    faces: FaceSet, n: int, rng: np.random.Generator, swap: bool, random_place: bool, size: int
) -> np.ndarray:
    """n composites: self or swap, at an env-drawn random placement or the ground truth."""
    out = np.empty((n, size, size, 3), np.uint8)
    for k in range(n):
        t = int(rng.integers(len(faces)))
        s = data.other_photo(faces, t, rng) if swap else t
        geo = data.geometry(faces, t, s)
        place = data.env_placement(rng, geo.face_px, faces.canvas) if random_place else (0.0, 0.0, 1.0)
        out[k] = data.composite_crop(faces, t, s, data.placed(geo, *place), geo.box, size)
    return out


def offset_crops(faces: FaceSet, offset: float, rng: np.random.Generator, size: int) -> np.ndarray:
    """Each face pasted onto its own photo `offset` face sizes away in a random direction."""
    out = []
    for t in range(len(faces)):
        geo = data.geometry(faces, t, t)
        a = rng.uniform(0, 2 * np.pi)
        out.append(
            data.composite_crop(faces, t, t, data.placed(geo, offset * np.cos(a), offset * np.sin(a)), geo.box, size)
        )
    return np.stack(out)


def generated_crops(checkpoint_dir: str, n: int, seed: int) -> np.ndarray | None:
    path = os.path.join(checkpoint_dir, files.GENERATOR)
    if not os.path.isfile(path):
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    ngf, nz = ngf_nz_of(state)
    net = Generator(nz, ngf, image_size_of(state))
    net.load_state_dict(state)
    with torch.no_grad():  # batch statistics, as the discriminator saw samples in training
        return data.to_uint8(net(torch.randn(n, nz, generator=torch.Generator().manual_seed(seed))))


def evaluate(
    checkpoint: str, faces: str | FaceSet = "default", split: str = "heldout", n: int = 200, seed: int = 0
) -> tuple[dict, dict]:
    """(report dict, scores per group)."""
    file = resolve_checkpoint(checkpoint)
    critic = Realism.from_checkpoint(file)
    face_set = load_faces(faces).split(split)
    if len(set(face_set.files)) < 2:
        raise ValueError(f"the {split!r} split has {len(face_set)} faces; the report needs faces of two photos or more")
    rng = np.random.default_rng(seed)
    size = critic.image_size
    crops = {
        "real": real_crops(face_set, size),
        "random": placed_crops(face_set, n, rng, swap=False, random_place=True, size=size),
        "random_swap": placed_crops(face_set, n, rng, swap=True, random_place=True, size=size),
        "oracle": placed_crops(face_set, n, rng, swap=True, random_place=False, size=size),
        "generated": generated_crops(os.path.dirname(file), n, seed),
    }
    scores = {k: critic(v) for k, v in crops.items() if v is not None}
    real = scores["real"]

    def auc(group: str) -> float | None:
        if group not in scores:
            return None
        y = np.r_[np.ones(len(real)), np.zeros(len(scores[group]))]
        return float(roc_auc_score(y, np.r_[real, scores[group]]))

    by_offset = {f"{o:g}": float(critic(offset_crops(face_set, o, rng, size)).mean()) for o in OFFSETS}
    report = {
        "checkpoint": os.path.abspath(file),
        "split": split,
        "faces": len(face_set),
        "seed": seed,
        "image_size": size,
        "ndf": critic.ndf,
        "auc_random": auc("random"),
        "auc_random_swap": auc("random_swap"),
        "auc_oracle": auc("oracle"),
        "auc_generated": auc("generated"),
        "counts": {k: int(len(v)) for k, v in scores.items()},
        "mean_score": {k: float(v.mean()) for k, v in scores.items()},
        "mean_score_by_offset": by_offset,
    }
    return report, scores


def _histogram(scores: dict, path: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 3.5))
    ax = fig.subplots()
    bins = np.linspace(0, 1, 41)
    for name, s in scores.items():
        ax.hist(s, bins=bins, histtype="step", density=True, lw=1.2, label=f"{name} (n={len(s)})")
    ax.set(xlabel="discriminator probability of real", ylabel="density", title="realism scores, held-out faces")
    ax.legend(fontsize=8)
    fig.tight_layout()
    files.write_figure(path, fig)


def markdown(report: dict) -> str:
    def fmt(v):
        return "-" if v is None else f"{v:.3f}"

    rows = [
        f"# Realism critic report\n\n`{report['checkpoint']}`, {report['faces']} {report['split']} faces\n",
        "| group | n | mean P(real) | AUC real vs group |",
        "|---|---|---|---|",
    ]
    for g in GROUPS:
        if g in report["counts"]:
            rows.append(
                f"| {g} | {report['counts'][g]} | {fmt(report['mean_score'][g])} | "
                f"{fmt(report.get('auc_' + g)) if g != 'real' else '-'} |"
            )
    rows += [
        "",
        "Mean P(real) of self composites by offset (face sizes): "
        + ", ".join(f"{k}: {v:.3f}" for k, v in report["mean_score_by_offset"].items()),
        "",
    ]
    return "\n".join(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m detectors.report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--checkpoint", required=True, help="training output dir or discriminator.pt")
    ap.add_argument("--faces", default="default")
    ap.add_argument("--split", default="heldout", choices=("train", "heldout", "all"))
    ap.add_argument("--out", default=None, help="output dir (default: the checkpoint's folder)")
    ap.add_argument("--n", type=int, default=200, help="crops per composite / generated group")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    try:
        report, scores = evaluate(a.checkpoint, a.faces, a.split, a.n, a.seed)
    except (OSError, ValueError) as exc:  # missing/bad checkpoint or faces: say which, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = a.out or os.path.dirname(report["checkpoint"])
    files.write_json(os.path.join(out, "report.json"), report)
    files.write_bytes(os.path.join(out, "report.md"), markdown(report).encode())
    _histogram(scores, os.path.join(out, "scores.png"))
    print(markdown(report))
    print(f"wrote {os.path.join(out, 'report.json')}, report.md, scores.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
