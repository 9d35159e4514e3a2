"""stable-baselines3 DQN on a FaceFusion env under a wall budget, with the same validation as
our trainer: the same validation episodes (split, seeds, count, interval from the preset's
`validation` section), the same ordering (agents.training.is_better), the best model kept.
Every validated model is saved with its wall time so the benchmark can score it on held-out
faces afterwards (never during training). Used by benchmarks/facefusion_vs_sb3.py:

    python benchmarks/_sb3.py --env FaceFusion-v0 --seed 0 --minutes 10 --out runs/vs_sb3/sb3-FaceFusion-v0-seed0

SB3's own settings, not ours: NatureCNN (`CnnPolicy`), uniform replay, 1-step targets, the
registered env's defaults (no curriculum, no augmentation). Epsilon decays linearly with
*wall time* to 0.05 at a third of the budget (SB3 schedules by total_timesteps, which a wall
budget does not fix).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from agents.greedy import ScoredPolicy

SB3_SETTINGS = {
    "learning_rate": 2.5e-4,
    "batch_size": 64,
    "gamma": 0.9,
    "train_freq": 4,
    "target_update_interval": 1000,
    "learning_starts": 2000,
    "buffer_size": 50_000,
    "exploration_initial_eps": 1.0,
    "exploration_final_eps": 0.05,
    "max_grad_norm": 10.0,
    "optimize_memory_usage": True,  # stores each observation once: 50k x 84x84x3 = 1 GB, not 2
    "replay_buffer_kwargs": {"handle_timeout_termination": False},  # required by the above
}
EXPLORATION_BUDGET_FRACTION = 1 / 3
MODELS = "models"  # every validated model: q_net state_dict + row in validations.jsonl
BEST = "best.pt"
LOG = "validations.jsonl"
DONE = "result.json"


def make_vec_env(env_id: str, env_kwargs: dict, seed: int):
    """One env in a DummyVecEnv; SB3 adds VecTransposeImage itself (channel-last uint8 image)."""
    import gymnasium as gym
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    import envs  # noqa: F401

    def thunk():
        return Monitor(gym.make(env_id, **env_kwargs))

    venv = DummyVecEnv([thunk])
    venv.seed(seed)
    return venv


def build_model(env_id: str, env_kwargs: dict, seed: int, settings: dict | None = None, device: str = "cpu"):
    from stable_baselines3 import DQN

    settings = {**SB3_SETTINGS, **(settings or {})}
    return DQN("CnnPolicy", make_vec_env(env_id, env_kwargs, seed), seed=seed, device=device, verbose=0, **settings)


def inference_policy(env_id: str, env_kwargs: dict) -> SB3Policy:
    """An SB3Policy for scoring saved weights (`load_weights`), with no replay buffer to speak of."""
    model = build_model(
        env_id,
        env_kwargs,
        seed=0,
        settings={"buffer_size": 1, "learning_starts": 0, "optimize_memory_usage": False, "replay_buffer_kwargs": {}},
    )
    model.policy.set_training_mode(False)
    return SB3Policy(model)


class SB3Policy(ScoredPolicy):
    """SB3 DQN's greedy action as a `policy(observation, env)` callable, like
    agents.checkpoints.GreedyPolicy (the same loop rule: the same greedy play as ours);
    `q_values(observations)` scores a stack of them for agents.validation."""

    def __init__(self, model):
        super().__init__(self.q_values)
        self.model = model

    def load_weights(self, path: Path) -> SB3Policy:
        import torch

        self.model.q_net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.model.policy.set_training_mode(False)
        return self

    def q_values(self, observations: np.ndarray) -> np.ndarray:
        import torch

        # obs_to_tensor() transposes channel-last images to the policy's channel-first space;
        # the q_net normalises uint8 to [0, 1] the same way training did
        tensor, _ = self.model.policy.obs_to_tensor(np.asarray(observations))
        with torch.no_grad():
            return self.model.q_net(tensor).cpu().numpy()


def validation_setup(env_id: str, env_kwargs: dict, config: str | None):
    """Validation as our trainer runs it: the preset's `validation` section (after --config),
    its env_config (split) over this run's env kwargs, the Validator's seeds; and the preset's
    stop criteria, which order the validated models (agents.training.is_better)."""
    from agents.presets import preset_for
    from agents.validation import Validator

    preset = preset_for(env_id, config)
    section = preset.get("validation") or {}
    if not section:
        raise SystemExit(f"{env_id}: the preset has no validation section; nothing to select the best model on")
    kwargs = {**env_kwargs, "split": "validation", **section.get("env_config", {})}

    def make():
        import gymnasium as gym

        import envs  # noqa: F401

        return gym.make(env_id, **kwargs)

    validator = Validator.from_section(make, section)
    return validator, float(section.get("interval_seconds", 30.0)), kwargs, preset.get("stop", {})


def train(args) -> dict:
    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    from agents.run_dir import atomic_write_json
    from agents.training import is_better

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    (out / MODELS).mkdir(parents=True, exist_ok=True)
    env_kwargs = {"split": "train", **json.loads(args.env_kwargs)}
    settings = json.loads(args.settings)
    validator, interval, val_kwargs, stops = validation_setup(
        args.env, {k: v for k, v in env_kwargs.items() if k != "split"}, args.config
    )
    model = build_model(args.env, env_kwargs, args.seed, settings)
    budget = args.minutes * 60.0
    eps0 = model.exploration_initial_eps
    eps1 = model.exploration_final_eps
    policy = SB3Policy(model)
    clock = {"t0": None}

    def wall() -> float:
        return time.time() - clock["t0"]

    # epsilon by wall time: SB3's DQN sets exploration_rate = exploration_schedule(progress) each step
    model.exploration_schedule = lambda _progress: (
        eps1 + (eps0 - eps1) * max(0.0, 1.0 - wall() / (EXPLORATION_BUDGET_FRACTION * budget))
    )

    class Validate(BaseCallback):
        def __init__(self):
            super().__init__()
            self.best, self.last, self.count, self.validated_at = None, time.time(), 0, -1

        def _on_training_start(self) -> None:
            clock["t0"] = self.last = time.time()

        def _validate(self) -> None:
            was = model.policy.training
            model.policy.set_training_mode(False)
            metrics = validator.score(policy.q_values)
            model.policy.set_training_mode(was)
            self.count += 1
            name = f"step_{self.num_timesteps:08d}.pt"
            torch.save(model.q_net.state_dict(), out / MODELS / name)
            row = {
                "model": f"{MODELS}/{name}",
                "env_steps": int(self.num_timesteps),
                "wall_seconds": round(wall(), 2),
                "epsilon": round(float(model.exploration_rate), 4),
                "validation": metrics,
            }
            if is_better(metrics, self.best, stops):
                self.best = {
                    **metrics,
                    "env_steps": row["env_steps"],
                    "wall_seconds": row["wall_seconds"],
                    "model": row["model"],
                }
                torch.save(model.q_net.state_dict(), out / (BEST + ".tmp"))
                os.replace(out / (BEST + ".tmp"), out / BEST)
            with (out / LOG).open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            self.last, self.validated_at = time.time(), self.num_timesteps

        def _on_step(self) -> bool:
            learning = self.num_timesteps > model.learning_starts
            if learning and time.time() - self.last >= interval:
                self._validate()
            return wall() < budget

        def _on_training_end(self) -> None:
            if self.num_timesteps != self.validated_at:
                self._validate()  # the last weights compete for best too, as in our trainer

    callback = Validate()
    model.learn(total_timesteps=10**12, callback=callback)
    result = {
        "trainer": "sb3",
        "env": args.env,
        "seed": args.seed,
        "env_steps": int(model.num_timesteps),
        "wall_seconds": round(wall(), 2),
        "budget_minutes": args.minutes,
        "stopped_because": "stop_minutes",
        "validations": callback.count,
        "best": callback.best,
        "best_checkpoint": BEST,
        "env_kwargs": env_kwargs,
        "validation_env_kwargs": val_kwargs,
        "settings": {**SB3_SETTINGS, **settings},
        "epsilon": f"linear in wall time, {eps0} -> {eps1} at {EXPLORATION_BUDGET_FRACTION:.2f} of the budget",
        "torch_threads": args.threads,
    }
    atomic_write_json(out / DONE, result)
    validator.close()
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="FaceFusion-v0")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--minutes", type=float, default=10.0, help="wall budget of learn() (validation included)")
    p.add_argument("--out", required=True)
    p.add_argument("--config", default=None, help="JSON merged over the preset (its validation section is used)")
    p.add_argument("--env-kwargs", default="{}", help="JSON env kwargs (default: the registered env's defaults)")
    p.add_argument("--settings", default="{}", help="JSON overrides of SB3_SETTINGS")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1, as our trainer's learner: on 2 busy cores 2 threads made a "
        "batch-64 NatureCNN update 25x slower, 933 vs 38 ms)",
    )
    args = p.parse_args(argv)
    if args.minutes <= 0:
        p.error(f"--minutes must be > 0, got {args.minutes}")
    result = train(args)
    print(json.dumps({k: result[k] for k in ("env", "seed", "env_steps", "wall_seconds", "best")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
