"""The realism judge's networks and its loaded form.

A convolutional autoencoder (64 px crops -> 4 x 4 code -> 64 px) is trained on real face
crops alone; its encoder then gets a logistic-regression head (one linear layer on the
flattened code) and both are fine-tuned on real vs fused crops. This is the baseline the
deepfake-detection literature starts from, and it shares nothing with the reward critic:
different architecture, crop size, seed, data split and weights.

    judge = Judge.from_checkpoint("judge_run/")    # dir or judge.pt (+ judge.json beside it)
    p = judge(crops)          # uint8 (N, 64, 64, 3) RGB -> float64 (N,) probability of fused
    judge.detects(crops)      # logit > judge.threshold_logit (5% false alarms on the judge's validation reals)

Comparisons are made on logits: a fine-tuned judge's probabilities saturate at 1.0 in float32
(logits of 20-40 are common), and ties at 1.0 would blur both its threshold and its ROC AUC.
"""

from __future__ import annotations

import itertools
import json
import os

import numpy as np
import torch
from torch import nn

from . import files
from .data import gaussian_blur
from .judge_data import CONTEXT

WEIGHTS, AUTOENCODER, SETTINGS = files.JUDGE, files.AUTOENCODER, "judge.json"
WIDTHS = (32, 64, 128, 128)  # encoder feature maps: 64 -> 32 -> 16 -> 8 -> 4 px


def _down(cin: int, cout: int, norm: bool) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, 4, 2, 1, bias=not norm)] + ([nn.BatchNorm2d(cout)] if norm else [])
    return nn.Sequential(*layers, nn.LeakyReLU(0.2, inplace=True))


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True))


class HighPass(nn.Module):
    """x minus its Gaussian blur (sigma 1 px), x `gain`: the image's fine detail alone, the
    forensic front end (SRM-style residuals): a seam is fine detail, a face's identity mostly
    is not, so a detector on residuals has less to memorise its few training faces by.

    `normalize`: each crop's detail is scaled to the same RMS (NORM_RMS, what `gain` gives the
    embedded LFW crops), so how sharp a photo is carries no label, only where its detail
    changes does: a sharp real photo has ~3.5x an upscaled 25 px face's detail everywhere and
    looked fused to a judge trained on such faces (BENCHMARKS.md, "the judge on real photos")."""

    NORM_RMS = 0.16
    FLOOR = 1e-3  # RMS below which a crop counts as flat (not amplified further)

    def __init__(self, gain: float = 4.0, normalize: bool = False):
        super().__init__()
        self.gain, self.normalize = gain, normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = x - gaussian_blur(x)
        if self.normalize:
            rms = r.pow(2).mean((1, 2, 3), keepdim=True).sqrt()
            return (r * (self.NORM_RMS / rms.clamp_min(self.FLOOR))).clamp(-1, 1)
        return (r * self.gain).clamp(-1, 1)


class Encoder(nn.Module):
    """(N, 3, 64, 64) in [-1, 1] -> (N, widths[-1], 4, 4) code; `highpass`: of the crop's
    fine detail (`HighPass`, `normalize` its energy), which is then also what the autoencoder
    reconstructs."""

    def __init__(self, widths: tuple[int, ...] = WIDTHS, highpass: bool = False, normalize: bool = False):
        super().__init__()
        chans = (3, *widths)
        self.prepare = HighPass(normalize=normalize) if highpass else nn.Identity()
        self.main = nn.Sequential(*[_down(a, b, norm=i > 0) for i, (a, b) in enumerate(itertools.pairwise(chans))])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(self.prepare(x))


class Decoder(nn.Module):
    """Code -> (N, 3, 64, 64) in [-1, 1]: the encoder mirrored."""

    def __init__(self, widths: tuple[int, ...] = WIDTHS):
        super().__init__()
        chans = widths[::-1]
        self.main = nn.Sequential(
            *[_up(a, b) for a, b in itertools.pairwise(chans)], nn.ConvTranspose2d(chans[-1], 3, 4, 2, 1), nn.Tanh()
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)


class AutoEncoder(nn.Module):
    """Encoder + decoder; reconstructs the encoder's input view of x (`target(x)`)."""

    def __init__(self, widths: tuple[int, ...] = WIDTHS, highpass: bool = False, normalize: bool = False):
        super().__init__()
        self.encoder, self.decoder = Encoder(widths, highpass, normalize), Decoder(widths)

    def target(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder.prepare(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class JudgeNet(nn.Module):
    """Encoder + logistic-regression head: (N, 3, 64, 64) -> logits (N,) of "fused"."""

    def __init__(
        self,
        widths: tuple[int, ...] = WIDTHS,
        image_size: int = 64,
        dropout: float = 0.2,
        highpass: bool = False,
        normalize: bool = False,
    ):
        super().__init__()
        self.encoder = Encoder(widths, highpass, normalize)
        side = image_size // 2 ** len(widths)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(widths[-1] * side * side, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x)).reshape(-1)


class JudgeEnsemble(nn.Module):
    """Several JudgeNets trained apart (own seeds, one data split): the mean of their logits.
    On the embedded faces three members ranked as well as their best member, no better: their
    errors are mostly shared (BENCHMARKS.md, "Session 13: an ensemble of judges")."""

    def __init__(self, members: list[JudgeNet]):
        super().__init__()
        self.members = nn.ModuleList(members)

    @property
    def encoder(self) -> Encoder:
        """The first member's encoder (what each member's front end is, they share settings)."""
        return self.members[0].encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(0)


def resolve(path: str | os.PathLike) -> str:
    """A judge dir or its judge.pt -> judge.pt's path; anything else is a clear error."""
    path = os.fspath(path)
    file = os.path.join(path, WEIGHTS) if os.path.isdir(path) else path
    if not os.path.isfile(file) or os.path.basename(file) != WEIGHTS:
        raise ValueError(
            files.wrong_checkpoint(
                path,
                f"a realism judge ({WEIGHTS} and {SETTINGS}, written by `python -m detectors.judge train --out DIR`)",
            )
        )
    return file


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64)))


class Judge:
    """Callable judge: uint8 RGB crops -> probability that each is fused (not a real crop)."""

    def __init__(
        self,
        net: JudgeNet | JudgeEnsemble,
        threshold_logit: float,
        image_size: int,
        source: str | None = None,
        context: float = CONTEXT,
    ):
        self.net, self.image_size, self.source, self.context = net.eval(), image_size, source, float(context)
        self.threshold_logit = float(threshold_logit)
        self.highpass = isinstance(net.encoder.prepare, HighPass)
        self.normalize = self.highpass and net.encoder.prepare.normalize

    @property
    def threshold(self) -> float:
        """The threshold as a probability (float64; see threshold_logit)."""
        return float(sigmoid(self.threshold_logit))

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike) -> Judge:
        file = resolve(path)
        settings_file = os.path.join(os.path.dirname(file), SETTINGS)
        try:
            with open(settings_file) as f:
                meta = json.load(f)
            widths, size = tuple(meta["widths"]), int(meta["image_size"])
            if "threshold_logit" in meta:
                threshold = float(meta["threshold_logit"])
            else:  # judges written before it: a probability
                p = min(max(float(meta["threshold"]), 1e-12), 1 - 1e-12)
                threshold = float(np.log(p / (1 - p)))
            highpass = bool(meta.get("highpass", False))  # judges before it existed: False
            normalize = bool(meta.get("highpass_norm", False))  # likewise
            members = int(meta.get("members", 1))  # judges before ensembles: one net
            context = float(meta.get("context", CONTEXT))  # judges before it: the realism crop's framing
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"judge settings {settings_file!r}: expected the JSON `python -m detectors.judge "
                f"train` writes (widths, image_size, threshold) ({exc!r})"
            ) from exc
        try:
            state = torch.load(file, map_location="cpu", weights_only=True)
            nets = [JudgeNet(widths, size, highpass=highpass, normalize=normalize) for _ in range(members)]
            net = nets[0] if members == 1 else JudgeEnsemble(nets)
            net.load_state_dict(state)
        except Exception as exc:  # not a torch file, pickled objects, wrong keys or shapes
            raise ValueError(
                f"{file}: not a realism judge state_dict of {members} net(s) of widths {widths} at {size} px "
                f"({str(exc).splitlines()[0][:200]})"
            ) from exc
        return cls(net, threshold, size, source=file, context=context)

    def __repr__(self) -> str:
        n = len(self.net.members) if isinstance(self.net, JudgeEnsemble) else 1
        return (
            f"Judge(members={n}, image_size={self.image_size}, context={self.context}, "
            f"threshold={self.threshold:.3f}, source={self.source!r})"
        )

    def logits(self, crops: np.ndarray, batch: int = 256) -> np.ndarray:
        crops = np.asarray(crops)
        s = self.image_size
        if crops.dtype != np.uint8 or crops.ndim != 4 or crops.shape[1:] != (s, s, 3):
            raise ValueError(
                f"Judge expects uint8 RGB crops of shape (N, {s}, {s}, 3); got {crops.shape} {crops.dtype}"
            )
        out = [np.zeros(0, np.float32)]
        with torch.no_grad():  # mean logit of each crop and its mirror image (a face's pose has no side)
            for i in range(0, len(crops), batch):
                x = torch.from_numpy(np.ascontiguousarray(crops[i : i + batch])).permute(0, 3, 1, 2).float()
                x = x / 127.5 - 1
                out.append(self.net(torch.cat([x, x.flip(3)])).reshape(2, -1).mean(0).numpy())
        return np.concatenate(out)

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities (float64) that each crop is fused."""
        return sigmoid(self.logits(crops))

    def detects(self, crops: np.ndarray) -> np.ndarray:
        """Boolean (N,): flagged as fused at the validation threshold."""
        return self.logits(crops) > self.threshold_logit
