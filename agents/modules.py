"""RLModules for DQN: the env emits uint8 images (compact in the replay buffer) that the
network sees as floats in [0, 1]; the fast path's module also skips gradient work that the
loss never uses, and acts without RLlib's per-step mode switches and distribution objects."""

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
from ray.rllib.core.models.base import ENCODER_OUT
from torch import nn


def _as_float(batch):
    """uint8 image observations as floats in [0, 1]; anything else unchanged."""
    obs = batch[Columns.OBS]
    if obs.dtype == torch.uint8:
        return {**batch, Columns.OBS: obs.float().div_(255.0)}
    return batch


class ImageDQNTorchRLModule(DefaultDQNTorchRLModule):
    def _qf_forward_helper(self, batch, encoder, head):
        return super()._qf_forward_helper(_as_float(batch), encoder, head)


def fold_symmetric_padding(module: nn.Module) -> None:
    """RLlib's CNN pads "same" with a ZeroPad2d before each unpadded Conv2d: one extra tensor
    written, read and zero-filled per conv, forward and backward. Where the padding is the
    same on both sides the conv pads itself (the same arithmetic; the fast learner call ~12%
    cheaper on this CPU, BENCHMARKS.md); the pad becomes an Identity, so the state_dict, and
    every checkpoint, keeps its keys."""
    for seq in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            pad, conv = seq[i], seq[i + 1]
            if not (isinstance(pad, nn.ZeroPad2d) and isinstance(conv, nn.Conv2d)):
                continue
            left, right, top, bottom = pad.padding
            if left != right or top != bottom or conv.padding != (0, 0) or conv.padding_mode != "zeros":
                continue
            conv.padding = (top, left)
            seq[i] = nn.Identity()


class LeanDQNTorchRLModule(ImageDQNTorchRLModule):
    """RLlib's double-Q forward runs the online network on [obs; next_obs] with gradients,
    although the next-state half only picks the argmax action: backward then costs twice
    the work that reaches the loss (~30% of a FaceFusion update, benchmarks). Here the next
    state's online and target passes run without autograd; outputs and gradients are the
    same. Other cases (no double Q, distributional, stateful) are RLlib's forward. Symmetric
    "same" padding is done by the convs themselves (`fold_symmetric_padding`)."""

    def setup(self):
        super().setup()
        fold_symmetric_padding(self.encoder)

    def _qf_forward_helper(self, batch, encoder, head):
        """Dueling Q-values as RLlib's (advantages centred on their mean, plus the value),
        with a plain mean: RLlib takes a nan-mean after turning -inf into nan, for
        advantages masked by -inf, which this module's linear heads never output (two extra
        kernels per forward, ~5% of a CartPole update). Other cases: RLlib's helper."""
        if not self.uses_dueling or self.num_atoms > 1 or Columns.STATE_IN in batch:
            return super()._qf_forward_helper(batch, encoder, head)
        features = encoder(_as_float(batch))[ENCODER_OUT]
        advantages = head["af"](features)
        centred = advantages - advantages.mean(dim=-1, keepdim=True)
        return {QF_PREDS: centred + head["vf"](features)}

    def _forward_train(self, batch):
        if not self.uses_double_q or self.num_atoms > 1 or Columns.STATE_IN in batch:
            return super()._forward_train(batch)
        output = {QF_PREDS: self.compute_q_values({Columns.OBS: batch[Columns.OBS]})[QF_PREDS]}
        with torch.no_grad():
            next_obs = {Columns.OBS: batch[Columns.NEXT_OBS]}
            output[QF_NEXT_PREDS] = self.compute_q_values(next_obs)[QF_PREDS]
            output[QF_TARGET_NEXT_PREDS] = self.forward_target(next_obs)[QF_PREDS]
        return output

    # ---- acting: one env step each, so Python overhead per call is most of its cost -------

    def _mode_free(self) -> bool:
        """True when train/eval mode changes nothing here (no dropout, no batch norm)."""
        if not hasattr(self, "_mode_free_cache"):
            mode_layers = (nn.Dropout, nn.modules.batchnorm._BatchNorm)
            self._mode_free_cache = not any(isinstance(m, mode_layers) for m in self.modules())
        return self._mode_free_cache

    def _lean_acting(self, batch) -> bool:
        return self._mode_free() and self.num_atoms == 1 and Columns.STATE_IN not in batch

    def forward_train(self, batch, **kwargs):
        """RLlib's TorchRLModule calls `self.train()` before every update, recursing over every
        submodule (~0.4 ms of a CartPole update here); without mode-dependent layers, and
        already in train mode, that changes nothing."""
        if self.inference_only or not (self.training and self._mode_free()):
            return super().forward_train(batch, **kwargs)
        return self._forward_train(batch, **kwargs)

    def forward_exploration(self, batch, **kwargs):
        """RLlib switches the module to eval mode and back on every call (~18% of a CartPole
        env runner's step, recursing over every submodule); without mode-dependent layers the
        switch changes nothing, so it is skipped."""
        if not self._lean_acting(batch):
            return super().forward_exploration(batch, **kwargs)
        with torch.no_grad():
            return self._forward_exploration(batch, **kwargs)

    def forward_inference(self, batch, **kwargs):
        if not self._lean_acting(batch):
            return super().forward_inference(batch, **kwargs)
        with torch.no_grad():
            return self._forward_inference(batch, **kwargs)

    def _greedy_scores(self, batch):
        """Per-action scores whose argmax is the greedy action. With dueling heads that is
        the advantages (Q = V + A - mean(A) has their argmax), so acting skips the value head
        (~1/3 of a CartPole forward); otherwise the Q-values. A model that masks actions
        by -inf masks them here."""
        if self.uses_dueling:
            return self.af(self.encoder(_as_float(batch))[ENCODER_OUT])
        return self.compute_q_values(batch)[QF_PREDS]

    def greedy_scores(self, batch):
        """Per-action scores ranked as the Q-values (for greedy play that ranks actions beyond
        the argmax: agents.greedy), without gradients."""
        with torch.no_grad():
            if self._lean_acting(batch):
                return self._greedy_scores(batch)
            return self.compute_q_values(batch)[QF_PREDS]

    def _forward_inference(self, batch, **kwargs):
        if not self._lean_acting(batch):
            return super()._forward_inference(batch, **kwargs)
        return {Columns.ACTIONS: self._greedy_scores(batch).argmax(dim=-1)}

    def _forward_exploration(self, batch, t: int = 0, **kwargs):
        """Epsilon-greedy as RLlib's (the argmax, or with probability epsilon an action drawn
        uniformly), without building a distribution object per step. RLlib draws the random
        action among those whose Q-value is finite or positive (action masking by -inf); here
        scores of -inf are excluded the same way, and where no score is masked the draw is a
        plain randint (5 us against 90 for the masked multinomial, on up to every env step
        while epsilon is high)."""
        if not self._lean_acting(batch):
            return super()._forward_exploration(batch, t=t, **kwargs)
        q = self._greedy_scores(batch)
        actions = q.argmax(dim=-1)
        self.epsilon_schedule.update(t)
        explore = torch.rand(q.shape[0], device=q.device) < self.epsilon_schedule.get_current_value()
        if explore.any():  # random actions drawn only when needed (late in training: 1 env step in 20-25)
            finite = torch.isfinite(q)
            if bool(finite.all()):
                random = torch.randint(q.shape[-1], (q.shape[0],), device=q.device)
            else:
                allowed = finite | (q > 0)  # -inf: masked out
                random = torch.multinomial(allowed.float(), num_samples=1).squeeze(1)
            actions = torch.where(explore, random, actions)
        return {Columns.ACTIONS: actions}
