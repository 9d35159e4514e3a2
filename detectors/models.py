"""DCGAN generator and discriminator for face crops (after the PyTorch DCGAN example), 32 x 32
by default or 64 x 64 (`image_size`): one up/down block per doubling of the side.

Why 32 px by default: the discriminator scores a crop in every env step, and at 64 px its
~2M multiply-adds (plus the crop) made a FaceFusion-v0 step ~3x slower, against a budget of
2x; at 32 px a step is ~1.6-1.8x slower. On the embedded faces (25 px LFW crops, so 64 px
adds no detail) the 32 px critic also separates real from misplaced better (held-out AUC
0.94 vs 0.91) and trains twice as fast. Train at 64 px (`--image-size 64`) for sharper
faces such as FFHQ frames if the slower step is acceptable; the env draws its realism crop
at whatever size the critic was trained on.

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

from envs.fusion import CROP_SIZE

IMAGE_SIZES = (32, 64)  # crop sides both networks are built for
IMAGE_SIZE = CROP_SIZE  # default side of the crops both networks work on: the env's realism crop (see above)
NZ = 100  # latent vector size
NGF = 16  # generator feature maps (the example's 64 is too slow on a CPU)
NDF = 8  # discriminator feature maps: 8-16-32 (-64 at 64 px), small enough to score in an env step


def weights_init(m: nn.Module) -> None:
    """DCGAN init: conv weights ~ N(0, 0.02), batch-norm weights ~ N(1, 0.02), biases 0.
    For a spectrally normalised conv the raw (`original`) weight is initialised."""
    classname = m.__class__.__name__
    if "Conv" in classname:
        weight = m.parametrizations.weight.original if parametrize.is_parametrized(m, "weight") else m.weight
        nn.init.normal_(weight.data, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias.data)
    elif "BatchNorm" in classname:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.zeros_(m.bias.data)


def _up(cin: int, cout: int, first: bool = False) -> nn.Sequential:
    """Generator block: transposed conv doubling the side (4 x 4 from 1 x 1 when `first`)."""
    stride, pad = (1, 0) if first else (2, 1)
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, stride, pad, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True))


def _down(cin: int, cout: int) -> nn.Sequential:
    """Discriminator block: spectrally normalised conv halving the side, leaky ReLU."""
    return nn.Sequential(spectral_norm(nn.Conv2d(cin, cout, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True))


class Generator(nn.Module):
    """z (N, nz) or (N, nz, 1, 1) -> images (N, 3, S, S) in [-1, 1], S = `image_size`."""

    def __init__(self, nz: int = NZ, ngf: int = NGF, image_size: int = IMAGE_SIZE):
        super().__init__()
        self.nz, self.ngf, self.image_size = nz, ngf, check_size(image_size)
        mult = image_size // 8  # 8 at 64 px (the example), 4 at 32 px
        blocks = [_up(nz, ngf * mult, first=True)]  # (ngf*mult) x 4 x 4
        while mult > 1:  # each block: half the maps, twice the side
            blocks.append(_up(ngf * mult, ngf * mult // 2))
            mult //= 2
        self.main = nn.Sequential(  # ngf x S/2 x S/2 after the blocks
            *blocks,
            nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False),
            nn.Tanh(),  # 3 x S x S
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.reshape(len(z), self.nz, 1, 1))


class Discriminator(nn.Module):
    """images (N, 3, S, S) in [-1, 1] -> logits (N,) of "real", S = `image_size`."""

    def __init__(self, ndf: int = NDF, image_size: int = IMAGE_SIZE):
        super().__init__()
        self.ndf, self.image_size = ndf, check_size(image_size)
        blocks, cin, cout, side = [], 3, ndf, image_size
        while side > 4:  # ndf x S/2 x S/2, (ndf*2) x S/4 x S/4, ...
            blocks.append(_down(cin, cout))
            cin, cout, side = cout, cout * 2, side // 2
        self.main = nn.Sequential(  # cin x 4 x 4 after the blocks
            *blocks,
            spectral_norm(nn.Conv2d(cin, 1, 4, 1, 0)),  # 1 x 1 x 1
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


def check_size(image_size: int) -> int:
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"image_size must be one of {IMAGE_SIZES}, got {image_size!r}")
    return image_size


def _blocks(state_dict: dict) -> int:
    """Number of up/down blocks (`main.<i>.0...` keys) in a Generator/Discriminator state_dict."""
    return len({k.split(".")[1] for k in state_dict if k.startswith("main.") and k.split(".")[2] == "0"})


def image_size_of(state_dict: dict) -> int:
    """Crop side a Generator or Discriminator state_dict was saved for: one block per halving
    from S to 4 px (discriminator), one per doubling from 4 to S (generator)."""
    return 4 * 2 ** _blocks(state_dict)


def ndf_of(state_dict: dict) -> int:
    """Feature-map count of the discriminator a state_dict was saved from."""
    for key in ("main.0.0.parametrizations.weight.original", "main.0.0.weight"):
        if key in state_dict:
            return int(state_dict[key].shape[0])
    raise KeyError("main.0.0.parametrizations.weight.original")


def ngf_nz_of(state_dict: dict) -> tuple[int, int]:
    """(ngf, nz) of the generator a state_dict was saved from."""
    w = state_dict["main.0.0.weight"]  # (nz, ngf * S/8, 4, 4)
    return int(w.shape[1]) // (image_size_of(state_dict) // 8), int(w.shape[0])
