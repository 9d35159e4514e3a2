"""DCGAN generator and discriminator for 64 x 64 face crops (after the PyTorch DCGAN example).

The discriminator doubles as the environment's realism critic, so its stabiliser is chosen
for use as a reward rather than for sample quality: **spectral normalisation** on every
discriminator convolution (Miyato et al. 2018) instead of the example's batch norm.

* Lipschitz-bounded: each layer's weight is divided by its largest singular value, so the
  logit changes at most in proportion to the image change. A one-step move of the face
  therefore changes the reward by a bounded, smooth amount instead of jumping between 0
  and 1, which is what a dense shaping term needs.
* No batch statistics: a crop's score does not depend on what else is in the batch, so a
  single crop scored in an env step gets the same number as in a batch of 64 (batch norm
  would need eval-mode running statistics that drift between real, fake and composite
  batches).
* Cheap: one power iteration per training forward, and nothing at inference (the
  normalised weights are baked in by `bake_spectral_norm`); a gradient penalty (WGAN-GP)
  would need a second backward pass every step, which costs too much on a CPU.

The generator keeps the example's batch norm; only the discriminator is used as a critic.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

IMAGE_SIZE = 64   # side of the crops both networks work on
NZ = 100          # latent vector size
NGF = 16          # generator feature maps (the example's 64 is too slow on a CPU)
NDF = 8           # discriminator feature maps: 8-16-32-64, small enough to score in an env step


def weights_init(m: nn.Module) -> None:
    """DCGAN init: conv weights ~ N(0, 0.02), batch-norm weights ~ N(1, 0.02), biases 0.
    For a spectrally normalised conv the raw (`original`) weight is initialised."""
    classname = m.__class__.__name__
    if "Conv" in classname:
        weight = (m.parametrizations.weight.original if parametrize.is_parametrized(m, "weight")
                  else m.weight)
        nn.init.normal_(weight.data, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias.data)
    elif "BatchNorm" in classname:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.zeros_(m.bias.data)


def _up(cin: int, cout: int, first: bool = False) -> nn.Sequential:
    """Generator block: transposed conv doubling the side (4 x 4 from 1 x 1 when `first`)."""
    stride, pad = (1, 0) if first else (2, 1)
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, stride, pad, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(True))


def _down(cin: int, cout: int) -> nn.Sequential:
    """Discriminator block: spectrally normalised conv halving the side, leaky ReLU."""
    return nn.Sequential(spectral_norm(nn.Conv2d(cin, cout, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True))


class Generator(nn.Module):
    """z (N, nz) or (N, nz, 1, 1) -> images (N, 3, 64, 64) in [-1, 1]."""

    def __init__(self, nz: int = NZ, ngf: int = NGF):
        super().__init__()
        self.nz, self.ngf = nz, ngf
        self.main = nn.Sequential(
            _up(nz, ngf * 8, first=True),  # (ngf*8) x 4 x 4
            _up(ngf * 8, ngf * 4),         # (ngf*4) x 8 x 8
            _up(ngf * 4, ngf * 2),         # (ngf*2) x 16 x 16
            _up(ngf * 2, ngf),             # ngf x 32 x 32
            nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False),
            nn.Tanh(),                     # 3 x 64 x 64
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.reshape(len(z), self.nz, 1, 1))


class Discriminator(nn.Module):
    """images (N, 3, 64, 64) in [-1, 1] -> logits (N,) of "real"."""

    def __init__(self, ndf: int = NDF):
        super().__init__()
        self.ndf = ndf
        self.main = nn.Sequential(
            _down(3, ndf),                 # ndf x 32 x 32
            _down(ndf, ndf * 2),           # (ndf*2) x 16 x 16
            _down(ndf * 2, ndf * 4),       # (ndf*4) x 8 x 8
            _down(ndf * 4, ndf * 8),       # (ndf*8) x 4 x 4
            spectral_norm(nn.Conv2d(ndf * 8, 1, 4, 1, 0)),  # 1 x 1 x 1
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).reshape(-1)


def bake_spectral_norm(model: nn.Module) -> nn.Module:
    """Replace each spectral-norm parametrisation by the normalised weight it gives now
    (eval mode: no power iteration), so inference is a plain conv stack. In place."""
    model.eval()
    for m in model.modules():
        if parametrize.is_parametrized(m, "weight"):
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)
    return model


def ndf_of(state_dict: dict) -> int:
    """Feature-map count of the discriminator a state_dict was saved from."""
    for key in ("main.0.0.parametrizations.weight.original", "main.0.0.weight"):
        if key in state_dict:
            return int(state_dict[key].shape[0])
    raise KeyError("main.0.0.parametrizations.weight.original")


def ngf_nz_of(state_dict: dict) -> tuple[int, int]:
    """(ngf, nz) of the generator a state_dict was saved from."""
    w = state_dict["main.0.0.weight"]  # (nz, ngf*8, 4, 4)
    return int(w.shape[1]) // 8, int(w.shape[0])
