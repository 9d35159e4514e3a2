"""RLModule for image observations: the env emits uint8 (compact in the replay buffer);
the network sees floats in [0, 1]."""
from __future__ import annotations

import torch
from ray.rllib.algorithms.dqn.torch.default_dqn_torch_rl_module import DefaultDQNTorchRLModule
from ray.rllib.core.columns import Columns


class ImageDQNTorchRLModule(DefaultDQNTorchRLModule):
    def _qf_forward_helper(self, batch, encoder, head):
        obs = batch[Columns.OBS]
        if obs.dtype == torch.uint8:
            batch = {**batch, Columns.OBS: obs.float().div_(255.0)}
        return super()._qf_forward_helper(batch, encoder, head)
