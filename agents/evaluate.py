"""Evaluate a trained fusion policy against baselines, in numbers and pictures.

    python -m agents.evaluate --checkpoint RUN_DIR --faces default --split heldout --episodes 50 --out eval/

Every policy plays the same episodes (same seeds: same faces and initial displacements):
the trained policy (greedy), random, the ground-truth oracle, and a classical one-shot
landmark alignment. Writes metrics.json, report.md, episode strips (PNG) and a GIF.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from agents.checkpoints import WHICH, CheckpointError, GreedyPolicy, load_module, resolve
from agents.greedy import LOOP_RULES
from agents.run_dir import atomic_write_json, atomic_write_text
from envs.faces.split import PARTS


def make_env(env_id: str, env_config: dict, faces: str | None, split: str):
    """The checkpoint's env on its `split` faces (or `faces`), without training-only settings
    (realism, curriculum, augmentation: `NOT_VALIDATED`), rendering for the report."""
    import gymnasium as gym

    import envs  # noqa: F401
    from agents.validation import NOT_VALIDATED

    config = {k: v for k, v in env_config.items() if k not in NOT_VALIDATED}
    if faces is not None:
        config["faces"] = faces
    return gym.make(env_id, split=split, render_mode="rgb_array", **config)


def run_policy(env, policy, seeds: list[int], realism=None, record: int = 0, judge=None) -> tuple[dict, list]:
    """Play one episode per seed; returns aggregate metrics and recorded frame lists."""
    from envs.baselines import run_episode

    finals, steps, realism_scores, recordings, judge_crops, breaks = [], [], [], [], [], []
    for i, seed in enumerate(seeds):
        out = run_episode(env, policy, seed=seed, record=i < record)
        finals.append(out["info"])
        steps.append(out["steps"])
        if getattr(policy, "loop_rule", "off") != "off":
            breaks.append(policy.breaks)
        if realism is not None:
            crop = env.unwrapped.realism_crop(realism.image_size)
            realism_scores.append(float(realism(crop[None])[0]))
        if judge is not None:  # the independent judge: each blend mode of the final placement
            from detectors.judge_policies import episode_crops

            judge_crops.append(episode_crops(env, judge))
        if out["frames"] is not None:
            recordings.append(out["frames"])
    metrics = {
        "success_rate": float(np.mean([f["success"] for f in finals])),
        "within_tolerance_rate": float(np.mean([f["within_tolerance"] for f in finals])),
        "mean_position_error_px": float(np.mean([f["position_error_px"] for f in finals])),
        "mean_scale_error": float(np.mean([f["scale_error"] for f in finals])),
        "mean_iou": float(np.mean([f["iou"] for f in finals])),
        "mean_steps": float(np.mean(steps)),
        "episodes": len(seeds),
    }
    if breaks:  # greedy actions replaced to leave a cycle (agents.greedy)
        metrics["mean_loop_breaks"] = float(np.mean(breaks))
    if realism_scores:
        metrics["mean_realism"] = float(np.mean(realism_scores))
    if judge_crops:
        from detectors.judge_policies import policy_columns

        metrics.update(policy_columns(judge, judge_crops))
    return metrics, recordings


def _load_detector(flag: str, loader, path):
    """A detectors checkpoint (None if not asked for); a missing or wrong one is a
    CheckpointError naming the flag and the file, not a traceback."""
    if path is None:
        return None
    try:
        return loader(path)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{flag}: {exc}") from exc


def evaluate(
    checkpoint: str | Path,
    out: str | Path,
    *,
    which: str = "best",
    env_id: str | None = None,
    faces: str | None = None,
    split: str = "heldout",
    episodes: int = 50,
    seed: int = 10_000,
    detector: str | None = None,
    strips: int = 3,
    progress: bool = True,
    judge: str | None = None,
    loops: str = "stop",
) -> dict[str, Any]:
    """Evaluate and write the report; returns the metrics dict."""
    from envs.baselines import LandmarkPolicy, OraclePolicy, RandomPolicy

    ckpt = resolve(checkpoint, which)
    env_id = env_id or ckpt.env or "FaceFusion-v0"
    if ckpt.env is not None and env_id != ckpt.env:
        raise CheckpointError(f"--env {env_id}: the checkpoint was trained on {ckpt.env}")
    if not env_id.startswith("FaceFusion"):
        raise CheckpointError(f"--env {env_id}: agents.evaluate reports on the FaceFusion envs only")
    from detectors import Realism
    from detectors.judge_model import Judge

    realism = _load_detector("--detector", Realism.from_checkpoint, detector)
    judge_net = _load_detector("--judge", Judge.from_checkpoint, judge)
    env = make_env(env_id, ckpt.env_config, faces, split)
    policy = GreedyPolicy(load_module(ckpt), loops=loops)
    policy.check_spaces(env, f"--checkpoint {checkpoint}")
    seeds = [seed + i for i in range(episodes)]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    results, recordings = {}, {}
    contenders = [
        ("policy", policy),
        ("random", RandomPolicy(seed)),
        ("oracle", OraclePolicy()),
        ("landmark", LandmarkPolicy()),
    ]
    for name, contender in tqdm(contenders, desc="evaluating", disable=not progress):
        results[name], recordings[name] = run_policy(
            env, contender, seeds, realism, record=strips if name == "policy" else 0, judge=judge_net
        )
    meta = {
        "checkpoint": str(ckpt.module_dir),
        "which": which,
        "strips": len(recordings["policy"]),
        "env": env_id,
        "split": split,
        "faces": faces or ckpt.env_config.get("faces", "default"),
        "first_seed": seed,
        "detector": detector,
        "loop_rule": loops,
        "success": {
            "position_tolerance_px": env.unwrapped.position_tolerance_px,
            "scale_tolerance": env.unwrapped.scale_tolerance,
        },
    }
    if judge_net is not None:
        from detectors.judge_policies import real_columns

        def reset(s):
            env.reset(seed=s)
            return env

        meta.update(
            judge=judge_net.source,
            judge_threshold=judge_net.threshold,
            judge_threshold_logit=judge_net.threshold_logit,
            judge_real=real_columns(judge_net, (reset(s) for s in seeds)),
        )
    metrics = {**results, "meta": meta}
    atomic_write_json(out / "metrics.json", metrics)
    _write_pictures(out, recordings["policy"])
    atomic_write_text(out / "report.md", markdown_report(metrics))
    env.close()
    return metrics


def _captioned(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Each frame with a caption bar 'step k/n' (also keeps GIF frames distinct)."""
    import cv2

    out = []
    for k, frame in enumerate(frames):
        bar = np.full((18, frame.shape[1], 3), 255, np.uint8)
        cv2.putText(
            bar, f"step {k}/{len(frames) - 1}", (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA
        )
        out.append(np.concatenate([bar, frame], axis=0))
    return out


def _write_pictures(out: Path, episodes: list[list[np.ndarray]]) -> None:
    import imageio.v2 as imageio

    from envs.files import grid, write_bytes, write_png

    episodes = [_captioned(frames) for frames in episodes]
    for i, frames in enumerate(episodes):
        write_png(out / f"episode_{i}_strip.png", grid([frames[0], frames[len(frames) // 2], frames[-1]], cols=3))
    if episodes:
        gif = imageio.mimwrite("<bytes>", episodes[0], format="GIF", duration=0.25, loop=0)
        write_bytes(out / "episode_0.gif", gif)


def markdown_report(metrics: dict) -> str:
    meta = metrics["meta"]
    oracle_steps = metrics["oracle"]["mean_steps"]
    has_realism = "mean_realism" in metrics["policy"]
    lines = [
        f"# Fusion policy evaluation: {meta['env']} ({meta['split']} faces)",
        "",
        f"Checkpoint `{meta['checkpoint']}`, faces `{meta['faces']}`, {metrics['policy']['episodes']} episodes "
        f"per policy on the same seeds. Success: the policy stopped with position error <= {meta['success']['position_tolerance_px']} px "
        f"at observation scale and scale error <= {meta['success']['scale_tolerance']:.0%}.",
        "",
        *_loop_breaking_line(meta, metrics["policy"]),
        "| policy | success rate | mean position error (px) | mean IoU | mean steps | steps / oracle |"
        + (" realism |" if has_realism else ""),
        "|---|---|---|---|---|---|" + ("---|" if has_realism else ""),
    ]
    for name in ("policy", "oracle", "landmark", "random"):
        m = metrics[name]
        row = (
            f"| {name} | {m['success_rate']:.1%} | {m['mean_position_error_px']:.2f} | {m['mean_iou']:.3f} | "
            f"{m['mean_steps']:.1f} | {m['mean_steps'] / max(oracle_steps, 1e-9):.2f} |"
        )
        if has_realism:
            row += f" {m['mean_realism']:.3f} |"
        lines.append(row)
    if "judge_p_fake_paste" in metrics["policy"]:
        from envs.fusion import BLENDS

        lines += [
            "",
            (
                f"Independent realism judge `{meta['judge']}` (never trained on policy outputs): mean "
                f"P(fused) / detection rate at its threshold (logit {meta['judge_threshold_logit']:.2f}; 5% false alarms "
                "on its validation real crops), the final placement fused with each blend mode:"
            ),
            "",
            "| policy | " + " | ".join(BLENDS) + " |",
            "|---|" + "---|" * len(BLENDS),
        ]
        for name in ("policy", "oracle", "landmark", "random"):
            m = metrics[name]
            lines.append(
                f"| {name} | "
                + " | ".join(f"{m[f'judge_p_fake_{b}']:.3f} / {m[f'judge_detection_rate_{b}']:.1%}" for b in BLENDS)
                + " |"
            )
        if "judge_real" in meta:  # metrics.json of runs before it have no such row
            r = meta["judge_real"]
            lines += [
                "",
                f"The same episodes' target photos as they are (no fusion): mean P(fused) {r['p_fake']:.3f}, "
                f"flagged {r['false_alarm_rate']:.1%}: the judge's false-alarm rate on these faces, the floor "
                "the detection rates above read against.",
            ]
    lines += [
        "",
        "The landmark baseline is one-shot (detect, align, stop: 1 step); in self mode it is exact by "
        "construction, since source and target are the same photo.",
        "",
        "Episode strips (start, middle, end; green = ground-truth box, red = current):",
        "",
    ]
    lines += [f"![episode {i}](episode_{i}_strip.png)" for i in range(meta.get("strips", 3))]
    lines += ["", "![episode 0](episode_0.gif)", ""]
    return "\n".join(lines)


def _loop_breaking_line(meta: dict, policy: dict) -> list[str]:
    rule = meta.get("loop_rule", "stop")
    if rule == "off":
        return ["The policy plays its plain argmax (`--loops off`).", ""]
    at_loop = {
        "stop": "says stop",
        "once": "takes its best action not yet taken there the first time, and says stop after that",
    }.get(rule, "takes its best action not yet taken there")
    return [
        f"The policy plays greedily; at an observation seen before in the episode it {at_loop} "
        f"(`--loops {rule}`; {policy.get('mean_loop_breaks', 0.0):.2f} greedy actions replaced per episode).",
        "",
    ]


def report_after_training(result: dict, options) -> dict | None:
    """The final report `python train.py` writes into RUN_DIR/eval (held-out faces)."""
    out = Path(options.run_dir) / "eval"
    detector = resolve(options.run_dir).env_config.get("realism_checkpoint")  # trained with it: report it
    metrics = evaluate(
        options.run_dir, out, episodes=options.final_eval_episodes, detector=detector, progress=options.progress
    )
    p, o = metrics["policy"], metrics["oracle"]
    print(
        f"held-out: success {p['success_rate']:.1%} (oracle {o['success_rate']:.1%}, random "
        f"{metrics['random']['success_rate']:.1%}), steps {p['mean_steps']:.1f} vs oracle {o['mean_steps']:.1f}"
        + (f", realism {p['mean_realism']:.2f} (oracle {o['mean_realism']:.2f})" if "mean_realism" in p else "")
    )
    print(f"report: {(out / 'report.md').resolve()}")
    return metrics


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m agents.evaluate",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--checkpoint", required=True, help="run dir, checkpoints/iter_* dir, or RLModule dir")
    p.add_argument(
        "--which",
        default="best",
        choices=WHICH,
        help="in a run dir: best/ (best validation result) or the newest checkpoint",
    )
    p.add_argument("--env", default=None, help="env id (default: the one the run trained on)")
    p.add_argument("--faces", default=None, help="'default', a prepared cache dir or an image folder")
    p.add_argument("--split", default="heldout", choices=PARTS)
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=10_000, help="seed of the first episode")
    p.add_argument("--detector", default=None, help="detectors checkpoint dir: adds realism scores")
    p.add_argument(
        "--judge",
        default=None,
        help="detectors.judge checkpoint dir: adds the independent judge's P(fused) and detection rate per blend mode",
    )
    p.add_argument(
        "--loops",
        default="stop",
        choices=LOOP_RULES,
        help="at an observation seen before in the episode (a greedy policy would repeat the same cycle until "
        "the time limit): stop there; take the best action not yet taken there (next); next at the first such "
        "observation, then stop (once); or the plain argmax (off)",
    )
    p.add_argument(
        "--no-loop-breaking", dest="loops", action="store_const", const="off", help="the same as --loops off"
    )
    p.add_argument("--out", default="eval")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.episodes <= 0:
        p.error(f"--episodes must be > 0, got {args.episodes}")
    if args.faces not in (None, "default") and not Path(args.faces).exists():
        p.error(f"--faces {args.faces}: no such file or folder")
    try:
        metrics = evaluate(
            args.checkpoint,
            args.out,
            env_id=args.env,
            faces=args.faces,
            split=args.split,
            episodes=args.episodes,
            seed=args.seed,
            detector=args.detector,
            progress=not args.no_progress,
            judge=args.judge,
            which=args.which,
            loops=args.loops,
        )
    except CheckpointError as exc:
        print(f"agents.evaluate: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in metrics.items() if k != "meta"}, indent=2))
    print(f"report: {(Path(args.out) / 'report.md').resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
