"""detectors.judge: the independent realism judge (autoencoder + logistic head), its CLI,
checkpoints, what it is trained and tested on, and errors for the wrong checkpoint."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
import torch

from detectors import judge as judge_cli
from detectors import judge_metrics, judge_policies
from detectors.judge_data import BLENDS, KINDS, JudgeSampler, MixedSampler, env_crop, env_real_crop, fused_crop
from detectors.judge_model import Judge, JudgeNet


@pytest.fixture(scope="module")
def dry_judge(tmp_path_factory):
    """`python -m detectors.judge train --dry-run` (in process): two tiny batches per stage."""
    out = tmp_path_factory.mktemp("judge")
    assert judge_cli.main(["train", "--dry-run", "--no-progress", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def dry_critic(tmp_path_factory):
    from detectors import train

    out = tmp_path_factory.mktemp("critic")
    assert train.main(["--dry-run", "--no-progress", "--out", str(out)]) == 0
    return out


def test_train_score_round_trip(dry_judge, tmp_path, capsys):
    names = {
        "judge.pt",
        "autoencoder.pt",
        "judge.json",
        "metrics.json",
        "reconstructions.png",
        "losses.png",
        *(f"scores_{k}.png" for k in KINDS),
    }
    assert names <= set(os.listdir(dry_judge))
    meta = json.loads((dry_judge / "judge.json").read_text())
    metrics = json.loads((dry_judge / "metrics.json").read_text())
    assert set(metrics["groups"]) == {f"{k}/{b}" for k in KINDS for b in BLENDS}
    for m in [*metrics["groups"].values(), *metrics["kinds"].values(), metrics["all"]]:
        assert {"auc", "accuracy", "precision", "recall"} <= set(m)
    for m in [*metrics["kinds"].values(), metrics["all"]]:
        low, high = m["auc_interval_95"]
        assert 0.0 <= low <= high <= 1.0
    judge = Judge.from_checkpoint(dry_judge)
    assert judge.threshold == meta["threshold"] == metrics["threshold"] and judge.image_size == 64
    # the judge's faces (its train + validation) never include the held-out faces it is scored on
    from envs.faces import load_faces

    held = set(load_faces("default").split("heldout").files)
    assert meta["train_faces"] and meta["val_faces"] and not set(meta["train_faces"]) & set(meta["val_faces"])
    assert not held & (set(meta["train_faces"]) | set(meta["val_faces"]))
    # `score` on its own reproduces the numbers (same seed, same crops) into another folder
    args = [
        "score",
        "--checkpoint",
        str(dry_judge / "judge.pt"),
        "--n",
        "4",
        "--real-copies",
        "2",
        "--seed",
        str(meta["settings"]["seed"] + 3),
    ]
    capsys.readouterr()
    assert judge_cli.main([*args, "--out", str(tmp_path)]) == 0
    again = json.loads((tmp_path / "metrics.json").read_text())
    assert again["groups"] == metrics["groups"] and again["all"] == metrics["all"]
    assert "| aligned/paste |" in capsys.readouterr().out


def test_checkpoints_load_with_weights_only(dry_judge):
    state = torch.load(dry_judge / "judge.pt", map_location="cpu", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert {k.split(".")[0] for k in state} == {"encoder", "head"}
    ae = torch.load(dry_judge / "autoencoder.pt", map_location="cpu", weights_only=True)
    assert {k.split(".")[0] for k in ae} == {"encoder", "decoder"}
    assert json.loads((dry_judge / "judge.json").read_text())["highpass"] is True  # the default
    net = JudgeNet(highpass=True)
    net.load_state_dict(state)
    crops = np.random.default_rng(0).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    with torch.no_grad():  # the judge averages the logits of each crop and its mirror image
        x = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 127.5 - 1
        expected = torch.sigmoid((net.eval()(x) + net(x.flip(3))) / 2)
    judge = Judge.from_checkpoint(dry_judge / "judge.pt")
    np.testing.assert_allclose(judge(crops), expected.numpy(), atol=1e-6)
    np.testing.assert_array_equal(judge.detects(crops), judge.logits(crops) > judge.threshold_logit)
    with pytest.raises(ValueError, match=r"\(N, 64, 64, 3\)"):
        judge(crops[:, :32, :32])


def test_ensemble_is_the_mean_of_its_members(dry_judge, tmp_path, capsys):
    """--members 2: member 0 is the one-member judge of the same seed (same weights), member 1
    another seed; the saved judge scores the mean of their logits."""
    out = tmp_path / "ensemble"
    assert judge_cli.main(["train", "--dry-run", "--no-progress", "--members", "2", "--out", str(out)]) == 0
    lines = capsys.readouterr().err.splitlines()  # without a bar, a line per stage and validation
    assert [ln.split(":")[0] for ln in lines if "validation AUC" in ln] == ["judge 1/2", "judge 2/2"]
    assert sum("autoencoder done" in ln for ln in lines) == 2
    meta = json.loads((out / "judge.json").read_text())
    assert meta["members"] == 2 and [m["seed"] for m in meta["member_selection"]] == [7, 107]
    state = torch.load(out / "judge.pt", map_location="cpu", weights_only=True)
    single = torch.load(dry_judge / "judge.pt", map_location="cpu", weights_only=True)
    nets = []
    for k in range(2):
        net = JudgeNet(highpass=True)
        net.load_state_dict({n[len(f"members.{k}.") :]: v for n, v in state.items() if n.startswith(f"members.{k}.")})
        nets.append(net.eval())
    for name, v in single.items():
        torch.testing.assert_close(nets[0].state_dict()[name], v)
    assert any(not torch.equal(nets[1].state_dict()[n], v) for n, v in single.items())
    crops = np.random.default_rng(1).integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)
    judge = Judge.from_checkpoint(out)
    parts = [Judge(n, 0.0, 64).logits(crops) for n in nets]
    np.testing.assert_allclose(judge.logits(crops), np.mean(parts, axis=0), rtol=1e-5, atol=1e-5)
    assert "members=2" in repr(judge)
    with pytest.raises(ValueError, match="members"):
        judge_cli.train(judge_cli.Settings(dry_run=True, members=0, out=str(tmp_path / "none")))


def test_auc_interval_resamples_faces():
    """The AUC interval resamples faces, each with all its crops: perfectly separated scores
    give [1, 1]; scores that do not depend on the label give an interval around 0.5; and a
    single face carrying the whole separation widens it beyond a crop-level resample."""
    rng = np.random.default_rng(0)
    faces = np.repeat(np.arange(20), 8)
    one = judge_metrics.auc_interval(rng.normal(0, 1, 160), faces, rng.normal(10, 1, 160), faces, 20)
    assert one == pytest.approx([1.0, 1.0])
    low, high = judge_metrics.auc_interval(rng.normal(0, 1, 160), faces, rng.normal(0, 1, 160), faces, 20)
    assert low < 0.5 < high and high - low < 0.3
    fused = rng.normal(0, 1, 160)
    fused[faces == 3] += 50  # one face's composites all obvious: resampling faces sees that one face come and go
    low, high = judge_metrics.auc_interval(rng.normal(0, 1, 160), faces, fused, faces, 20)
    crop_level = judge_metrics.auc_interval(rng.normal(0, 1, 160), np.arange(160), fused, np.arange(160), 160)
    assert high - low > crop_level[1] - crop_level[0]


def test_judges_written_before_highpass_and_logit_thresholds_load(tmp_path):
    """A judge.json without `highpass` and `threshold_logit` (sessions before 10) loads as a
    plain-crop judge whose logit threshold is the probability's logit."""
    torch.save(JudgeNet().state_dict(), tmp_path / "judge.pt")
    (tmp_path / "judge.json").write_text(json.dumps({"widths": [32, 64, 128, 128], "image_size": 64, "threshold": 0.9}))
    judge = Judge.from_checkpoint(tmp_path)
    assert not judge.highpass and judge.threshold_logit == pytest.approx(np.log(9.0))
    assert judge.threshold == pytest.approx(0.9)
    assert judge.context == 1.2  # before --context: the realism crop's framing


def test_context_frames_training_scoring_and_the_env_crop(tmp_path, capsys):
    """--context 2.0: judge.json and metrics.json carry it, the loaded judge crops with it, and
    what agents.evaluate scores (episode_crops) is the env's crop at that framing, not 1.2."""
    import gymnasium as gym

    import envs  # noqa: F401

    out = tmp_path / "wide"
    assert judge_cli.main(["train", "--dry-run", "--no-progress", "--context", "2.0", "--out", str(out)]) == 0
    assert json.loads((out / "judge.json").read_text())["context"] == 2.0
    assert json.loads((out / "metrics.json").read_text())["context"] == 2.0
    judge = Judge.from_checkpoint(out)
    assert judge.context == 2.0 and "context=2.0" in repr(judge)
    env = gym.make("FaceFusion-v0", split="heldout")
    env.reset(seed=1)
    crops = judge_policies.episode_crops(env, judge)
    for blend in BLENDS:
        np.testing.assert_array_equal(crops[blend], env_crop(env, blend, 64, 2.0))
        assert not np.array_equal(crops[blend], env_crop(env, blend, 64))
    env.close()
    sampler = JudgeSampler(judge_cli.judge_faces("default", 7, 0.2)[1], np.random.default_rng(0), context=2.0)
    from envs import fusion

    box, image = sampler.geometry(0, 0).box, sampler.faces.images[0]
    np.testing.assert_array_equal(sampler.real(0, jitter=False), fusion.face_crop(image, box, 64, 2.0))
    with pytest.raises(ValueError, match="context"):
        JudgeSampler(sampler.faces, np.random.default_rng(0), context=0.0)


def test_env_crop_is_the_training_crop():
    """What agents.evaluate --judge scores (the env's state) is the crop the judge trains on,
    framed on the target photo's own face box in swap mode too: the swap's ground-truth box
    (the source's box mapped onto the target) would frame fused crops unlike real ones."""
    import gymnasium as gym

    import envs  # noqa: F401
    from detectors import data

    env = gym.make("FaceFusionSwap-v0", split="heldout")
    env.reset(seed=3)
    u = env.unwrapped
    t, s = u.target_index, u.source_index
    own = np.asarray(u.faces.boxes[t], dtype=float)
    assert not np.allclose(data.geometry(u.faces, t, s).box, own, atol=1.0)  # a swap whose framings differ
    for blend in BLENDS:
        np.testing.assert_array_equal(env_crop(env, blend), fused_crop(u.faces, t, s, u.current_matrix(), own, blend))
    # the real crop beside it: the judge's own real crop of the target photo, not the composite
    real = env_real_crop(env)
    sampler = JudgeSampler(u.faces, np.random.default_rng(0))
    np.testing.assert_array_equal(real, sampler.real(t, jitter=False))
    assert not np.array_equal(real, env_crop(env, "paste"))
    # and the sampler frames its swap composites there too: an aligned swap pasted with no
    # jitter keeps the real crop wherever the pasted face's mask is zero
    crop = sampler.fused("aligned", "paste", jitter=False, target=t)
    assert crop.shape == real.shape and (crop == real).all(axis=-1).mean() > 0.2
    env.close()


def test_random_draws_keep_the_least_misplaced_env_draw():
    """--random-draws 3: a random composite's placement is the least misplaced of three env
    draws from the same stream (so nearer to real than one draw, never outside the env's range)."""
    from detectors import data
    from detectors.judge_data import misplacement_size
    from envs.faces import load_faces

    faces = load_faces("default").split("heldout")
    one = JudgeSampler(faces, np.random.default_rng(5))
    three = JudgeSampler(faces, np.random.default_rng(5), random_draws=3)
    geo = one.geometry(0, 0)
    rng = np.random.default_rng(5)
    sizes = {1: [], 3: []}
    for _ in range(200):
        draws = [data.env_placement(rng, geo.face_px, faces.canvas) for _ in range(3)]
        assert three.placement("random", geo) == min(draws, key=misplacement_size)
        sizes[3].append(misplacement_size(min(draws, key=misplacement_size)))
        sizes[1].append(misplacement_size(one.placement("random_swap", geo)))
    assert np.mean(sizes[3]) < 0.8 * np.mean(sizes[1])
    assert three.placement("aligned", geo) == (0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="random_draws"):
        JudgeSampler(faces, np.random.default_rng(0), random_draws=0)


def test_sampler_groups(tmp_path):
    from envs.faces import load_faces

    sampler = JudgeSampler(load_faces("default").split("heldout"), np.random.default_rng(0))
    reals = sampler.real_set(copies=3)
    assert reals.shape == (3 * len(sampler.faces), 64, 64, 3) and reals.dtype == np.uint8
    np.testing.assert_array_equal(reals[1], reals[0][:, ::-1])  # the mirror image
    for kind in KINDS:
        crops = sampler.fused_set(kind, "paste", 3)
        assert crops.shape == (3, 64, 64, 3)
    # placements come with the same crops (same stream) and remake them exactly
    from detectors import data

    plain = JudgeSampler(sampler.faces, np.random.default_rng(1)).fused_set("random", "paste", 4)
    crops, targets, places = JudgeSampler(sampler.faces, np.random.default_rng(1)).fused_set(
        "random", "paste", 4, with_targets=True, with_placements=True
    )
    np.testing.assert_array_equal(crops, plain)
    for crop, t, place in zip(crops, targets, places):
        geo = sampler.geometry(t, t)
        np.testing.assert_array_equal(crop, fused_crop(sampler.faces, t, t, data.placed(geo, *place), geo.box, "paste"))
    x, y = sampler.batch(4, 6)
    assert x.shape == (10, 64, 64, 3) and y.tolist() == [0] * 4 + [1] * 6
    with pytest.raises(ValueError, match="kind must be one of"):
        sampler.fused("upside_down", "paste")


def test_judge_beats_chance_after_short_training(tmp_path):
    """A short real training (60 batches): on held-out faces the judge ranks clearly misplaced and
    randomly placed composites above real crops, and flags more of them than its false-alarm
    rate on held-out reals."""
    settings = judge_cli.Settings(
        out=str(tmp_path), ae_iters=10, clf_iters=50, batch_size=32, n_eval=20, real_copies=4, progress=False
    )
    metrics = judge_cli.train(settings)
    for kind in ("random", "misplaced"):
        m = metrics["kinds"][kind]
        assert m["auc"] > 0.7, (kind, m)
        assert m["recall"] > metrics["real"]["false_alarm_rate"] + 0.1, (kind, m)


def test_wrong_checkpoint_errors(dry_judge, dry_critic, tmp_path, capsys):
    from detectors.realism import Realism

    with pytest.raises(ValueError, match="generator.pt.*GAN generator.*expected a realism critic"):
        Realism.from_checkpoint(dry_critic / "generator.pt")
    with pytest.raises(OSError, match="realism judge.*expected a realism critic"):
        Realism.from_checkpoint(dry_judge)  # a judge given as the reward critic
    with pytest.raises(ValueError, match="reward critic.*expected a realism judge"):
        Judge.from_checkpoint(dry_critic)  # a critic given as the judge
    with pytest.raises(ValueError, match="autoencoder.pt.*expected a realism judge"):
        Judge.from_checkpoint(dry_judge / "autoencoder.pt")
    with pytest.raises(ValueError, match="nowhere: not found"):
        Judge.from_checkpoint(tmp_path / "nowhere")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "judge.pt").write_bytes(b"not a checkpoint")
    (broken / "judge.json").write_text((dry_judge / "judge.json").read_text())
    with pytest.raises(ValueError, match="judge.pt: not a realism judge state_dict"):
        Judge.from_checkpoint(broken)
    (broken / "judge.json").write_text("{}")
    with pytest.raises(ValueError, match="judge.json"):
        Judge.from_checkpoint(broken)
    # the CLIs: exit 2 and one line naming the file and what was expected (the generator's file
    # given to detectors.report; a critic given to the judge; no traceback)
    from detectors import report

    capsys.readouterr()
    assert report.main(["--checkpoint", str(dry_critic / "generator.pt")]) == 2
    err = capsys.readouterr().err
    assert "generator.pt" in err and "expected a realism critic" in err and len(err.splitlines()) == 1
    assert judge_cli.main(["score", "--checkpoint", str(dry_critic)]) == 2
    err = capsys.readouterr().err
    assert "discriminator" in err and "expected a realism judge" in err and len(err.splitlines()) == 1


def test_highpass_front_end_sees_fine_detail_only():
    """The high-pass judge's input is the crop minus its blur: flat regions and uniform
    brightness are nothing to it; an edge (a seam) is something, and only near the edge."""
    from detectors.judge_model import HighPass

    hp = HighPass()
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(hp(flat), torch.zeros_like(flat), atol=1e-6)
    step = flat.clone()
    step[..., 8:] = -0.3  # a vertical edge between columns 7 and 8
    out = hp(step).abs().amax(dim=(0, 1, 2))
    assert out[6:10].min() > 0.05 and out[:6].max() < 1e-6 and out[10:].max() < 1e-6
    torch.manual_seed(0)
    net = JudgeNet(highpass=True).eval()
    x = torch.rand(4, 3, 64, 64) * 0.5 - 0.25
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(x + 0.2))
        assert not torch.allclose(JudgeNet().eval()(x), JudgeNet().eval()(x + 0.2))


def test_normalized_highpass_makes_sharpness_no_cue(tmp_path):
    """--highpass-norm: every crop's detail comes out at the same energy, so the same scene
    with 3x the detail everywhere looks the same to the judge, while where the detail is
    stays; a flat crop stays nothing; the option travels through judge.json."""
    from detectors.judge_model import HighPass

    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32) * 0.06 - 0.03
    x[..., 16:] += 0.3  # an edge, stronger than the texture
    sharper = 0.15 + 3 * (x - 0.15)  # the front end is linear: this is x's detail x3
    norm, plain = HighPass(normalize=True), HighPass()
    rms = norm(x).pow(2).mean((1, 2, 3)).sqrt()
    torch.testing.assert_close(rms, torch.full_like(rms, HighPass.NORM_RMS), rtol=0.05, atol=0)
    torch.testing.assert_close(norm(sharper), norm(x), atol=2e-3, rtol=0)
    assert (plain(sharper) - plain(x)).abs().max() > 0.1  # the plain front end sees the difference
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert norm(flat).abs().max() < 1e-3  # not amplified to noise (FLOOR)
    out = norm(x).abs().mean((0, 1, 2))
    assert out[15:17].mean() > 2 * out[:12].mean()  # the edge still stands out
    net = JudgeNet(highpass=True, normalize=True)
    torch.save(net.state_dict(), tmp_path / "judge.pt")
    meta = {"widths": [32, 64, 128, 128], "image_size": 64, "threshold_logit": 0.0, "highpass": True}
    (tmp_path / "judge.json").write_text(json.dumps({**meta, "highpass_norm": True}))
    assert Judge.from_checkpoint(tmp_path).normalize
    (tmp_path / "judge.json").write_text(json.dumps(meta))  # written before the option: plain
    assert Judge.from_checkpoint(tmp_path).highpass and not Judge.from_checkpoint(tmp_path).normalize


def test_val_faces_join_the_validation_and_the_threshold(tmp_path, monkeypatch):
    """--val-faces: those photos' real and fused crops are pooled with the judge's own
    validation split (they choose the state and fix the threshold), never trained on; the
    same faces as --faces, or a single photo, are refused before any training."""
    import cv2
    from skimage import data

    photos = tmp_path / "photos"
    photos.mkdir()
    img = data.astronaut()
    for i, side in enumerate((300, 360)):  # two photos of one face, at two sizes
        cv2.imwrite(str(photos / f"p{i}.jpg"), cv2.cvtColor(cv2.resize(img, (side, side)), cv2.COLOR_RGB2BGR))
    seen = []
    monkeypatch.setattr(judge_cli, "_validation_auc", lambda net, val: seen.append(val) or 0.5)
    s = judge_cli.Settings(out=str(tmp_path / "j"), val_faces=str(photos), dry_run=True, progress=False)
    judge_cli.train(s)
    meta = json.loads((tmp_path / "j" / "judge.json").read_text())
    val = seen[0]
    photo_files = [f for f in meta["val_faces"] if f.startswith("p")]
    assert sorted(photo_files) == ["p0.jpg", "p1.jpg"] and len(meta["val_faces"]) > 2
    assert not set(photo_files) & set(meta["train_faces"])
    n_groups = len(KINDS) * len(BLENDS)
    assert len(val.real) == 2 * len(val.files) and len(val.fused) == 2 * n_groups * 4  # dry run: 2 copies, 4 each
    assert meta["validation"]["n_real"] == len(val.real)  # the threshold is fixed on the pooled reals
    with pytest.raises(ValueError, match="--val-faces"):
        judge_cli.train(dataclasses.replace(s, val_faces="default", faces="default"))
    (photos / "p1.jpg").unlink()
    with pytest.raises(ValueError, match=r"--val-faces .*photos.*two photos"):
        judge_cli.train(s)


def test_mixed_sampler_draws_each_set_by_its_share():
    """--train-faces: each set gives its share of every batch, reals and composites alike."""

    class Constant:
        def __init__(self, value):
            self.value = value

        def reals(self, n):
            return np.full((n, 2, 2, 3), self.value, np.uint8)

        def batch(self, n_real, n_fused, kind_weights=None, paired=False):
            return np.full((n_real + n_fused, 2, 2, 3), self.value, np.uint8), np.r_[
                np.zeros(n_real), np.ones(n_fused)
            ].astype(np.float32)

    mixed = MixedSampler([Constant(1), Constant(2)], [0.75, 0.25])
    assert mixed.counts(64) == [48, 16] and mixed.counts(7) == [5, 2] and sum(mixed.counts(3)) == 3
    reals = mixed.reals(64)
    assert (reals[:, 0, 0, 0] == 2).sum() == 16 and len(reals) == 64
    crops, labels = mixed.batch(64, 64)
    from_photos = crops[:, 0, 0, 0] == 2
    assert from_photos.sum() == 32 and labels[from_photos].sum() == 16 and labels.sum() == 64
    with pytest.raises(ValueError, match="share"):
        MixedSampler([Constant(1)], [0.5, 0.5])


def test_train_faces_join_the_training_only(tmp_path, monkeypatch):
    """--train-faces: the photos are trained on (judge.json lists them), never validated on;
    the same faces as --faces or --val-faces, or one photo, are refused before any training."""
    import cv2
    from skimage import data

    photos = tmp_path / "photos"
    photos.mkdir()
    img = data.astronaut()
    for i, side in enumerate((300, 360)):
        cv2.imwrite(str(photos / f"t{i}.jpg"), cv2.cvtColor(cv2.resize(img, (side, side)), cv2.COLOR_RGB2BGR))
    drawn = []
    batch = MixedSampler.batch
    monkeypatch.setattr(
        MixedSampler, "batch", lambda self, *a, **k: drawn.append(self.counts(a[0])) or batch(self, *a, **k)
    )
    s = judge_cli.Settings(
        out=str(tmp_path / "j"), train_faces=str(photos), train_share=0.25, dry_run=True, progress=False
    )
    judge_cli.train(s)
    meta = json.loads((tmp_path / "j" / "judge.json").read_text())
    assert {"t0.jpg", "t1.jpg"} <= set(meta["train_faces"]) and not {"t0.jpg", "t1.jpg"} & set(meta["val_faces"])
    assert drawn and all(c == [6, 2] for c in drawn)  # dry run: batches of 8, a quarter from the photos
    for clash in ({"faces": str(photos)}, {"val_faces": str(photos)}):
        with pytest.raises(ValueError, match="--train-faces .*the same faces"):
            judge_cli.train(dataclasses.replace(s, **clash))
    with pytest.raises(ValueError, match="--highpass-norm"):
        judge_cli.train(dataclasses.replace(s, highpass=False, highpass_norm=True))
    with pytest.raises(ValueError, match="--train-share"):
        judge_cli.train(dataclasses.replace(s, train_share=1.0))
    (photos / "t1.jpg").unlink()
    with pytest.raises(ValueError, match=r"--train-faces .*photos.*two photos"):
        judge_cli.train(s)


def test_select_every_keeps_the_best_validation_state(tmp_path, monkeypatch):
    """With --select-every, the judge saved is the state at its best validation AUC, not the
    last one; judge.json names the batch and the history has every evaluation."""
    states, aucs = [], iter([0.7, 0.9, 0.6])

    def fake_auc(net, val):
        states.append({k: v.clone() for k, v in net.state_dict().items()})
        return next(aucs)

    monkeypatch.setattr(judge_cli, "_validation_auc", fake_auc)
    s = judge_cli.Settings(
        out=str(tmp_path), ae_iters=1, clf_iters=6, select_every=2, batch_size=4, n_eval=2, real_copies=2
    )
    judge_cli.train(dataclasses.replace(s, progress=False))
    meta = json.loads((tmp_path / "judge.json").read_text())
    assert meta["selected_batch"] == 4 and [b for b, _ in meta["history"]["val_auc"]] == [2, 4, 6]
    saved = torch.load(tmp_path / "judge.pt", weights_only=True)
    assert len(states) == 3 and not torch.equal(states[1]["head.2.weight"], states[2]["head.2.weight"])
    for k, v in saved.items():
        torch.testing.assert_close(v, states[1][k])


def test_detail_augmentation():
    """sharpen/noise change about half the crops of a batch; a flat crop stays flat under
    sharpening; both off, the augmentation is what it was (same random stream)."""
    from detectors import data

    x = torch.rand(64, 3, 8, 8) * 2 - 1
    plain = data.augment(x, torch.Generator().manual_seed(1))
    torch.testing.assert_close(plain, data.augment(x, torch.Generator().manual_seed(1), sharpen=0.0, noise=0.0))
    noisy = data.augment(x, torch.Generator().manual_seed(1), noise=0.05)
    changed = (noisy - data.augment(x, torch.Generator().manual_seed(1), noise=0.05 * 1e-6)).abs().amax(dim=(1, 2, 3))
    assert 16 < int((changed > 1e-3).sum()) < 48
    flat = torch.zeros(8, 3, 8, 8)
    out = data.augment(flat, torch.Generator().manual_seed(2), sharpen=2.0, brightness=0, contrast=0, saturation=0)
    torch.testing.assert_close(out, flat)


def test_paired_batches_fuse_onto_the_real_crops_photos(monkeypatch):
    """paired=True: the i-th fused crop of a batch is made on the i-th real crop's photo (so a
    photo is never a cue to its label); unpaired, fused crops draw their own photos."""
    from envs.faces import load_faces

    sampler = JudgeSampler(load_faces("default").split("heldout"), np.random.default_rng(0))
    reals, fused = [], []
    real, fuse = sampler.real, sampler.fused
    monkeypatch.setattr(sampler, "real", lambda t, jitter=True: reals.append(t) or real(t, jitter))
    monkeypatch.setattr(
        sampler, "fused", lambda *a, target=None, **k: fused.append(target) or fuse(*a, **k, target=target)
    )
    sampler.batch(6, 6, paired=True)
    assert fused == reals and len(set(reals)) > 1
    reals.clear(), fused.clear()
    sampler.batch(6, 6)
    assert fused == [None] * 6


def test_metrics_rank_saturated_scores_by_logit():
    """Fine-tuned judges give logits of 20-40, where float32 probabilities are all 1.0: ROC AUC
    and the threshold work on logits, so such scores still rank."""
    real, fused = np.array([40.0, 0.0]), np.array([39.0, 41.0])
    m = judge_metrics.group_metrics(real, fused, threshold=39.5)
    assert m["auc"] == 0.75  # 41 > 40, 41 > 0, 39 > 0; 39 < 40
    assert m["recall"] == 0.5 and m["false_alarm_rate"] == 0.5
    assert np.float32(1 / (1 + np.exp(-np.float32(39.0)))) == np.float32(1 / (1 + np.exp(-np.float32(41.0))))
