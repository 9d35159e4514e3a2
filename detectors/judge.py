"""An independent realism judge: does a fusion look real to a detector the agent never met?

    python -m detectors.judge train [--faces default|CACHE_DIR|FOLDER] [--out DIR] [--seed S] [--dry-run]
    python -m detectors.judge score --checkpoint DIR [--faces ...] [--split heldout] [--out DIR] [--n 100]

The reward critic (`detectors.train`) is what the agent is rewarded by, so a policy can learn
to please it without looking more real (reward hacking). The judge is trained apart from it,
in the style the deepfake-detection literature starts from (detectors.judge_model): a
convolutional autoencoder on real 64 px face crops (unsupervised), whose encoder then gets a
logistic-regression head fine-tuned on real vs fused crops made by the env's own fusion code
(random, misplaced, landmark-aligned and swap composites, each blend mode: see
detectors.judge_data). Never trained on policy outputs; own seed, own weights, own split:

* the project's training faces, divided by the judge's own hash split (`--seed`) into the
  judge's training faces and validation faces; `--train-faces FOLDER` adds real photos to
  train on (a share of every batch), `--val-faces FOLDER` real photos to validate on;
* validation real crops fix the threshold: 5% false alarms (`--false-alarms`), saved with
  the checkpoint;
* the project's held-out faces (what `agents.evaluate` plays on) are only ever tested on.

`train` writes to --out: judge.pt and autoencoder.pt (state_dicts), judge.json (settings,
threshold, split, history), then what `score` writes: metrics.json (accuracy, precision,
recall at the threshold and ROC AUC per group, kind and overall, on held-out faces; per kind
and overall with a 95% interval from resampling the faces),
reconstructions.png (held-out real crops over their autoencoder reconstructions),
scores_<kind>.png (score histograms, real vs each blend).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from envs.dataclass_cli import HelpFormatter, add_arguments, from_args, option

from . import data, files, judge_plots
from .judge_data import BLENDS, CONTEXT, KINDS, SIZE, JudgeSampler, MixedSampler
from .judge_metrics import auc_interval, group_metrics, real_vs_fused_auc, threshold_at
from .judge_model import (
    AUTOENCODER,
    SETTINGS,
    WEIGHTS,
    WIDTHS,
    AutoEncoder,
    Judge,
    JudgeEnsemble,
    JudgeNet,
    sigmoid,
)
from .train import FACES_HELP, THREADS_HELP

METRICS = "metrics.json"


@dataclass
class Settings:
    faces: str = option("default", FACES_HELP)
    out: str = option("runs/judge", "output dir (judge.pt, judge.json, metrics.json, plots)")
    seed: int = option(7, "the judge's own seed (not the critic's 0): initialisation, crops and split")
    ae_iters: int = option(600, "autoencoder batches (real crops only)")
    # with real photos in validation the best state came at 1000-1200 batches, later ones fit
    # the embedded faces' look (BENCHMARKS.md, "the judge on real photos")
    clf_iters: int = option(1600, "fine-tuning batches (real + fused)")
    # more of the hard kinds, near-real random starts and aligned swaps; far-off placements are learnt from few
    kind_weights: tuple[float, ...] = option(
        (0.35, 0.15, 0.15, 0.35),
        f"fused kinds per batch, in the order {', '.join(KINDS)}",
        type=float,
        nargs=len(KINDS),
        metavar="W",
    )
    random_draws: int = option(
        1, "training's random composites: the least misplaced of N env draws (N > 1: more near-real ones)"
    )
    batch_size: int = option(64, "real crops per batch; as many fused in fine-tuning")
    paired: bool = option(True, "fused crops made on other photos than the batch's real ones", flag="--no-paired")
    highpass: bool = option(
        True, "the networks see the crop itself, not its fine detail (crop minus its blur)", flag="--no-highpass"
    )
    highpass_norm: bool = option(False, "scale each crop's fine detail to the same energy (sharpness is no cue)")
    context: float = option(CONTEXT, "crop framing: crop side / face box side (the crop stays 64 px)")
    shift: float = option(0.04, "crop jitter: box centre shift, in box sides (reals and fused alike)")
    zoom: float = option(0.06, "crop jitter: log box-side scale (reals and fused alike)")
    # fine detail a sharp real photo has and the embedded (upscaled 25 px) faces lack; without
    # it the judge took any sharp photo for fused
    sharpen: float = option(1.5, "augmentation: unsharp mask up to this amount on half the crops (both classes)")
    noise: float = option(0.03, "augmentation: sensor noise of sigma up to this (0-1 intensity) on half the crops")
    lr: float = option(1e-3, "learning rate of the autoencoder and the head")
    encoder_lr: float = option(3e-4, "encoder learning rate in fine-tuning (keeps the pretrained features)")
    weight_decay: float = option(0.0, "AdamW weight decay in fine-tuning")
    select_every: int = option(
        200,
        "score the validation faces every N fine-tuning batches and keep the best (ROC AUC, all groups); 0: the last",
    )
    val_fraction: float = option(0.2, "fraction of the training faces held for the threshold")
    val_faces: str = option(
        "",
        "real photos like those you will score (a folder or cache): validation beside the judge's own "
        "split, so they choose the fine-tuning state and fix the threshold too; never trained on",
    )
    train_faces: str = option(
        "",
        "real photos to train on beside --faces (a folder or cache): --train-share of every batch is their "
        "real crops and composites made among them; never validated or tested on",
    )
    # 0.25 validated above 0.5 (BENCHMARKS.md, "Session 12")
    train_share: float = option(0.25, "with --train-faces: the fraction of each training batch drawn from them")
    members: int = option(
        1,
        "train N judges (seeds SEED, SEED+100, ...; one split, one validation set) and score with the mean of "
        "their logits; N times the training time (3 gained nothing measurable on the embedded faces)",
    )
    false_alarms: float = option(0.05, "threshold: this fraction of validation reals flagged")
    real_copies: int = option(8, "crops per face in validation/test real sets (plain, mirror, jittered)")
    n_eval: int = option(100, "fused crops per (kind, blend) group in validation and test")
    threads: int = option(1, THREADS_HELP)
    dry_run: bool = option(False, "two tiny batches per stage, 4 crops per group (tests)")
    progress: bool = option(True, "no progress bar", flag="--no-progress")


def _dry(s: Settings) -> Settings:
    return Settings(
        **{
            **asdict(s),
            "ae_iters": 2,
            "clf_iters": 2,
            "batch_size": min(s.batch_size, 8),
            "real_copies": 2,
            "n_eval": 4,
        }
    )


def judge_faces(faces: str, seed: int, val_fraction: float):
    """(judge-train faces, judge-validation faces): every face but the project's held-out ones
    (its training and validation parts), divided by the judge's own hash of (seed, file name)."""
    from envs.faces import load_faces

    pool = load_faces(faces).split("train", validation_fraction=0.0)  # all but the held-out part
    return (pool.split("train", val_fraction, seed, validation_fraction=0.0), pool.split("heldout", val_fraction, seed))


def _batches(pool: ThreadPoolExecutor, draw, n: int):
    """n results of draw(), each drawn in a second thread while the previous one trains."""
    pending = pool.submit(draw)
    for i in range(n):
        result = pending.result()
        if i + 1 < n:
            pending = pool.submit(draw)
        yield result


def _same(a: str, b: str) -> bool:
    return os.path.abspath(a) == os.path.abspath(b)


def _checked(settings: Settings) -> Settings:
    s = _dry(settings) if settings.dry_run else settings
    if s.val_faces and _same(s.val_faces, s.faces):
        raise ValueError(
            f"--val-faces {s.val_faces}: the same faces as --faces; give photos the judge does not train on"
        )
    if s.highpass_norm and not s.highpass:
        raise ValueError("--highpass-norm scales the fine detail that --no-highpass turns off; give one of them")
    if s.train_faces:
        same = [f for f, v in (("--faces", s.faces), ("--val-faces", s.val_faces)) if v and _same(v, s.train_faces)]
        if same:
            raise ValueError(f"--train-faces {s.train_faces}: the same faces as {same[0]}; give other photos")
        if not 0 < s.train_share < 1:
            raise ValueError(f"--train-share must be in (0, 1), got {s.train_share}")
    counts = (s.ae_iters, s.clf_iters, s.members, s.random_draws)
    if min(counts) < 1 or s.batch_size < 2 or not 0 < s.false_alarms < 1 or not s.context > 0:
        raise ValueError(
            f"need ae_iters, clf_iters, members, random_draws >= 1, batch_size >= 2, 0 < false_alarms < 1, "
            f"context > 0; got {', '.join(map(str, counts))}, {s.batch_size}, {s.false_alarms}, {s.context}"
        )
    if len(s.kind_weights) != len(KINDS) or min(s.kind_weights) < 0 or not sum(s.kind_weights) > 0:
        raise ValueError(f"kind_weights: {len(KINDS)} weights >= 0 for {KINDS}, not all 0; got {s.kind_weights}")
    return s


def _fit(loss_of, opt, batches, bar: tqdm, stage: str, losses: list[float]) -> None:
    """Plain minibatch descent: `loss_of(batch)` per batch from `batches`."""
    for batch in batches:
        loss = loss_of(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        bar.set_postfix(stage=stage, loss=f"{loss.item():.4f}")
        bar.update()


def train(settings: Settings) -> dict:
    """Train per `settings`, write the checkpoint and the held-out metrics; returns metrics."""
    s = _checked(settings)
    if s.threads:
        torch.set_num_threads(s.threads)
    train_faces, val_faces = judge_faces(s.faces, s.seed, s.val_fraction)
    if len(set(val_faces.files)) < 2:  # before any training: the threshold needs them
        raise ValueError(
            f"--faces {s.faces}: the judge's validation split has {len(val_faces)} faces; "
            "it needs faces of two photos or more (use more faces or --val-fraction)"
        )
    photos = _training_photos(s)
    val = _validation_set(s, val_faces)
    t0 = time.perf_counter()
    pool = ThreadPoolExecutor(1)
    bar = tqdm(total=s.members * (s.ae_iters + s.clf_iters), disable=not s.progress, desc="judge", unit="batch")
    try:
        trained = [
            _train_member(s, member_seed(s.seed, k), train_faces, photos, val, pool, bar, f"{k + 1}/{s.members}")
            for k in range(s.members)
        ]
    finally:
        pool.shutdown(cancel_futures=True)
        bar.close()
    nets = [m.net for m in trained]
    net = nets[0] if s.members == 1 else JudgeEnsemble(nets)
    history = trained[0].history
    meta = _calibrate(Judge(net, 0.0, SIZE), s, val)
    meta.update(
        members=s.members,
        selected_batch=trained[0].selected_batch,
        member_selection=[
            {"seed": member_seed(s.seed, k), "selected_batch": m.selected_batch, "val_auc": m.val_auc}
            for k, m in enumerate(trained)
        ],
        train_faces=list(train_faces.files) + (list(photos.files) if photos is not None else []),
        elapsed_s=round(time.perf_counter() - t0, 1),
        history={
            "ae_loss": [round(v, 5) for v in history["ae_loss"]],
            "clf_loss": [round(v, 5) for v in history["clf_loss"]],
            "val_auc": history["val_auc"],  # (fine-tuning batch, validation AUC) pairs
        },
    )
    files.save_state_dict(trained[0].autoencoder, os.path.join(s.out, AUTOENCODER))
    files.save_state_dict(net, os.path.join(s.out, WEIGHTS))
    files.write_json(os.path.join(s.out, SETTINGS), meta)
    judge_plots.loss_plot(history, os.path.join(s.out, "losses.png"))
    return score(s.out, s.faces, n=s.n_eval, seed=s.seed + 3, real_copies=s.real_copies)


def member_seed(seed: int, k: int) -> int:
    """Member k's seed (initialisation, crops, augmentation); member 0 is the judge's own seed,
    so a one-member judge is what `--seed` always trained. The split stays the judge's seed's."""
    return seed + 100 * k


@dataclass
class TrainedMember:
    net: JudgeNet
    autoencoder: AutoEncoder
    selected_batch: int
    val_auc: float
    history: dict


def _say(bar: tqdm, message: str) -> None:
    """A line of progress: above the bar, or on stderr when there is none (logs of long runs)."""
    if bar.disable:
        print(message, file=sys.stderr, flush=True)
    else:
        bar.write(message, file=sys.stderr)


def _train_member(
    s: Settings, seed: int, train_faces, photos, val: ValidationSet, pool, bar: tqdm, name: str = ""
) -> TrainedMember:
    """One judge: the autoencoder on real crops, then its encoder + head fine-tuned on real vs
    fused, keeping the fine-tuning state of the best validation AUC; `name` labels its lines."""
    torch.manual_seed(seed)
    aug = torch.Generator().manual_seed(seed + 1)
    sampler = _training_sampler(s, train_faces, photos, seed)
    b = s.batch_size
    history: dict[str, list] = {"ae_loss": [], "clf_loss": [], "val_auc": []}
    # (1) autoencoder on real crops: features of what a face crop looks like, no labels
    ae = AutoEncoder(WIDTHS, s.highpass, s.highpass_norm)

    def reconstruction(crops):
        x = data.augment(data.to_tensor(crops), aug, sharpen=s.sharpen, noise=s.noise)
        return F.mse_loss(ae(x), ae.target(x))

    opt = torch.optim.Adam(ae.parameters(), lr=s.lr)
    _fit(
        reconstruction,
        opt,
        _batches(pool, lambda: sampler.reals(b), s.ae_iters),
        bar,
        "autoencoder",
        history["ae_loss"],
    )
    _say(bar, f"judge {name}: autoencoder done, {s.ae_iters} batches, reconstruction loss {history['ae_loss'][-1]:.4f}")

    # (2) its encoder + a logistic-regression head, fine-tuned on real (0) vs fused (1)
    net = JudgeNet(WIDTHS, SIZE, highpass=s.highpass, normalize=s.highpass_norm)
    net.encoder.load_state_dict(ae.encoder.state_dict())

    def classification(batch):
        crops, labels = batch
        return F.binary_cross_entropy_with_logits(
            net(data.augment(data.to_tensor(crops), aug, sharpen=s.sharpen, noise=s.noise)),
            torch.from_numpy(labels),
        )

    opt = torch.optim.AdamW(
        [{"params": net.encoder.parameters(), "lr": s.encoder_lr}, {"params": net.head.parameters(), "lr": s.lr}],
        weight_decay=s.weight_decay,
    )
    batches = _batches(pool, lambda: sampler.batch(b, b, s.kind_weights, s.paired), s.clf_iters)
    every = s.select_every or s.clf_iters
    best = (-1.0, 0, None)
    for start in range(0, s.clf_iters, every):
        chunk = itertools.islice(batches, min(every, s.clf_iters - start))
        _fit(classification, opt, chunk, bar, "classifier", history["clf_loss"])
        done = min(start + every, s.clf_iters)
        auc = _validation_auc(net, val)
        history["val_auc"].append((done, auc))
        if auc > best[0]:
            best = (auc, done, copy.deepcopy(net.state_dict()))
        _say(
            bar, f"judge {name}: fine-tuning batch {done}/{s.clf_iters}, validation AUC {auc:.4f} (best {best[0]:.4f})"
        )
    net.load_state_dict(best[2])
    return TrainedMember(net, ae, best[1], best[0], history)


def _training_photos(s: Settings):
    """The --train-faces photos (loaded once for every member), or None without them."""
    from envs.faces import load_faces

    if not s.train_faces:
        return None
    photos = load_faces(s.train_faces)
    if len(set(photos.files)) < 2:
        raise ValueError(f"--train-faces {s.train_faces}: {len(photos)} face(s); need faces of two photos or more")
    return photos


def _training_sampler(s: Settings, train_faces, photos, seed: int) -> JudgeSampler | MixedSampler:
    """The judge's training crops: its split of --faces, and with --train-faces photos those
    for --train-share of every batch."""
    kw = {"shift": s.shift, "zoom": s.zoom, "context": s.context, "random_draws": s.random_draws}
    own = JudgeSampler(train_faces, np.random.default_rng(seed), **kw)
    if photos is None:
        return own
    extra = JudgeSampler(photos, np.random.default_rng(seed + 4), **kw)
    return MixedSampler([own, extra], [1 - s.train_share, s.train_share])


@dataclass
class ValidationSet:
    """The judge's validation crops, drawn once: real crops and every (kind, blend) group."""

    files: list[str]
    real: np.ndarray
    fused: np.ndarray


def _validation_set(s: Settings, val_faces) -> ValidationSet:
    """Crops of the judge's validation split and, with --val-faces, as many of those photos
    (their own composites: fused crops are made within a set), pooled: one threshold and one
    AUC over both, as the judge will be used on either."""
    from envs.faces import load_faces

    parts = [val_faces]
    if s.val_faces:
        photos = load_faces(s.val_faces)
        if len(set(photos.files)) < 2:
            raise ValueError(f"--val-faces {s.val_faces}: {len(photos)} face(s); need faces of two photos or more")
        parts.append(photos)
    real, fused = [], []
    for part in parts:
        val = JudgeSampler(part, np.random.default_rng(s.seed + 2), context=s.context)
        real.append(val.real_set(s.real_copies))
        fused += [val.fused_set(k, bl, s.n_eval) for k in KINDS for bl in BLENDS]
    return ValidationSet([f for part in parts for f in part.files], np.concatenate(real), np.concatenate(fused))


def _validation_auc(net: JudgeNet, val: ValidationSet) -> float:
    """ROC AUC of real vs all fused validation crops (the net left in training mode)."""
    judge = Judge(net, 0.0, SIZE)  # puts the net in eval mode
    auc = real_vs_fused_auc(judge.logits(val.real), judge.logits(val.fused))
    net.train()
    return round(auc, 5)


def _calibrate(judge: Judge, s: Settings, val: ValidationSet) -> dict:
    """The threshold on the judge's own validation faces (`false_alarms` of real crops flagged)
    and judge.json's other fields."""
    val_real = judge.logits(val.real)
    threshold = threshold_at(val_real, s.false_alarms)
    val_fused = judge.logits(val.fused)
    return {
        "settings": asdict(s),
        "widths": list(WIDTHS),
        "highpass": s.highpass,
        "highpass_norm": s.highpass and s.highpass_norm,
        "image_size": SIZE,
        "context": s.context,
        "threshold_logit": threshold,
        "threshold": float(sigmoid(threshold)),
        "val_faces": val.files,
        "validation": {**group_metrics(val_real, val_fused, threshold), "n_real": len(val_real)},
    }


def score(
    checkpoint: str,
    faces: str = "default",
    split: str = "heldout",
    out: str | None = None,
    n: int = 100,
    seed: int = 10,
    real_copies: int = 8,
) -> dict:
    """Score real and fused crops of `split` faces; write metrics.json and the PNGs to `out`
    (default: the checkpoint folder); returns the metrics."""
    from envs.faces import load_faces

    judge = Judge.from_checkpoint(checkpoint)
    out = out or os.path.dirname(judge.source)
    face_set = load_faces(faces).split(split)
    sampler = JudgeSampler(face_set, np.random.default_rng(seed), judge.image_size, context=judge.context)
    real_crops, real_face = sampler.real_set(real_copies, with_faces=True)
    real = judge.logits(real_crops)
    scores, faces_of = {}, {}
    for k in KINDS:
        for bl in BLENDS:
            crops, faces_of[k, bl] = sampler.fused_set(k, bl, n, with_targets=True)
            scores[k, bl] = judge.logits(crops)
    t = judge.threshold_logit

    def interval(groups) -> list[float]:
        fused = np.concatenate([scores[g] for g in groups])
        return auc_interval(real, real_face, fused, np.concatenate([faces_of[g] for g in groups]), len(face_set))

    metrics = {
        "checkpoint": os.path.abspath(judge.source),
        "split": split,
        "faces": len(face_set),
        "seed": seed,
        "threshold": judge.threshold,
        "threshold_logit": t,
        "image_size": judge.image_size,
        "context": judge.context,
        "real": {
            "n": len(real),
            "mean_p_fake": float(sigmoid(real).mean()),
            "false_alarm_rate": float((real > t).mean()),
        },
        "groups": {f"{k}/{bl}": group_metrics(real, v, t) for (k, bl), v in scores.items()},
        "kinds": {
            k: {
                **group_metrics(real, np.concatenate([scores[k, bl] for bl in BLENDS]), t),
                "auc_interval_95": interval([(k, bl) for bl in BLENDS]),
            }
            for k in KINDS
        },
        "blends": {bl: group_metrics(real, np.concatenate([scores[k, bl] for k in KINDS]), t) for bl in BLENDS},
        "all": {**group_metrics(real, np.concatenate(list(scores.values())), t), "auc_interval_95": interval(scores)},
    }
    files.write_json(os.path.join(out, METRICS), metrics)
    for k in KINDS:
        judge_plots.histogram(real, {bl: scores[k, bl] for bl in BLENDS}, t, k, os.path.join(out, f"scores_{k}.png"))
    judge_plots.reconstructions(
        os.path.dirname(judge.source),
        real_crops[:: max(1, real_copies)][:16],
        os.path.join(out, "reconstructions.png"),
        judge.highpass,
        judge.normalize,
    )
    return metrics


def summary(metrics: dict) -> str:
    """Markdown table of held-out AUC / accuracy / precision / recall per group."""

    def f(v):
        return "-" if v is None else f"{v:.3f}"

    rows = [
        (
            f"Judge `{metrics['checkpoint']}` on {metrics['faces']} {metrics['split']} faces; threshold "
            f"logit {metrics['threshold_logit']:.2f} (false alarms on these reals: {metrics['real']['false_alarm_rate']:.1%}, "
            f"n={metrics['real']['n']})"
        ),
        "",
        "| group | n | ROC AUC | accuracy | precision | recall | mean P(fused) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in [*metrics["groups"].items(), *metrics["kinds"].items(), ("all", metrics["all"])]:
        auc = f(m["auc"])
        if "auc_interval_95" in m:  # per kind and overall: 95% interval from resampling the faces
            auc += " [{}, {}]".format(*map(f, m["auc_interval_95"]))
        rows.append(
            f"| {name} | {m['n']} | {auc} | {f(m['accuracy'])} | {f(m['precision'])} | "
            f"{f(m['recall'])} | {f(m['mean_p_fake'])} |"
        )
    rows += ["", "ROC AUC [a, b]: 95% interval from resampling the faces (their real crops and composites together)."]
    return "\n".join(rows)


def main(argv=None) -> int:
    d = Settings()
    ap = argparse.ArgumentParser(prog="python -m detectors.judge", description=__doc__, formatter_class=HelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train a judge and score it on held-out faces", formatter_class=HelpFormatter)
    add_arguments(tr, Settings)
    sc = sub.add_parser("score", help="score a judge on a split's real and fused crops", formatter_class=HelpFormatter)
    sc.add_argument("--checkpoint", required=True, help="judge dir (judge.pt + judge.json) or its judge.pt")
    sc.add_argument("--faces", default="default")
    sc.add_argument("--split", default="heldout", choices=("train", "heldout", "all"))
    sc.add_argument("--out", default=None, help="output dir (default: the checkpoint's folder)")
    sc.add_argument("--n", type=int, default=d.n_eval, help="fused crops per (kind, blend) group")
    sc.add_argument("--real-copies", type=int, default=d.real_copies)
    sc.add_argument("--seed", type=int, default=10)
    a = ap.parse_args(argv)
    try:
        if a.command == "train":
            metrics = train(from_args(Settings, a, kind_weights=tuple(a.kind_weights)))
        else:
            metrics = score(a.checkpoint, a.faces, a.split, a.out, a.n, a.seed, a.real_copies)
    except (OSError, ValueError) as exc:  # bad --faces, wrong or missing checkpoint, unwritable --out
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = a.out if a.command == "train" or a.out else os.path.dirname(metrics["checkpoint"])
    print(summary(metrics))
    print(f"wrote {os.path.abspath(os.path.join(out, METRICS))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
