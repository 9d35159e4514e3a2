"""agents.greedy: greedy play that leaves the cycles a deterministic policy would repeat until
the time limit (by saying stop there, or by the best action not yet taken), and is plain
greedy play everywhere else."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns

import envs  # noqa: F401
from agents.checkpoints import GreedyPolicy
from agents.config import build_config
from agents.greedy import LoopBreaker, ScoredPolicy, module_scores
from agents.presets import preset_for
from agents.validation import play_greedy, summarize_episodes
from envs.baselines import run_episode
from envs.face_fusion import LEFT, RIGHT, STOP


def test_loop_breaker_takes_the_best_action_not_yet_taken_at_a_repeated_observation():
    breaker = LoopBreaker("next")
    a, b = np.zeros((2, 2), np.uint8), np.ones((2, 2), np.uint8)
    scores = np.array([0.1, 0.9, 0.5, -1.0])  # ranking: 1, 2, 0, 3
    assert [breaker.choose(a, scores) for _ in range(4)] == [1, 2, 0, 3]
    assert breaker.choose(a, scores) == 1  # all taken: the best one (the time limit ends it)
    assert breaker.breaks == 3
    assert breaker.choose(b, scores) == 1  # another observation: its own memory
    breaker.reset()
    assert breaker.choose(a, scores) == 1 and breaker.breaks == 0


def test_loop_breaker_says_stop_at_a_repeated_observation_where_the_env_has_a_stop_action():
    a, b = np.zeros((2, 2), np.uint8), np.ones((2, 2), np.uint8)
    scores = np.array([0.1, 0.9, 0.5, -1.0])  # ranking: 1, 2, 0, 3; "stop" is action 3, ranked last
    breaker = LoopBreaker()  # "stop" is the default rule
    assert [breaker.choose(o, scores, stop=3) for o in (a, b, a)] == [1, 1, 3]
    assert breaker.breaks == 1
    # without a stop action (CartPole) the stop rule falls back to the best action not yet taken
    breaker.reset()
    assert [breaker.choose(a, scores) for _ in range(3)] == [1, 2, 0]
    # "once": the best action not yet taken at the episode's first repeat, stop at the next one
    once = LoopBreaker("once")
    assert [once.choose(o, scores, stop=3) for o in (a, a, b, b)] == [1, 2, 1, 3]
    # "off": the plain argmax, repeats and all
    off = LoopBreaker("off")
    assert [off.choose(a, scores, stop=3) for _ in range(3)] == [1, 1, 1] and off.breaks == 0
    with pytest.raises(ValueError, match="loops='sometimes'"):
        LoopBreaker("sometimes")


def _hovering_scores(env):
    """Ranks LEFT first at the start placement and to its right, RIGHT first to its left, STOP
    third: plain argmax hovers between two placements forever."""

    def scores(observations):
        dx0 = env.unwrapped.start_dx
        out = np.zeros((len(observations), env.action_space.n))
        left_first = env.unwrapped.placement.dx >= dx0 - 1e-9
        out[:, LEFT], out[:, RIGHT], out[:, STOP] = (3, 2, 1) if left_first else (2, 3, 1)
        return out

    return scores


def _env():
    env = gym.make("FaceFusion-v0", split="validation")
    reset = env.unwrapped.reset

    def remember_start(**kwargs):  # the start placement, for _hovering_scores
        out = reset(**kwargs)
        env.unwrapped.start_dx = env.unwrapped.placement.dx
        return out

    env.unwrapped.reset = remember_start
    return env


def test_play_greedy_leaves_a_cycle_that_plain_argmax_repeats_until_the_time_limit():
    env = _env()
    plain = play_greedy(_hovering_scores(env), [env], [7, 8], loops="off")
    assert all(f["steps"] == env.spec.max_episode_steps and not f["stopped"] for f in plain)
    broken = play_greedy(_hovering_scores(env), [env], [7, 8], loops="next")
    # start A: LEFT -> B: RIGHT -> A again: RIGHT (LEFT taken) -> C: LEFT -> A: STOP (both taken)
    assert [(f["steps"], f["stopped"], f["loop_breaks"]) for f in broken] == [(5, True, 2)] * 2
    assert summarize_episodes(broken)["mean_loop_breaks"] == 2.0
    # the default: start A: LEFT -> B: RIGHT -> A again: STOP (the env's stop action)
    stopped = play_greedy(_hovering_scores(env), [env], [7, 8])
    assert [(f["steps"], f["stopped"], f["loop_breaks"]) for f in stopped] == [(3, True, 1)] * 2
    # actions (not scores) are played as given, loops and all
    assert play_greedy(lambda o: np.full(len(o), STOP), [env], [7])[0]["steps"] == 1


def test_scored_policy_is_reset_per_episode_by_run_episode():
    env = _env()
    policy = ScoredPolicy(_hovering_scores(env), loops="next")
    runs = [run_episode(env, policy, seed=s) for s in (7, 7)]
    assert [r["steps"] for r in runs] == [5, 5] and policy.breaks == 2  # no memory carried over
    stopping = ScoredPolicy(_hovering_scores(env))
    runs = [run_episode(env, stopping, seed=s) for s in (7, 7)]
    assert [(r["steps"], r["info"]["stopped"]) for r in runs] == [(3, True)] * 2 and stopping.breaks == 1
    plain = run_episode(env, ScoredPolicy(_hovering_scores(env), loops="off"), seed=7)
    assert plain["steps"] == env.spec.max_episode_steps


@pytest.mark.parametrize("env_id", ["FaceFusion-v0", "CartPole-v1"])
def test_module_scores_rank_actions_as_the_modules_greedy_action(env_id):
    env = gym.make(env_id)
    module = build_config(env_id, preset_for(env_id)).get_rl_module_spec(env=env).build()
    module.eval()
    obs = np.stack([env.observation_space.sample() for _ in range(16)])
    greedy = module.forward_inference({Columns.OBS: torch.from_numpy(obs)})[Columns.ACTIONS].numpy()
    assert (module_scores(module)(obs).argmax(axis=1) == greedy).all()
    # GreedyPolicy acts on the same scores; without repeats it is the plain argmax
    policy = GreedyPolicy(module)
    policy.reset()
    assert [policy(o, env) for o in obs] == list(greedy) and policy.breaks == 0
