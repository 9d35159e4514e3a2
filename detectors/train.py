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

DISCRIMINATOR, GENERATOR, CONFIG = "discriminator.pt", "generator.pt", "config.json"


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


def train(settings: Settings) -> dict:
    """Run the training described by `settings`; returns the final config.json content."""
    s = settings
    if s.dry_run:
        s = Settings(**{**asdict(s), "epochs": 1, "iters_per_epoch": 2, "batch_size": min(s.batch_size, 8)})
    if s.epochs < 1 or s.iters_per_epoch < 1 or s.batch_size < 2:
        raise ValueError(
            f"need epochs >= 1, iters_per_epoch >= 1, batch_size >= 2; got "
            f"{s.epochs}, {s.iters_per_epoch}, {s.batch_size}"
        )
    if s.threads:
        torch.set_num_threads(s.threads)
    torch.manual_seed(s.seed)
    rng = np.random.default_rng(s.seed)
    aug_gen = torch.Generator().manual_seed(s.seed + 1)

    faces = load_faces(s.faces).split(s.split)
    if len(faces) == 0:
        raise ValueError(f"--faces {s.faces}: the {s.split!r} split is empty")
    sampler = data.CropSampler(faces, rng, size=s.image_size)
    net_d, net_g = Discriminator(s.ndf, s.image_size), Generator(s.nz, s.ngf, s.image_size)
    net_d.apply(weights_init)
    net_g.apply(weights_init)
    opt_d = torch.optim.Adam(net_d.parameters(), lr=s.lr_d, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=s.lr_g, betas=(0.5, 0.999))
    fixed_noise = torch.randn(64, s.nz, generator=torch.Generator().manual_seed(s.seed))

    b = s.batch_size
    n_gen = max(1, b // 4)  # a GAN keeps the critic honest about faces; composites teach placement
    n_comp = b - n_gen
    labels = torch.cat([torch.ones(b), torch.zeros(n_comp + n_gen)])
    history: list[dict] = []  # per batch
    epochs: list[dict] = []  # per-epoch means
    config: dict = {}
    t0 = time.perf_counter()

    def draw() -> np.ndarray:
        return np.concatenate([sampler.reals(b), sampler.composites(n_comp)])

    # crops for the next batch are drawn (OpenCV, GIL released) while torch trains on this one
    pool = ThreadPoolExecutor(1)
    bar = tqdm(total=s.epochs * s.iters_per_epoch, disable=not s.progress, desc="detectors", unit="batch")
    try:
        pending = pool.submit(draw)
        for epoch in range(1, s.epochs + 1):
            for _ in range(s.iters_per_epoch):
                # (1) discriminator: real crops -> 1; misplaced composites and G(z) -> 0
                crops, pending = pending.result(), pool.submit(draw)
                crops = data.augment(data.to_tensor(crops), aug_gen)
                fake = net_g(torch.randn(n_gen, s.nz))
                logits = net_d(torch.cat([crops, fake.detach()]))
                loss_d = F.binary_cross_entropy_with_logits(logits, labels)
                opt_d.zero_grad()
                loss_d.backward()
                opt_d.step()
                # (2) generator: make D call G(z) real (non-saturating loss)
                loss_g = F.binary_cross_entropy_with_logits(net_d(fake), torch.ones(n_gen))
                opt_g.zero_grad()
                loss_g.backward()
                opt_g.step()

                p = torch.sigmoid(logits.detach())
                history.append(
                    {
                        "epoch": epoch,
                        "loss_d": loss_d.item(),
                        "loss_g": loss_g.item(),
                        "p_real": float(p[:b].mean()),
                        "p_composite": float(p[b : b + n_comp].mean()),
                        "p_generated": float(p[b + n_comp :].mean()),
                    }
                )
                bar.set_postfix(
                    epoch=epoch,
                    loss_d=f"{loss_d.item():.3f}",
                    loss_g=f"{loss_g.item():.3f}",
                    real=f"{history[-1]['p_real']:.2f}",
                    comp=f"{history[-1]['p_composite']:.2f}",
                )
                bar.update()

            # per epoch: samples from fixed noise (batch statistics, as in the DCGAN example),
            # checkpoints, settings and history
            with torch.no_grad():
                samples = data.to_uint8(net_g(fixed_noise))
            files.write_png(os.path.join(s.out, f"samples_epoch_{epoch:03d}.png"), files.grid(samples))
            files.save_state_dict(net_d, os.path.join(s.out, DISCRIMINATOR))
            files.save_state_dict(net_g, os.path.join(s.out, GENERATOR))
            last = [h for h in history if h["epoch"] == epoch]
            means = {k: float(np.mean([h[k] for h in last])) for k in last[0] if k != "epoch"}
            epochs.append({"epoch": epoch, **means})
            config = {
                "settings": asdict(s),
                "epoch": epoch,
                "iterations": len(history),
                "train_faces": len(faces),
                "elapsed_s": round(time.perf_counter() - t0, 2),
                "models": {"ndf": s.ndf, "ngf": s.ngf, "nz": s.nz, "image_size": s.image_size},
                "epochs": epochs,
            }
            files.write_json(os.path.join(s.out, CONFIG), config)
            _loss_plot(history, os.path.join(s.out, "losses.png"))
    finally:
        pool.shutdown(cancel_futures=True)
        bar.close()
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
