"""How well the realism judge separates real from fused crops: ROC AUC (with an interval from
resampling faces), the threshold at a false-alarm rate, and the detection metrics at it.
Numpy (scikit-learn for the AUC) on the judge's logits, shared by `score` and the benchmarks."""

from __future__ import annotations

import numpy as np

from .judge_model import sigmoid


def threshold_at(real: np.ndarray, false_alarms: float) -> float:
    """The logit above which `false_alarms` of these real crops' logits lie."""
    return float(np.quantile(real, 1 - false_alarms, method="higher"))


def real_vs_fused_auc(real: np.ndarray, fused: np.ndarray) -> float:
    """ROC AUC of the judge's logits, real crops the negatives and fused crops the positives."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.r_[np.zeros(len(real)), np.ones(len(fused))], np.r_[real, fused]))


def group_metrics(real: np.ndarray, fused: np.ndarray, threshold: float) -> dict:
    """Real (negatives) vs fused (positives) logits: ROC AUC, and at `threshold` (a logit)
    accuracy, precision, recall (= detection rate) and the false-alarm rate."""
    y = np.r_[np.zeros(len(real)), np.ones(len(fused))]
    p = np.r_[real, fused]
    flagged = p > threshold
    tp = int(flagged[len(real) :].sum())
    return {
        "n": len(fused),
        "auc": real_vs_fused_auc(real, fused) if len(real) and len(fused) else None,
        "accuracy": float((flagged == (y == 1)).mean()),
        "precision": tp / max(int(flagged.sum()), 1),
        "recall": tp / max(len(fused), 1),
        "false_alarm_rate": float(flagged[: len(real)].mean()),
        "mean_p_fake": float(sigmoid(fused).mean()),
    }


def auc_interval(
    real: np.ndarray,
    real_face: np.ndarray,
    fused: np.ndarray,
    fused_face: np.ndarray,
    n_faces: int,
    seed: int = 0,
    resamples: int = 1000,
) -> list[float]:
    """95% interval of the ROC AUC of real vs fused logits from resampling faces: a face's real
    crops and composites (made on its photo) go in or out together, since the faces, not the
    crops, are the sample (23 held-out faces give about +-0.025 at AUC 0.95)."""
    rng, out = np.random.default_rng(seed), []
    for _ in range(resamples):
        counts = np.bincount(rng.integers(n_faces, size=n_faces), minlength=n_faces)
        r, f = np.repeat(real, counts[real_face]), np.repeat(fused, counts[fused_face])
        if len(r) and len(f):
            out.append(real_vs_fused_auc(r, f))
    return [float(v) for v in np.quantile(out, [0.025, 0.975])] if out else [float("nan")] * 2
