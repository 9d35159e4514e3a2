"""agents.replay.TransitionReplayBuffer against RLlib's PrioritizedEpisodeReplayBuffer on one
fixed stream of episode chunks (as env runners produce them), and its save/restore."""

import pickle

import gymnasium as gym
import numpy as np
import pytest
from ray.rllib.core.columns import Columns
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.utils.replay_buffers.prioritized_episode_buffer import (
    PrioritizedEpisodeReplayBuffer,
)

from agents.replay import INDICES, N_STEP, WEIGHTS, SumTree, TransitionReplayBuffer

GAMMA, N = 0.9, 3
OBS_SPACE = gym.spaces.Box(-10, 10, (4,), np.float32)
ACT_SPACE = gym.spaces.Discrete(2)


def episode_stream(seed=0, num_episodes=12, fragment=5):
    """Chunks of `fragment` steps from two interleaved envs; episodes end terminated or truncated."""
    rng = np.random.default_rng(seed)
    episodes = []
    for e in range(num_episodes):
        length = int(rng.integers(2, 14))
        episodes.append(
            {
                "id": f"ep{e}",
                "obs": rng.normal(size=(length + 1, 4)).astype(np.float32),
                "actions": rng.integers(0, 2, length),
                "rewards": rng.normal(size=length),
                "terminated": bool(e % 3),
                "t": 0,
            }
        )
    chunks, active = [], [episodes.pop(0), episodes.pop(0)]
    while active:
        for env in list(active):
            a, length = env["t"], len(env["actions"])
            b = min(a + fragment, length)
            done = b == length
            chunks.append(
                SingleAgentEpisode(
                    id_=env["id"],
                    observations=list(env["obs"][a : b + 1]),
                    actions=list(env["actions"][a:b]),
                    rewards=list(env["rewards"][a:b]),
                    terminated=done and env["terminated"],
                    truncated=done and not env["terminated"],
                    t_started=a,
                    len_lookback_buffer=0,
                    observation_space=OBS_SPACE,
                    action_space=ACT_SPACE,
                )
            )
            env["t"] = b
            if done:
                active.remove(env)
                if episodes:
                    active.append(episodes.pop(0))
    return chunks


def key(obs, action):
    return obs.tobytes(), int(action)


def test_sum_tree_sums_and_finds():
    tree = SumTree(5)
    tree.set(np.arange(5), np.array([1.0, 0.0, 3.0, 2.0, 4.0]))
    assert tree.total == 10.0 and tree.min_positive == 1.0
    assert list(tree.find(np.array([0.0, 0.99, 1.0, 3.99, 4.0, 5.99, 6.0, 9.99]))) == [0, 0, 2, 2, 3, 3, 4, 4]
    tree.set(np.array([2, 2]), np.array([0.5, 0.5]))
    assert tree.total == 7.5 and tree.min_positive == 0.5


def test_same_n_step_transitions_as_rllib():
    """Every transition RLlib samples is one of ours, with the same n-step return, next
    observation, terminated flag and n; ours also holds the shortened ones at episode ends."""
    chunks = episode_stream()
    rllib = PrioritizedEpisodeReplayBuffer(capacity=10_000, alpha=0.6)
    ours = TransitionReplayBuffer(capacity=10_000, n_step=N, gamma=GAMMA, alpha=0.6, seed=0)
    rllib.add(chunks)
    ours.add(chunks)
    total_steps = sum(len(c) for c in chunks)
    assert len(ours) == total_steps  # every step of a finished episode starts a transition
    mine = ours.sample(20_000)
    table = {}
    for i in range(len(mine[N_STEP])):
        table[key(mine[Columns.OBS][i], mine[Columns.ACTIONS][i])] = (
            mine[Columns.REWARDS][i],
            mine[Columns.NEXT_OBS][i],
            mine[Columns.TERMINATEDS][i],
            mine[N_STEP][i],
        )
    assert len(table) == total_steps  # all were drawn
    assert set(mine[N_STEP]) == {1.0, 2.0, 3.0}
    seen = 0
    for ep in rllib.sample(num_items=300, n_step=N, gamma=GAMMA, beta=0.4):
        reward, next_obs, terminated, n = table[key(ep.get_observations(0), ep.get_actions(0))]
        assert reward == pytest.approx(ep.get_rewards(0), rel=1e-5)
        np.testing.assert_array_equal(next_obs, ep.get_observations(-1))
        assert terminated == ep.is_terminated
        assert n == ep.get_extra_model_outputs("n_step")[0] == N
        seen += 1
    assert seen == 300


def test_terminal_and_truncated_tails():
    """The last transitions of an episode: shorter n, no bootstrap only when terminated."""
    for terminated in (True, False):
        ep = SingleAgentEpisode(
            observations=[np.full(4, t, np.float32) for t in range(5)],
            actions=[0, 1, 0, 1],
            rewards=[1.0, 2.0, 3.0, 4.0],
            terminated=terminated,
            truncated=not terminated,
            observation_space=OBS_SPACE,
            action_space=ACT_SPACE,
            len_lookback_buffer=0,
        )
        buf = TransitionReplayBuffer(capacity=100, n_step=N, gamma=GAMMA, prioritized=False, seed=0)
        buf.add([ep])
        batch = buf.sample(500)
        by_t = {int(o[0]): i for i, o in enumerate(batch[Columns.OBS])}
        assert sorted(by_t) == [0, 1, 2, 3]
        for t, (ret, n, nxt) in {
            0: (1 + 2 * GAMMA + 3 * GAMMA**2, 3, 3),
            2: (3 + 4 * GAMMA, 2, 4),
            3: (4.0, 1, 4),
        }.items():
            i = by_t[t]
            assert batch[Columns.REWARDS][i] == pytest.approx(ret)
            assert batch[N_STEP][i] == n and batch[Columns.NEXT_OBS][i][0] == nxt
            assert batch[Columns.TERMINATEDS][i] == (terminated and nxt == 4)


def test_importance_weights_match_rllib():
    """Same priorities on the same transitions give the same importance weights."""
    # Complete episodes only: then both buffers count the same N and hold the same priorities
    # once RLlib's n-step-unsampleable tails get the same priority in both.
    chunks = episode_stream(seed=1)
    rllib = PrioritizedEpisodeReplayBuffer(capacity=10_000, alpha=0.6)
    ours = TransitionReplayBuffer(capacity=10_000, n_step=1, gamma=GAMMA, alpha=0.6, seed=1, epsilon=0.0)
    rllib.add(chunks)
    ours.add(chunks)
    for _ in range(5):
        sampled = rllib.sample(num_items=32, n_step=1, gamma=GAMMA, beta=0.4)
        td = np.abs(np.random.default_rng(len(sampled)).normal(size=len(sampled))) + 0.1
        rllib.update_priorities(td)
        # find our slots for the same transitions, in order, and give them the same priorities
        everything = ours.sample(20_000)
        slot_of = {
            key(o, a): s for o, a, s in zip(everything[Columns.OBS], everything[Columns.ACTIONS], everything[INDICES])
        }
        slots = np.array([slot_of[key(e.get_observations(0), e.get_actions(0))] for e in sampled])
        ours.update_priorities(slots, td)
    mine = ours.sample(5000, beta=0.4)
    weight_of = {key(o, a): w for o, a, w in zip(mine[Columns.OBS], mine[Columns.ACTIONS], mine[WEIGHTS])}
    theirs = rllib.sample(num_items=200, n_step=1, gamma=GAMMA, beta=0.4)
    weights = [
        (weight_of[key(e.get_observations(0), e.get_actions(0))], e.get_extra_model_outputs("weights")[0])
        for e in theirs
        if key(e.get_observations(0), e.get_actions(0)) in weight_of
    ]
    assert len(weights) > 150
    np.testing.assert_allclose(*zip(*weights), rtol=1e-5)
    assert min(w for w, _ in weights) < 0.999  # priorities differ, so weights do too


def test_priorities_shape_sampling():
    buf = TransitionReplayBuffer(capacity=1000, n_step=1, gamma=GAMMA, alpha=1.0, seed=0)
    buf.add(episode_stream(seed=2))
    everything = buf.sample(5000)
    slots = np.unique(everything[INDICES])
    hot = slots[0]
    buf.update_priorities(slots, np.where(slots == hot, 100.0, 0.01))
    batch = buf.sample(1000)
    assert (batch[INDICES] == hot).mean() > 0.8
    assert batch[WEIGHTS][batch[INDICES] == hot].max() < batch[WEIGHTS][batch[INDICES] != hot].min()


def test_eviction_keeps_transitions_consistent():
    """A small ring: whatever survives still pairs each observation with its own next one."""
    buf = TransitionReplayBuffer(capacity=23, n_step=N, gamma=GAMMA, seed=0)
    chunks = episode_stream(seed=3, num_episodes=30)
    next_of = {}
    for chunk in chunks:
        obs = chunk.get_observations()
        for t in range(len(chunk)):
            next_of[obs[t].tobytes()] = obs[t + 1]
    buf.add(chunks)
    assert 0 < len(buf) <= 23
    batch = buf.sample(500)
    for o, nxt, n in zip(batch[Columns.OBS], batch[Columns.NEXT_OBS], batch[N_STEP]):
        step = o
        for _ in range(int(n)):
            step = next_of[step.tobytes()]
        np.testing.assert_array_equal(step, nxt)


def test_uint8_images_stored_once():
    space = gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)
    obs = [np.full((8, 8, 3), t, np.uint8) for t in range(6)]
    ep = SingleAgentEpisode(
        observations=obs,
        actions=[0] * 5,
        rewards=[1.0] * 5,
        terminated=True,
        observation_space=space,
        action_space=ACT_SPACE,
        len_lookback_buffer=0,
    )
    buf = TransitionReplayBuffer(capacity=64, n_step=2, gamma=GAMMA)
    buf.add([ep])
    assert buf._obs.data.dtype == np.uint8 and buf._obs.data.shape == (64, 8, 8, 3)  # one array, no next_obs copy
    batch = buf.sample(8)
    assert batch[Columns.OBS].dtype == np.uint8
    assert (batch[Columns.NEXT_OBS][:, 0, 0, 0] - batch[Columns.OBS][:, 0, 0, 0] == batch[N_STEP]).all()


def test_save_restore_continues_identically():
    chunks = episode_stream(seed=4)
    buf = TransitionReplayBuffer(capacity=40, n_step=N, gamma=GAMMA, seed=5)
    buf.add(chunks[:15])  # stops mid-episode: pending tails must survive too
    batch = buf.sample(16)
    buf.update_priorities(batch[INDICES], np.arange(16.0))
    state = pickle.loads(pickle.dumps(buf.get_state()))
    restored = TransitionReplayBuffer(capacity=40, n_step=N, gamma=GAMMA, seed=99)
    restored.set_state(state)
    for b in (buf, restored):
        b.add(chunks[15:])
    a, b = buf.sample(64), restored.sample(64)
    for column in a:
        np.testing.assert_array_equal(a[column], b[column])
    with pytest.raises(ValueError, match="capacity/n_step/gamma"):
        TransitionReplayBuffer(capacity=40, n_step=1, gamma=GAMMA).set_state(state)


def test_bad_configuration():
    with pytest.raises(TypeError, match="n_step must be an integer"):
        TransitionReplayBuffer(n_step=(2, 5))
    with pytest.raises(ValueError, match="no complete transition"):
        TransitionReplayBuffer().sample(4)


def test_mirrored_replay_flips_images_and_swaps_mirror_actions():
    """With mirror_actions, about half of the sampled transitions come back mirrored: both
    observations flipped left-right together, the action replaced by its mirror; the rest as
    stored. Rewards and the rest of the transition are untouched."""
    from envs.face_fusion import LEFT, MIRROR_ACTIONS, RIGHT

    rng = np.random.default_rng(0)
    length = 40
    images = rng.integers(0, 256, (length + 1, 6, 5, 3), dtype=np.uint8)  # odd width: no fixed column pairs
    actions = rng.integers(0, 7, length)
    space = gym.spaces.Box(0, 255, (6, 5, 3), np.uint8)
    episode = SingleAgentEpisode(
        id_="img",
        observations=list(images),
        actions=list(actions),
        rewards=list(np.arange(length, dtype=np.float32)),
        terminated=True,
        len_lookback_buffer=0,
        observation_space=space,
        action_space=gym.spaces.Discrete(7),
    )
    buf = TransitionReplayBuffer(100, n_step=1, gamma=GAMMA, prioritized=False, seed=1, mirror_actions=MIRROR_ACTIONS)
    buf.add([episode])
    batch = buf.sample(400)
    t = batch[Columns.REWARDS].astype(int)  # reward t identifies the transition
    mirrored = np.array([not np.array_equal(o, images[i]) for o, i in zip(batch[Columns.OBS], t)])
    assert 0.35 < mirrored.mean() < 0.65
    for o, o2, a, i, m in zip(batch[Columns.OBS], batch[Columns.NEXT_OBS], batch[Columns.ACTIONS], t, mirrored):
        flip = (lambda x: x[:, ::-1]) if m else (lambda x: x)
        np.testing.assert_array_equal(o, flip(images[i]))
        np.testing.assert_array_equal(o2, flip(images[i + 1]))
        assert a == (MIRROR_ACTIONS[actions[i]] if m else actions[i])
    assert MIRROR_ACTIONS[LEFT] == RIGHT and MIRROR_ACTIONS[RIGHT] == LEFT
    stored = buf._obs.data[: length + 1]
    np.testing.assert_array_equal(stored, images)  # sampling never flips the buffer itself
    with pytest.raises(ValueError, match="permutation"):
        TransitionReplayBuffer(10, mirror_actions=[0, 0, 1])


def test_mirror_in_the_preset_reaches_the_buffer():
    from agents.config import build_config
    from agents.presets import deep_merge, preset_for

    preset = deep_merge(preset_for("FaceFusion-v0"), {"training": {"replay_buffer_config": {"mirror": True}}})
    config = build_config("FaceFusion-v0", preset)
    assert config.replay_buffer_config["mirror_actions"] == [0, 1, 3, 2, 4, 5, 6]
    with pytest.raises(ValueError, match="declares no mirror_actions"):
        build_config(
            "CartPole-v1",
            deep_merge(preset_for("CartPole-v1"), {"training": {"replay_buffer_config": {"mirror": True}}}),
        )


def image_chunks(seed=0, num_episodes=6, fragment=7):
    """Chunks of uint8 image episodes (odd width: a flip never maps a column onto itself)."""
    rng = np.random.default_rng(seed)
    space = gym.spaces.Box(0, 255, (6, 5, 3), np.uint8)
    chunks = []
    for e in range(num_episodes):
        length = int(rng.integers(3, 20))
        images = rng.integers(0, 256, (length + 1, 6, 5, 3), dtype=np.uint8)
        actions, rewards = rng.integers(0, 7, length), rng.normal(size=length)
        for a in range(0, length, fragment):
            b = min(a + fragment, length)
            chunks.append(
                SingleAgentEpisode(
                    id_=f"img{e}",
                    observations=list(images[a : b + 1]),
                    actions=list(actions[a:b]),
                    rewards=list(rewards[a:b]),
                    terminated=b == length,
                    t_started=a,
                    len_lookback_buffer=0,
                    observation_space=space,
                    action_space=gym.spaces.Discrete(7),
                )
            )
    return chunks


@pytest.mark.parametrize("prioritized", [True, False])
def test_observations_on_a_torch_device_sample_what_host_memory_samples(prioritized):
    """`device`: the same transitions, mirroring and priorities as numpy storage, with obs and
    next_obs as tensors on that device (here the CPU: the code path a GPU learner uses);
    checkpoints hold numpy and restore into either kind of buffer."""
    import torch

    from envs.face_fusion import MIRROR_ACTIONS

    chunks = image_chunks()
    kwargs = dict(n_step=2, gamma=GAMMA, prioritized=prioritized, seed=3, mirror_actions=MIRROR_ACTIONS)
    host, dev = TransitionReplayBuffer(48, **kwargs), TransitionReplayBuffer(48, device="cpu", **kwargs)
    for buf in (host, dev):
        buf.add(chunks[:-3])  # wraps around: evictions
    for _ in range(3):
        a, b = host.sample(32), dev.sample(32)
        assert torch.is_tensor(b[Columns.OBS]) and b[Columns.OBS].dtype == torch.uint8
        for column in a:
            np.testing.assert_array_equal(a[column], np.asarray(b[column]))
        for buf in (host, dev):
            buf.update_priorities(a[INDICES], np.arange(32.0))
    assert dev.nbytes_at_capacity() == host.nbytes_at_capacity()
    state = pickle.loads(pickle.dumps(dev.get_state()))
    assert isinstance(state["_obs"], np.ndarray)
    restored = TransitionReplayBuffer(48, **kwargs)
    restored.set_state(state)
    for buf in (restored, dev):
        buf.add(chunks[-3:])
    a, b = restored.sample(32), dev.sample(32)
    for column in a:
        np.testing.assert_array_equal(a[column], np.asarray(b[column]))
