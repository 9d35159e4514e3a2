"""RLlib callbacks: face-fusion episode metrics logged from the env runners."""

from __future__ import annotations

from ray.rllib.callbacks.callbacks import RLlibCallback

# info key -> metric name. Each is a mean over the episodes an env runner ended since its last
# report (one iteration), the latest 100 at most (`window=100`: RLlib 2.60 empties the window
# at every report), then the mean of the runners' means (not weighted by episodes).
EPISODE_METRICS = {
    "success": "fusion/success_rate",  # stopped within tolerance
    "within_tolerance": "fusion/final_within_tolerance",
    "position_error_px": "fusion/final_position_error_px",
    "scale_error": "fusion/final_scale_error",
    "iou": "fusion/final_iou",
    "realism": "fusion/final_realism",
}


class FusionMetricsCallback(RLlibCallback):
    """Logs the final info of each episode (success, errors, IoU, realism, length)."""

    def on_episode_end(self, *, episode, metrics_logger=None, **kwargs) -> None:
        if metrics_logger is None:
            return
        info = episode.get_infos(-1) or {}
        for key, name in EPISODE_METRICS.items():
            if key in info and info[key] is not None:
                metrics_logger.log_value(name, float(info[key]), reduce="mean", window=100)
        if "success" in info:
            metrics_logger.log_value("fusion/steps_per_episode", float(len(episode)), reduce="mean", window=100)
