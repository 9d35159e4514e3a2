"""RLModules for DQN: the env emits uint8 images (compact in the replay buffer) that the
network sees as floats in [0, 1]; the fast path's module also skips gradient work that the
loss never uses."""

from __future__ import annotations

import torch
from ray.rllib.algorithms.dqn.dqn_learner import (
    QF_NEXT_PREDS,
    QF_PREDS,
    QF_TARGET_NEXT_PREDS,
)
from ray.rllib.algorithms.dqn.torch.default_dqn_torch_rl_module import (
    DefaultDQNTorchRLModule,
)
from ray.rllib.core.columns import Columns


class ImageDQNTorchRLModule(DefaultDQNTorchRLModule):
    def _qf_forward_helper(self, batch, encoder, head):
        obs = batch[Columns.OBS]
        if obs.dtype == torch.uint8:
            batch = {**batch, Columns.OBS: obs.float().div_(255.0)}
        return super()._qf_forward_helper(batch, encoder, head)


class LeanDQNTorchRLModule(ImageDQNTorchRLModule):
    """RLlib's double-Q forward runs the online network on [obs; next_obs] with gradients,
    although the next-state half only picks the argmax action: backward then costs twice
    the work that reaches the loss (~30% of a FaceFusion update, benchmarks). Here the next
    state's online and target passes run without autograd; outputs and gradients are the
    same. Other cases (no double Q, distributional, stateful) are RLlib's forward."""

    def _forward_train(self, batch):
        if not self.uses_double_q or self.num_atoms > 1 or Columns.STATE_IN in batch:
            return super()._forward_train(batch)
        output = {QF_PREDS: self.compute_q_values({Columns.OBS: batch[Columns.OBS]})[QF_PREDS]}
        with torch.no_grad():
            next_obs = {Columns.OBS: batch[Columns.NEXT_OBS]}
            output[QF_NEXT_PREDS] = self.compute_q_values(next_obs)[QF_PREDS]
            output[QF_TARGET_NEXT_PREDS] = self.forward_target(next_obs)[QF_PREDS]
        return output
