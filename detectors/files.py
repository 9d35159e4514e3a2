"""Detectors' files: checkpoints written atomically (the writers are `envs.files`', re-exported
here for the detectors' commands), and what each checkpoint file is, for clear errors."""

from __future__ import annotations

import io
import os

import torch

from envs.files import grid, write_bytes, write_figure, write_json, write_png

__all__ = [
    "describe",
    "grid",
    "save_state_dict",
    "write_bytes",
    "write_figure",
    "write_json",
    "write_png",
    "wrong_checkpoint",
]


def save_state_dict(module: torch.nn.Module, path: str) -> str:
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return write_bytes(path, buf.getvalue())


# Checkpoint file names, defined once: the reward critic and its generator (detectors.train),
# the judge and its autoencoder (detectors.judge).
DISCRIMINATOR, GENERATOR = "discriminator.pt", "generator.pt"
JUDGE, AUTOENCODER = "judge.pt", "autoencoder.pt"
# What each detectors checkpoint file is, for errors when one is given where another is expected.
KNOWN_FILES = {
    DISCRIMINATOR: "the reward critic's discriminator (python -m detectors.train)",
    GENERATOR: "the GAN generator (python -m detectors.train), which scores nothing",
    JUDGE: "a realism judge (python -m detectors.judge train)",
    AUTOENCODER: "the realism judge's autoencoder (python -m detectors.judge train), which scores nothing",
}


def describe(path) -> str | None:
    """What a detectors checkpoint file or output folder holds, by its file names (None: unknown)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        for name in (DISCRIMINATOR, JUDGE):
            if os.path.isfile(os.path.join(path, name)):
                return f"a folder holding {KNOWN_FILES[name]}"
        if os.path.isfile(os.path.join(path, "result.json")) or os.path.isdir(os.path.join(path, "checkpoints")):
            return "an RL training run (python train.py), not a detectors checkpoint"
        return None
    return KNOWN_FILES.get(os.path.basename(path))


def wrong_checkpoint(path, expected: str) -> str:
    """Error message for a checkpoint `path` that is not what a command expected: names the
    path, what it is where that can be told, and what was expected."""
    path = os.fspath(path)
    if not os.path.exists(path):
        return f"{path}: not found (expected {expected})"
    what = describe(path)
    return f"{path}: " + (f"this is {what}; " if what else "") + f"expected {expected}"
