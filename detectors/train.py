"""Train the DCGAN whose discriminator becomes the realism critic.

    python -m detectors.train [--faces default|CACHE_DIR|FOLDER] [--epochs N] [--batch-size B]
                              [--out DIR] [--seed S] [--dry-run]

The discriminator sees three kinds of crop (--image-size px, 1.2 x the face box, the env's realism
crop): real faces of the training split (label 1), generator samples (label 0) and
misplaced composites, a face pasted with a wrong offset and/or scale onto its own photo or
another photo's face (label 0). The composites are what make it a placement critic: a GAN
alone only learns what a face looks like, not what a bad fusion looks like. Composites within
0.08 face size and 6% scale of the true place are never negatives: they look real. Reals and
composites get the same augmentation (flips, colour, crop shift/zoom/tilt jitter); see
detectors.data.

Writes to --out: discriminator.pt and generator.pt (state_dicts, every epoch),
config.json (settings, epoch, history), samples_epoch_NNN.png (a grid of generator samples
from fixed noise, every epoch) and losses.png.
"""

from __future__ import annotations

import argparse
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
from envs.faces import load_faces

from . import data, files
from .models import IMAGE_SIZE, IMAGE_SIZES, NDF, NGF, NZ, Discriminator, Generator, weights_init

DISCRIMINATOR, GENERATOR, CONFIG = files.DISCRIMINATOR, files.GENERATOR, "config.json"


FACES_HELP = "'default' (embedded faces), a face cache dir or an image folder"
THREADS_HELP = (
    "torch threads, 0 = torch's own setting (these small convs gain little from more, and on shared "
    "cores OpenMP threads slow training down several-fold; crops are drawn in a second thread meanwhile)"
)


@dataclass
class Settings:
    faces: str = option("default", FACES_HELP)
    out: str = option("runs/detectors", "output dir (discriminator.pt, generator.pt, config.json, report)")
    epochs: int = option(16, "~1-1.5 min on 2 shared cores with ~80 training faces")
    iters_per_epoch: int = option(40, "batches per epoch: many augmented crops of few faces")
    batch_size: int = option(64, "real crops per batch; as many fakes (3/4 composites, 1/4 generated)")
    seed: int = option(0, "seed of the weights, the crops and the generator's noise")
    image_size: int = option(
        IMAGE_SIZE,
        "crop side in px; the env's realism crop follows the critic's (32 is ~2.5x cheaper per env step than 64)",
        choices=IMAGE_SIZES,
    )
    ndf: int = option(NDF, "discriminator width (critic cost per env step)")
    ngf: int = option(NGF, "generator width")
    nz: int = option(NZ)  # generator noise size
    lr_d: float = option(4e-4, "discriminator learning rate (two time-scale rule, as for SN-GAN: D learns faster)")
    lr_g: float = option(2e-4, "generator learning rate")
    split: str = option("train")  # faces the critic learns from; held-out stays unseen
    threads: int = option(1, THREADS_HELP)
    dry_run: bool = option(False, "one epoch of two tiny batches (for tests)")
    progress: bool = option(True, "no progress bar", flag="--no-progress")


def _loss_plot(history: list[dict], path: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.5))
    ax1, ax2 = fig.subplots(1, 2)
    it = np.arange(1, len(history) + 1)
    for key, label in (("loss_d", "discriminator"), ("loss_g", "generator")):
        ax1.plot(it, [h[key] for h in history], label=label, lw=0.8)
    ax1.set(xlabel="iteration", ylabel="BCE loss", title="losses")
    ax1.legend()
    for key, label in (("p_real", "real"), ("p_composite", "composite"), ("p_generated", "generated")):
        ax2.plot(it, [h[key] for h in history], label=label, lw=0.8)
    ax2.set(xlabel="iteration", ylabel="mean D probability of real", ylim=(0, 1), title="discriminator")
    ax2.legend()
    fig.tight_layout()
    files.write_figure(path, fig)


def _checked(s: Settings) -> Settings:
    """The settings to run: shrunk for a dry run, and checked."""
    if s.dry_run:
        s = Settings(**{**asdict(s), "epochs": 1, "iters_per_epoch": 2, "batch_size": min(s.batch_size, 8)})
    if s.epochs < 1 or s.iters_per_epoch < 1 or s.batch_size < 2:
        raise ValueError(
            f"need epochs >= 1, iters_per_epoch >= 1, batch_size >= 2; got "
            f"{s.epochs}, {s.iters_per_epoch}, {s.batch_size}"
        )
    return s


class GAN:
    """Critic, generator, their optimisers and one update of each (the PyTorch DCGAN example's
    loop body, with misplaced composites among the critic's negatives)."""

    def __init__(self, s: Settings):
        self.nz = s.nz
        self.d, self.g = Discriminator(s.ndf, s.image_size), Generator(s.nz, s.ngf, s.image_size)
        self.d.apply(weights_init)
        self.g.apply(weights_init)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=s.lr_d, betas=(0.5, 0.999))
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=s.lr_g, betas=(0.5, 0.999))
        self.n_real = s.batch_size
        self.n_gen = max(1, s.batch_size // 4)  # a GAN keeps the critic honest about faces; composites teach placement
        self.n_comp = s.batch_size - self.n_gen
        self.labels = torch.cat([torch.ones(self.n_real), torch.zeros(self.n_comp + self.n_gen)])

    def step(self, crops: torch.Tensor) -> dict:
        """`crops`: n_real real crops, then n_comp composites. Returns the batch's losses and
        mean D(real) per kind."""
        # (1) discriminator: real crops -> 1; misplaced composites and G(z) -> 0
        fake = self.g(torch.randn(self.n_gen, self.nz))
        logits = self.d(torch.cat([crops, fake.detach()]))
        loss_d = F.binary_cross_entropy_with_logits(logits, self.labels)
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()
        # (2) generator: make D call G(z) real (non-saturating loss)
        loss_g = F.binary_cross_entropy_with_logits(self.d(fake), torch.ones(self.n_gen))
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()
        p = torch.sigmoid(logits.detach())
        b, c = self.n_real, self.n_real + self.n_comp
        return {
            "loss_d": loss_d.item(),
            "loss_g": loss_g.item(),
            "p_real": float(p[:b].mean()),
            "p_composite": float(p[b:c].mean()),
            "p_generated": float(p[c:].mean()),
        }


def train(settings: Settings) -> dict:
    """Run the training described by `settings`; returns the final config.json content."""
    s = _checked(settings)
    if s.threads:
        torch.set_num_threads(s.threads)
    torch.manual_seed(s.seed)
    aug_gen = torch.Generator().manual_seed(s.seed + 1)
    faces = load_faces(s.faces).split(s.split)
    if len(faces) == 0:
        raise ValueError(f"--faces {s.faces}: the {s.split!r} split is empty")
    sampler = data.CropSampler(faces, np.random.default_rng(s.seed), size=s.image_size)
    gan = GAN(s)
    fixed_noise = torch.randn(64, s.nz, generator=torch.Generator().manual_seed(s.seed))
    history: list[dict] = []  # per batch
    config: dict = {}
    t0 = time.perf_counter()

    def draw() -> np.ndarray:
        return np.concatenate([sampler.reals(gan.n_real), sampler.composites(gan.n_comp)])

    # crops for the next batch are drawn (OpenCV, GIL released) while torch trains on this one
    pool = ThreadPoolExecutor(1)
    bar = tqdm(total=s.epochs * s.iters_per_epoch, disable=not s.progress, desc="detectors", unit="batch")
    try:
        pending = pool.submit(draw)
        for epoch in range(1, s.epochs + 1):
            for _ in range(s.iters_per_epoch):
                crops, pending = pending.result(), pool.submit(draw)
                row = gan.step(data.augment(data.to_tensor(crops), aug_gen))
                history.append({"epoch": epoch, **row})
                bar.set_postfix(
                    epoch=epoch,
                    loss_d=f"{row['loss_d']:.3f}",
                    loss_g=f"{row['loss_g']:.3f}",
                    real=f"{row['p_real']:.2f}",
                    comp=f"{row['p_composite']:.2f}",
                )
                bar.update()
            config = _end_epoch(s, gan, fixed_noise, history, epoch, len(faces), time.perf_counter() - t0)
    finally:
        pool.shutdown(cancel_futures=True)
        bar.close()
    return config


def _end_epoch(s: Settings, gan: GAN, fixed_noise, history: list[dict], epoch: int, n_faces: int, elapsed: float):
    """Samples from fixed noise (batch statistics, as in the DCGAN example), checkpoints,
    settings and history; returns config.json's content."""
    with torch.no_grad():
        samples = data.to_uint8(gan.g(fixed_noise))
    files.write_png(os.path.join(s.out, f"samples_epoch_{epoch:03d}.png"), files.grid(samples))
    files.save_state_dict(gan.d, os.path.join(s.out, DISCRIMINATOR))
    files.save_state_dict(gan.g, os.path.join(s.out, GENERATOR))
    epochs = []
    for e in range(1, epoch + 1):
        rows = [h for h in history if h["epoch"] == e]
        epochs.append({"epoch": e, **{k: float(np.mean([h[k] for h in rows])) for k in rows[0] if k != "epoch"}})
    config = {
        "settings": asdict(s),
        "epoch": epoch,
        "iterations": len(history),
        "train_faces": n_faces,
        "elapsed_s": round(elapsed, 2),
        "models": {"ndf": s.ndf, "ngf": s.ngf, "nz": s.nz, "image_size": s.image_size},
        "epochs": epochs,
    }
    files.write_json(os.path.join(s.out, CONFIG), config)
    _loss_plot(history, os.path.join(s.out, "losses.png"))
    return config


def parse_args(argv=None) -> Settings:
    ap = argparse.ArgumentParser(prog="python -m detectors.train", description=__doc__, formatter_class=HelpFormatter)
    add_arguments(ap, Settings)
    return from_args(Settings, ap.parse_args(argv))


def main(argv=None) -> int:
    settings = parse_args(argv)
    try:
        config = train(settings)
    except (OSError, ValueError) as exc:  # bad --faces, unwritable --out, bad sizes
        print(f"error: {exc}", file=sys.stderr)
        return 2
    last = config["epochs"][-1]
    print(
        f"trained {config['iterations']} batches in {config['elapsed_s']:.1f}s on {config['train_faces']} faces; "
        f"D(real)={last['p_real']:.2f} D(composite)={last['p_composite']:.2f} "
        f"D(generated)={last['p_generated']:.2f}; wrote {os.path.abspath(settings.out)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
