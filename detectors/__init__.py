"""GAN discriminator as a realism critic for face fusion.

    python -m detectors.train --out runs/detectors        # DCGAN + misplaced-composite negatives
    python -m detectors.report --checkpoint runs/detectors
    from detectors import Realism                         # realism_fn for FaceFusionEnv

Names are loaded on first use, so `import detectors` does not import torch.
"""

from importlib import import_module

_EXPORTS = {
    "Realism": "realism",
    "Discriminator": "models",
    "Generator": "models",
    "weights_init": "models",
    "CropSampler": "data",
    "bake_spectral_norm": "models",
    "evaluate": "report",
}  # training: detectors.train.train(detectors.train.Settings(...)) or the CLI

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'detectors' has no attribute {name!r}")
