"""The judge's verdict on policies' results, for `agents.evaluate --judge`: the crops of an
env's current placement, and the metrics.json columns (mean P(fused) and detection rate per
blend mode; the false-alarm floor on the same episodes' real crops)."""

from __future__ import annotations

import numpy as np

from .judge_data import BLENDS, env_crop, env_real_crop
from .judge_model import Judge, sigmoid


def episode_crops(env, judge: Judge) -> dict[str, np.ndarray]:
    """The judge's crop of an env's current placement fused with each blend mode."""
    return {bl: env_crop(env, bl, judge.image_size, judge.context) for bl in BLENDS}


def real_columns(judge: Judge, envs_at_reset) -> dict:
    """The judge on the real crops of the episodes' target photos (`env_real_crop` of each env
    as reset): its false-alarm rate on exactly the faces the policies were scored on, the
    floor their detection rates read against (the threshold is fixed on validation faces)."""
    logits = judge.logits(np.stack([env_real_crop(env, judge.image_size, judge.context) for env in envs_at_reset]))
    return {
        "n": len(logits),
        "p_fake": float(sigmoid(logits).mean()),
        "false_alarm_rate": float((logits > judge.threshold_logit).mean()),
    }


def policy_columns(judge: Judge, crops: list[dict[str, np.ndarray]]) -> dict:
    """metrics.json columns for one policy's final placements (`episode_crops` per episode):
    per blend mode the judge's mean P(fused) and its detection rate at its threshold."""
    out = {}
    for bl in BLENDS:
        logits = judge.logits(np.stack([c[bl] for c in crops]))
        out[f"judge_p_fake_{bl}"] = float(sigmoid(logits).mean())
        out[f"judge_detection_rate_{bl}"] = float((logits > judge.threshold_logit).mean())
    return out
