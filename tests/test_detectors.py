"""detectors: DCGAN models, critic data, training CLI, Realism scorer, report, env hook."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from detectors import data
from detectors.models import (
    IMAGE_SIZE,
    NZ,
    Discriminator,
    Generator,
    bake_spectral_norm,
    image_size_of,
    ngf_nz_of,
    weights_init,
)
from detectors.realism import NumpyCritic, Realism

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, timeout=300):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def faces():
    from envs.faces import load_faces

    return load_faces("default")


@pytest.fixture(scope="module")
def dry_run_dir(tmp_path_factory):
    """The training CLI in --dry-run mode: one epoch of two tiny batches."""
    out = tmp_path_factory.mktemp("dry")
    proc = _run(["-m", "detectors.train", "--dry-run", "--no-progress", "--out", str(out), "--threads", "1"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    """A short real training (~1 min on 2 cores), shared by the slow tests."""
    from detectors.train import Settings, train

    out = tmp_path_factory.mktemp("trained")
    threads = torch.get_num_threads()
    try:
        train(Settings(out=str(out), epochs=6, iters_per_epoch=40, batch_size=64, seed=0, threads=1, progress=False))
    finally:
        torch.set_num_threads(threads)
    return out


def _crops(n, seed=0, size=IMAGE_SIZE):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


# ---- models ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [32, 64])
def test_model_shapes(size):
    g, d = Generator(image_size=size), Discriminator(image_size=size)
    z = torch.randn(5, NZ)
    images = g(z)
    assert images.shape == (5, 3, size, size)
    assert images.min() >= -1 and images.max() <= 1
    assert g(z[:, :, None, None]).shape == (5, 3, size, size)
    assert d(images).shape == (5,)
    assert Discriminator(ndf=16, image_size=size)(images).shape == (5,)
    # checkpoints say what they were built for
    assert image_size_of(g.state_dict()) == image_size_of(d.state_dict()) == size
    assert ngf_nz_of(Generator(nz=20, ngf=12, image_size=size).state_dict()) == (12, 20)
    assert Realism(d.state_dict()).image_size == size


def test_bad_image_size():
    with pytest.raises(ValueError, match="48"):
        Discriminator(image_size=48)
    with pytest.raises(ValueError, match="48"):
        Generator(image_size=48)


@pytest.mark.parametrize("size", [32, 64])
def test_numpy_critic_matches_torch(size):
    """The env-step scorer computes the baked network's logit, at either size."""
    torch.manual_seed(size)
    net = Discriminator(ndf=4, image_size=size)
    for p in net.parameters():
        p.data.normal_(0.0, 0.05)
    net = bake_spectral_norm(net)
    critic, crops = NumpyCritic(net), _crops(4, seed=size, size=size)
    with torch.no_grad():
        ref = net(data.to_tensor(crops)).numpy()
    got = np.array([critic.logit(c) for c in crops])
    assert np.ptp(ref) > 0.01  # distinct inputs give distinct logits, so the comparison means something
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


def test_init_statistics():
    torch.manual_seed(0)
    g, d = Generator(ngf=32, image_size=64), Discriminator(ndf=16, image_size=64)
    g.apply(weights_init)
    d.apply(weights_init)
    convs = [m.weight for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    convs += [m.parametrizations.weight.original for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 10
    w = torch.cat([c.detach().reshape(-1) for c in convs])
    assert abs(float(w.mean())) < 2e-3 and 0.018 < float(w.std()) < 0.022
    bn = [m for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    gamma = torch.cat([m.weight.detach() for m in bn])
    assert abs(float(gamma.mean()) - 1) < 5e-3 and 0.015 < float(gamma.std()) < 0.025
    assert all(float(m.bias.detach().abs().max()) == 0 for m in bn)
    assert all(float(m.bias.detach().abs().max()) == 0 for m in d.modules() if isinstance(m, torch.nn.Conv2d))


def test_discriminator_is_spectrally_normalised():
    """The stabiliser: every conv's (reshaped) weight has largest singular value ~1."""
    torch.manual_seed(0)
    d = Discriminator(image_size=64)
    d.apply(weights_init)
    for _ in range(10):  # power iterations run in training-mode forwards
        d(torch.randn(2, 3, 64, 64))
    baked = bake_spectral_norm(d)
    convs = [m for m in baked.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 5
    for m in convs:
        assert not hasattr(m, "parametrizations")
        sigma = torch.linalg.matrix_norm(m.weight.detach().reshape(len(m.weight), -1), ord=2)
        assert 0.9 < float(sigma) < 1.05


# ---- data -------------------------------------------------------------------------------------


class _SizedCritic:
    """A stand-in critic that asks for `image_size` px crops, as Realism does."""

    def __init__(self, image_size):
        self.image_size = image_size

    def __call__(self, crops):
        assert crops.shape[1:] == (self.image_size, self.image_size, 3), crops.shape
        return crops.mean(axis=(1, 2, 3)) / 255.0


@pytest.mark.parametrize(
    "env_id,size",
    [("FaceFusion-v0", None), ("FaceFusionSwap-v0", None), ("FaceFusion-v0", 64), ("FaceFusionSwap-v0", 32)],
)
def test_composites_match_env_realism_crop(faces, env_id, size):
    """The critic trains on exactly the pixels the env scores, at the critic's size."""
    import gymnasium as gym

    import envs  # noqa: F401

    kwargs = {} if size is None else {"realism_fn": _SizedCritic(size), "realism_weight": 1.0}
    env = gym.make(env_id, faces=faces, **kwargs)
    u = env.unwrapped
    size = size or IMAGE_SIZE
    assert u.realism_size == size
    for seed in range(4):
        env.reset(seed=seed)
        for a in (0, 4, 3):
            env.step(a)
        geo = data.geometry(u.faces, u.target_index, u.source_index)
        p = u.placement
        m = data.placed(geo, p.dx / geo.face_px, p.dy / geo.face_px, p.scale)
        np.testing.assert_allclose(m, u.current_matrix(), atol=1e-9)
        crop = data.composite_crop(u.faces, u.target_index, u.source_index, m, geo.box, size)
        assert crop.shape == (size, size, 3)
        np.testing.assert_array_equal(crop, u.realism_crop())


def test_env_like_placements_are_the_env_start_distribution(faces):
    """The critic's env-like composites (report, judge) are placed as FaceFusion-v0 starts its
    episodes: the env's defaults and sampler, so the same generator gives the same draws. At a
    tiny face size (8 px) a third of the first draws lie within tolerance and are redrawn, so the
    tolerance and its pixel scale count too."""
    import gymnasium as gym

    import envs  # noqa: F401

    env = gym.make("FaceFusion-v0", faces=faces).unwrapped
    env.reset(seed=0)
    for face_px in (env._face_px, 8.0):
        env._face_px = face_px
        for seed in range(200):
            env.np_random = np.random.default_rng(seed)
            start = env._draw_placement()
            dx, dy, scale = data.env_placement(np.random.default_rng(seed), face_px, faces.canvas)
            np.testing.assert_allclose([dx * face_px, dy * face_px, scale], [start.dx, start.dy, start.scale])


def test_misplacements_are_clearly_wrong():
    rng = np.random.default_rng(0)
    draws = np.array([data.misplacement(rng) for _ in range(2000)])
    off, scale = np.hypot(draws[:, 0], draws[:, 1]), draws[:, 2]
    assert np.all((off > 0.08) | (np.abs(scale - 1) > 0.06))
    assert np.abs(draws[:, :2]).max() <= 0.3 and scale.min() >= 0.8 and scale.max() <= 1.25


@pytest.mark.parametrize("size", [32, 64])
def test_sampler_and_augment(faces, size):
    sampler = data.CropSampler(faces.split("train"), np.random.default_rng(0), size=size)
    reals, comps = sampler.reals(6), sampler.composites(6)
    assert reals.shape == comps.shape == (6, size, size, 3) and reals.dtype == comps.dtype == np.uint8
    x = data.to_tensor(np.concatenate([reals, comps]))
    assert x.shape == (12, 3, size, size) and -1 <= float(x.min()) and float(x.max()) <= 1
    a = data.augment(x, torch.Generator().manual_seed(0))
    b = data.augment(x, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)
    assert -1 <= float(a.min()) and float(a.max()) <= 1
    np.testing.assert_array_equal(data.to_uint8(data.to_tensor(reals)), reals)


# ---- training CLI, checkpoints, scorer ----------------------------------------------------------


def test_dry_run_writes_files(dry_run_dir):
    for name in ("discriminator.pt", "generator.pt", "config.json", "samples_epoch_001.png", "losses.png"):
        assert (dry_run_dir / name).is_file(), name
    assert not [p for p in os.listdir(dry_run_dir) if p.startswith(".tmp-")]
    config = json.loads((dry_run_dir / "config.json").read_text())
    assert config["epoch"] == 1 and config["iterations"] == 2 and config["settings"]["dry_run"]
    state = torch.load(dry_run_dir / "generator.pt", weights_only=True)
    m = config["models"]
    assert m["image_size"] == IMAGE_SIZE
    Generator(m["nz"], m["ngf"], m["image_size"]).load_state_dict(state)


def test_64px_training_drives_the_env_crop(faces, tmp_path):
    """`--image-size 64` trains 64 px networks; the env then draws 64 px realism crops."""
    import gymnasium as gym

    import envs  # noqa: F401

    proc = _run(["-m", "detectors.train", "--dry-run", "--no-progress", "--image-size", "64", "--out", str(tmp_path)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "config.json").read_text())["models"]["image_size"] == 64
    critic = Realism.from_checkpoint(tmp_path)
    assert critic.image_size == 64
    env = gym.make("FaceFusion-v0", faces=faces, realism_fn=critic, realism_weight=1.0)
    _, info = env.reset(seed=0)
    assert env.unwrapped.realism_crop().shape == (64, 64, 3) and 0 < info["realism"] < 1
    bad = _run(["-m", "detectors.train", "--dry-run", "--image-size", "48", "--out", str(tmp_path / "bad")])
    assert bad.returncode == 2 and "48" in bad.stderr and "32" in bad.stderr


def test_save_load_round_trip(dry_run_dir, tmp_path):
    crops = _crops(8)
    a = Realism.from_checkpoint(dry_run_dir)
    state = torch.load(dry_run_dir / "discriminator.pt", weights_only=True)
    net = Discriminator(a.ndf, a.image_size)
    net.load_state_dict(state)
    from detectors.files import save_state_dict

    save_state_dict(net, str(tmp_path / "copy.pt"))
    b = Realism.from_checkpoint(tmp_path / "copy.pt")
    pa, pb = a(crops), b(crops)
    assert pa.dtype == np.float32 and pa.shape == (8,)
    np.testing.assert_array_equal(pa, pb)
    assert np.all((pa > 0) & (pa < 1))
    # the baked scorer computes what the spectrally normalised network computes in eval mode
    with torch.no_grad():
        ref = torch.sigmoid(net.eval()(data.to_tensor(crops))).numpy()
    np.testing.assert_allclose(pa, ref, atol=1e-5)


def test_realism_single_crop_batch_independent_and_pickles(dry_run_dir, tmp_path):
    threads = torch.get_num_threads()
    critic = Realism.from_checkpoint(dry_run_dir / "discriminator.pt")
    assert torch.get_num_threads() == threads
    crops = _crops(5, seed=1)
    batch = critic(crops)
    single = critic(crops[2])
    assert single.shape == () and single.dtype == np.float32
    # no batch statistics; the numpy path for 1-2 crops computes what torch computes for 5
    np.testing.assert_allclose(single, batch[2], atol=1e-5)
    np.testing.assert_allclose(critic(crops[1:3]), batch[1:3], atol=1e-5)
    np.testing.assert_allclose(critic.logits(crops[:2]), critic.logits(crops)[:2], atol=1e-4)
    assert critic(crops[:0]).shape == (0,)
    # pickles by value: works where the checkpoint file does not exist
    moved = tmp_path / "d.pt"
    moved.write_bytes((dry_run_dir / "discriminator.pt").read_bytes())
    blob = pickle.dumps(Realism.from_checkpoint(moved))
    moved.unlink()
    clone = pickle.loads(blob)
    np.testing.assert_array_equal(clone(crops), batch)


def test_clear_errors(dry_run_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        Realism.from_checkpoint(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="discriminator.pt"):
        Realism.from_checkpoint(tmp_path)  # a folder without a checkpoint
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt"):
        Realism.from_checkpoint(bad)
    with pytest.raises(ValueError, match="generator.pt"):
        Realism.from_checkpoint(dry_run_dir / "generator.pt")  # the wrong network
    critic = Realism.from_checkpoint(dry_run_dir)
    with pytest.raises(ValueError, match=r"\(3, 32, 32\)"):
        critic(np.zeros((3, 32, 32), np.uint8))
    with pytest.raises(ValueError, match="float32"):
        critic(np.zeros((2, critic.image_size, critic.image_size, 3), np.float32))
    with pytest.raises(ValueError, match=rf"\(N, {critic.image_size}, {critic.image_size}, 3\).*\(2, 64, 64, 3\)"):
        critic(np.zeros((2, 64, 64, 3), np.uint8))  # crops of another size than it was trained on
    proc = _run(["-m", "detectors.report", "--checkpoint", str(tmp_path / "missing")])
    assert proc.returncode != 0 and "missing" in proc.stderr and "not found" in proc.stderr


def test_detectors_import_no_gymnasium_or_ray():
    """detectors adds neither gymnasium nor ray nor the env module to a process. `envs.fusion`
    and `envs.faces` are imported, so whatever the `envs` package itself loads on import is
    allowed (measured first); the scorer alone loads no more than envs' pure image code does."""
    probe = (
        "import json, sys; {imports}; print(json.dumps(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('gymnasium', 'ray') or m.startswith('envs'))))"
    )

    def loaded(imports):
        proc = _run(["-c", probe.format(imports=imports)], timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return set(json.loads(proc.stdout.strip().splitlines()[-1]))

    base = loaded("import envs.fusion, envs.files, envs.faces")
    found = loaded(
        "import detectors, detectors.models, detectors.data, detectors.realism, detectors.train, detectors.report"
    )
    assert not {m for m in found if m.split(".")[0] == "ray"}
    assert "envs.face_fusion" not in found
    assert found - base <= {m for m in found if m.startswith("envs.")}
    assert not {m for m in found - base if m.split(".")[0] == "gymnasium"}
    if not {m for m in base if m.split(".")[0] == "gymnasium"}:
        assert not {m for m in found if m.split(".")[0] == "gymnasium"}
    scorer = loaded("import detectors.realism")
    assert scorer <= base and "envs.face_fusion" not in scorer and not {m for m in scorer if m.startswith("ray")}


# ---- env hook ----------------------------------------------------------------------------------


def test_env_reward_realism_term(dry_run_dir, faces):
    """Same seed, same actions: weight 1 minus weight 0 reward = the change of realism."""
    import gymnasium as gym

    import envs  # noqa: F401

    critic = Realism.from_checkpoint(dry_run_dir)
    runs = {}
    for name, kwargs in {
        "off": {},
        "w0": {"realism_fn": critic, "realism_weight": 0.0},
        "w1": {"realism_fn": critic, "realism_weight": 1.0},
    }.items():
        env = gym.make("FaceFusion-v0", faces=faces, **kwargs)
        obs, info = env.reset(seed=3)
        rewards, realism = [], [info.get("realism")]
        for a in (0, 1, 2, 3, 4, 5, 0, 0, 3, 4):
            obs, r, term, trunc, info = env.step(a)
            rewards.append(r)
            realism.append(info.get("realism"))
        runs[name] = (np.array(rewards), realism)
    assert all(r is None for r in runs["off"][1])
    np.testing.assert_array_equal(runs["off"][0], runs["w0"][0])
    rw, real = runs["w1"][0], np.array(runs["w1"][1], dtype=float)
    np.testing.assert_array_equal(real, np.array(runs["w0"][1], dtype=float))
    np.testing.assert_allclose(rw - runs["w0"][0], np.diff(real), atol=1e-9)
    assert np.all((real > 0) & (real < 1)) and np.any(np.diff(real) != 0)


# ---- trained critic ------------------------------------------------------------------------------


@pytest.mark.slow
def test_trained_critic_prefers_real_crops(trained_dir, faces):
    """Held-out real crops score higher on average than randomly placed composites, and the
    score falls as the pasted face moves away from its place."""
    critic = Realism.from_checkpoint(trained_dir)
    held = faces.split("heldout")
    rng = np.random.default_rng(1)
    from detectors.report import offset_crops, placed_crops, real_crops

    size = critic.image_size
    real = critic(real_crops(held, size))
    random = critic(placed_crops(held, 100, rng, swap=False, random_place=True, size=size))
    assert real.mean() > random.mean() + 0.1, (real.mean(), random.mean())
    near, far = critic(offset_crops(held, 0.0, rng, size)).mean(), critic(offset_crops(held, 0.25, rng, size)).mean()
    assert near > far, (near, far)


@pytest.mark.slow
def test_report_cli(trained_dir, tmp_path):
    proc = _run(["-m", "detectors.report", "--checkpoint", str(trained_dir), "--out", str(tmp_path), "--n", "60"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    for key in ("auc_random", "auc_oracle", "auc_generated", "auc_random_swap"):
        assert 0 <= report[key] <= 1, key
    assert report["counts"]["random"] == report["counts"]["oracle"] == report["counts"]["generated"] == 60
    assert report["counts"]["real"] == 2 * report["faces"]
    assert report["auc_random"] > 0.7, report
    assert (tmp_path / "scores.png").is_file() and "auc" in (tmp_path / "report.md").read_text().lower()
