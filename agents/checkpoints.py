"""Finding and loading a trained policy for inference, without the training run's Ray session."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from agents.greedy import ScoredPolicy, module_scores
from agents.run_dir import POLICY_ENV_CONFIG

MODULE_SUBPATH = Path("learner_group") / "learner" / "rl_module" / "default_policy"


class CheckpointError(ValueError):
    pass


@dataclass
class PolicyCheckpoint:
    module_dir: Path
    env: str | None  # env id the run trained on (from run.json), if known
    env_config: dict


WHICH = ("best", "latest")


def resolve(path: str | Path, which: str = "best") -> PolicyCheckpoint:
    """Accepts a run dir, an algorithm checkpoint dir, or the RLModule dir itself; says what it
    expected when it finds none of these. In a run dir, `which` picks `best/` (the best
    validation result; the newest checkpoint if the run kept none) or the newest checkpoint."""
    from agents.run_dir import BEST, RunDir

    if which not in WHICH:
        raise ValueError(f"which must be one of {WHICH}, got {which!r}")
    path = Path(path).absolute()  # RLlib reads a relative path as a URI
    if not path.exists():
        raise CheckpointError(f"--checkpoint {path}: no such file or directory")
    run_dir = None
    if (path / "checkpoints").is_dir():
        run_dir, run = path, RunDir(path)
        chosen = (run.best_checkpoint() if which == "best" else None) or run.latest_checkpoint()
        if chosen is None or not (chosen[0] / MODULE_SUBPATH).is_dir():
            raise CheckpointError(f"--checkpoint {path}: run dir without a complete checkpoint")
        path = chosen[0]
    if (path / MODULE_SUBPATH).is_dir():
        module_dir = path / MODULE_SUBPATH
        if run_dir is None and path.parent.name == "checkpoints":
            run_dir = path.parent.parent
        elif run_dir is None and path.name == BEST:
            run_dir = path.parent
    elif (path / "class_and_ctor_args.pkl").is_file() and any(path.glob("module_state*")):
        module_dir = path
    else:
        raise CheckpointError(
            f"--checkpoint {path}: not a checkpoint; expected a run dir of train.py, a checkpoints/iter_* "
            f"dir, or an RLModule dir ({MODULE_SUBPATH})"
        )
    env, env_config = None, {}
    if run_dir is not None and (run_dir / "run.json").is_file():
        info = json.loads((run_dir / "run.json").read_text())
        # the env settings the policy was trained with (preset included; runs before they were
        # saved: the options' env_config alone), with the options' own keys (realism...) over them
        env, env_config = info.get("env"), {**info.get(POLICY_ENV_CONFIG, {}), **(info.get("env_config") or {})}
    return PolicyCheckpoint(module_dir, env, env_config)


def load_module(checkpoint: PolicyCheckpoint):
    from ray.rllib.core.rl_module.rl_module import RLModule

    try:
        module = RLModule.from_checkpoint(str(checkpoint.module_dir))
    except Exception as exc:  # corrupt or foreign files
        raise CheckpointError(f"--checkpoint {checkpoint.module_dir}: cannot load the RLModule ({exc})") from exc
    module.eval()
    return module


class GreedyPolicy(ScoredPolicy):
    """The trained Q-network's greedy action, as a `policy(observation, env)` callable, with
    the loop rule `loops` (agents.greedy.LOOP_RULES)."""

    def __init__(self, module, loops: str = "stop"):
        super().__init__(module_scores(module), loops)
        self.module = module

    def check_spaces(self, env, where: str) -> None:
        space = getattr(self.module, "observation_space", None)
        if space is not None and space.shape != env.observation_space.shape:
            raise CheckpointError(
                f"{where}: the policy expects observations of shape {space.shape}, but the env gives "
                f"{env.observation_space.shape}; evaluate with the env (and obs_size) it was trained on"
            )
        actions = getattr(self.module, "action_space", None)
        if actions is not None and getattr(actions, "n", None) != getattr(env.action_space, "n", None):
            raise CheckpointError(f"{where}: the policy has {actions} actions, the env {env.action_space}")


def restore_algorithm(algo, path: str | Path) -> None:
    """`algo.restore_from_path(path)`, then the `on_checkpoint_loaded` callbacks, as RLlib's
    own Tune restore (`Algorithm.load_checkpoint`) runs them and `restore_from_path` does not
    (agents.curriculum sets the scheduled env values for the restored env steps there)."""
    from ray.rllib.callbacks.utils import make_callback

    algo.restore_from_path(str(path))
    make_callback(
        "on_checkpoint_loaded",
        callbacks_objects=algo.callbacks,
        callbacks_functions=algo.config.callbacks_on_checkpoint_loaded,
        kwargs=dict(algorithm=algo),
    )
