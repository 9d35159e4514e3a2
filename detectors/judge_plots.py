"""The realism judge's figures: held-out crops over their reconstructions, score histograms of
real vs fused crops, and the training losses."""

from __future__ import annotations

import os

import numpy as np
import torch

from . import data, files
from .judge_model import AUTOENCODER, WIDTHS, AutoEncoder


def reconstructions(checkpoint_dir: str, crops: np.ndarray, path: str, highpass: bool, normalize: bool) -> None:
    """Held-out real crops (top row) over the autoencoder's reconstructions (bottom row; with
    `highpass`, the fine detail it reconstructs in between)."""
    file = os.path.join(checkpoint_dir, AUTOENCODER)
    if not os.path.isfile(file) or not len(crops):
        return
    ae = AutoEncoder(WIDTHS, highpass, normalize)
    ae.load_state_dict(torch.load(file, map_location="cpu", weights_only=True))
    with torch.no_grad():
        x = data.to_tensor(crops)
        rows = [crops] + ([data.to_uint8(ae.target(x))] if highpass else []) + [data.to_uint8(ae.eval()(x))]
    files.write_png(path, files.grid(np.concatenate(rows), cols=len(crops)))


def histogram(real: np.ndarray, fused: dict, threshold: float, kind: str, path: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 3.5))
    ax = fig.subplots()
    bins = np.linspace(
        min(real.min(), *(v.min() for v in fused.values())), max(real.max(), *(v.max() for v in fused.values())), 41
    )
    ax.hist(real, bins=bins, histtype="step", density=True, lw=1.5, color="k", label=f"real (n={len(real)})")
    for name, s in fused.items():
        ax.hist(s, bins=bins, histtype="step", density=True, lw=1.2, label=f"{kind}/{name} (n={len(s)})")
    ax.axvline(threshold, ls="--", color="grey", lw=1, label="threshold")
    ax.set(
        xlabel="judge logit of fused (P = sigmoid)", ylabel="density", title=f"judge scores, {kind} composites vs real"
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    files.write_figure(path, fig)


def loss_plot(history: dict, path: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.5))
    for ax, (key, label) in zip(fig.subplots(1, 2), (("ae_loss", "autoencoder MSE"), ("clf_loss", "classifier BCE"))):
        ax.plot(np.arange(1, len(history[key]) + 1), history[key], lw=0.8)
        ax.set(xlabel="batch", ylabel=label, title=label)
    fig.tight_layout()
    files.write_figure(path, fig)
