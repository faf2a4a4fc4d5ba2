"""The training loop, its tricks, checkpoints and the CLI (paper 3.1.1)."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from histogan_lite import training
from histogan_lite.models import Discriminator, Generator
from histogan_lite.train import main as cli_main
from histogan_lite.training import (
    Checkpoint,
    TrainConfig,
    TrainingDiverged,
    build_models,
    load_data,
    load_generator_checkpoint,
    make_optimizers,
    noise_std_at,
    preset,
    save_generator,
    step_generator,
    train,
    train_step,
)

torch.set_num_threads(1)


def tiny(**kw):
    base = dict(model="dcgan", image_size=64, width=16, batch_size=8, steps=3, sample_every=0, checkpoint_every=0)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (24, 64, 64, 3), dtype=np.uint8)
    labels = np.arange(24) % 2
    return images, labels


def test_paper_defaults_and_presets():
    c = TrainConfig()
    assert (c.lr, c.beta1, c.beta2, c.batch_size, c.g_steps, c.real_label) == (2e-4, 0.5, 0.999, 64, 2, 0.9)
    assert (c.image_size, c.width, c.latent_dim) == (256, None, 100)
    p = preset("paper")
    G, D = build_models(p)
    assert G.width == 512 and G.image_size == 256 and G.project.out_features == 512 * 16 * 16
    cpu = preset("cpu", model="cdcgan")
    assert (cpu.image_size, cpu.width, cpu.n_classes) == (64, 128, 2)
    with pytest.raises(ValueError, match="unknown preset 'laptop'"):
        preset("laptop")
    with pytest.raises(ValueError, match="real_label must lie in"):
        TrainConfig(real_label=1.5)


def test_noise_schedule_is_linear_to_zero():
    c = tiny(steps=100, instance_noise=0.2)
    assert [round(noise_std_at(c, s), 6) for s in (0, 25, 50, 100, 150)] == [0.2, 0.15, 0.1, 0.0, 0.0]
    c2 = tiny(steps=100, instance_noise=0.2, noise_anneal_steps=10)
    assert noise_std_at(c2, 5) == pytest.approx(0.1)


def _constant_d(D, bias):
    with torch.no_grad():
        for p in D.parameters():
            p.zero_()
        D.logit.bias.fill_(bias)


@pytest.mark.parametrize("real_label, expected_d", [(0.9, 1.7265), (1.0, 1.6265)])
def test_losses_eq1_eq4_with_label_smoothing(real_label, expected_d):
    # D outputs the logit 1 for every input, so the losses are known exactly:
    # eq. (1): softplus(1) - t + softplus(1);  eq. (4) after D's first Adam step (bias 1 - 2e-4): softplus(-b)
    c = tiny(real_label=real_label, instance_noise=0.0)
    G, D = build_models(c)
    _constant_d(D, 1.0)
    opt_g, opt_d = make_optimizers(G, D, c)
    real = torch.zeros(8, 3, 64, 64)
    m = train_step(G, D, opt_g, opt_d, real, None, c, 0, step_generator(0, 0))
    sp1 = math.log1p(math.exp(1.0))
    assert m["loss_d"] == pytest.approx(sp1 - real_label + sp1, abs=1e-4) and m["loss_d"] == pytest.approx(expected_d, abs=1e-4)
    assert m["d_real"] == pytest.approx(1 / (1 + math.exp(-1)), abs=1e-6)
    b = 1.0 - 2e-4
    assert m["loss_g"] == pytest.approx(math.log1p(math.exp(-b)), abs=1e-5)
    assert float(D.logit.bias.detach()) == pytest.approx(b, abs=1e-7)


@pytest.mark.parametrize("g_steps", [1, 2, 3])
def test_generator_updates_per_discriminator_update(g_steps):
    c = tiny(g_steps=g_steps)
    G, D = build_models(c)
    opt_g, opt_d = make_optimizers(G, D, c)
    train_step(G, D, opt_g, opt_d, torch.zeros(8, 3, 64, 64), None, c, 0, step_generator(0, 0))
    assert int(opt_d.state[D.logit.bias]["step"]) == 1
    assert int(opt_g.state[G.project.weight]["step"]) == g_steps


def test_instance_noise_reaches_discriminator():
    c = tiny(instance_noise=0.5)
    G, D = build_models(c)
    seen = []
    D.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    opt_g, opt_d = make_optimizers(G, D, c)
    train_step(G, D, opt_g, opt_d, torch.zeros(8, 3, 64, 64), None, c, 0, step_generator(0, 0))
    assert len(seen) == 2 + c.g_steps  # real, generated for D; generated for each G update
    assert float(seen[0].std()) == pytest.approx(0.5, rel=0.02)  # zero images + N(0, 0.5^2)
    c0 = tiny(instance_noise=0.0)
    seen.clear()
    train_step(G, D, opt_g, opt_d, torch.zeros(8, 3, 64, 64), None, c0, 0, step_generator(0, 0))
    assert float(seen[0].abs().max()) == 0.0


def test_same_seed_same_losses_and_weights(data):
    a = train(tiny(seed=3), data, device="cpu", show_progress=False)
    b = train(tiny(seed=3), data, device="cpu", show_progress=False)
    cols = ["loss_d", "loss_g", "d_real", "d_fake"]
    assert a.history[cols].values.tolist() == b.history[cols].values.tolist()
    assert all(torch.equal(x, y) for x, y in zip(a.G.state_dict().values(), b.G.state_dict().values()))
    other = train(tiny(seed=4), data, device="cpu", show_progress=False)
    assert a.history["loss_d"].tolist() != other.history["loss_d"].tolist()
    assert a.G.training is False


def test_resume_continues_exactly(data, tmp_path):
    full = train(tiny(steps=4, model="cdcgan"), data, out=tmp_path / "full", device="cpu", show_progress=False)
    half = tiny(steps=2, model="cdcgan", noise_anneal_steps=4)
    train(half, data, out=tmp_path / "split", device="cpu", show_progress=False)
    with pytest.raises(FileExistsError, match="already holds a checkpoint"):
        train(half, data, out=tmp_path / "split", device="cpu", show_progress=False)
    resumed = train(tiny(steps=4, model="cdcgan"), data, out=tmp_path / "split", resume=True, device="cpu",
                    show_progress=False)
    cols = ["step", "loss_d", "loss_g", "d_real", "d_fake"]
    assert resumed.history[cols].values.tolist() == full.history[cols].values.tolist()
    for x, y in zip(full.G.state_dict().values(), resumed.G.state_dict().values()):
        assert torch.equal(x, y)
    meta = json.loads((tmp_path / "split" / "checkpoint.json").read_text())
    assert meta["step"] == 4 and meta["config"]["noise_anneal_steps"] == 4


def test_samples_from_fixed_z(data, tmp_path):
    r = train(tiny(steps=4, sample_every=2, n_sample=4, model="cdcgan"), data, out=tmp_path, device="cpu",
              show_progress=False)
    assert [s for s, _ in r.samples] == [2, 4]
    assert r.samples[0][1].shape == (4, 3, 64, 64)
    png = Image.open(tmp_path / "samples" / "step_000004.png")
    assert png.size == (2 * 66 + 2, 2 * 66 + 2)


def test_divergence_nan_keeps_last_good_checkpoint(data, tmp_path, monkeypatch):
    real_step = training.train_step

    def poisoned(*args, **kw):
        m = real_step(*args, **kw)
        if args[7] == 3:  # step index
            m["loss_g"] = float("nan")
        return m

    monkeypatch.setattr(training, "train_step", poisoned)
    with pytest.raises(TrainingDiverged, match=r"diverged at step 3: .*NaN/Inf.*checkpoint\.safetensors"):
        train(tiny(steps=6, checkpoint_every=2), data, out=tmp_path, device="cpu", show_progress=False)
    assert json.loads((tmp_path / "checkpoint.json").read_text())["step"] == 2


def test_divergence_saturated_discriminator(data, monkeypatch):
    real_step = training.train_step
    monkeypatch.setattr(training, "train_step", lambda *a, **k: {**real_step(*a, **k), "d_fake": 1e-5})
    with pytest.raises(TrainingDiverged, match="D has been saturated for 3 steps"):
        train(tiny(steps=6, divergence_patience=3), data, device="cpu", show_progress=False)


def test_checkpoint_roundtrip_and_bad_checkpoints(data, tmp_path):
    r = train(tiny(steps=1, model="cdcgan"), data, out=tmp_path, device="cpu", show_progress=False)
    path = tmp_path / "checkpoint.safetensors"
    G = load_generator_checkpoint(path, image_size=64, n_classes=2)
    assert not G.training
    for (k, x), y in zip(r.G.state_dict().items(), G.state_dict().values()):
        assert torch.equal(x, y), k
    with pytest.raises(ValueError, match=r"holds a cdcgan generator at 64 px.*expected n_classes 0"):
        load_generator_checkpoint(path, n_classes=0)
    with pytest.raises(ValueError, match=r"expected image_size 128"):
        load_generator_checkpoint(path, image_size=128)
    ck = Checkpoint.load(path)
    with pytest.raises(ValueError, match=r"holds a cdcgan generator at 64 px, width 16.*expected a dcgan generator at 64 px, width 16"):
        ck.restore(Generator(64, 0, width=16), Discriminator(64, 0, width=16), source=path)
    # truncated weights file
    data_bytes = path.read_bytes()
    path.write_bytes(data_bytes[: len(data_bytes) // 2])
    with pytest.raises(ValueError, match=r"checkpoint\.safetensors do not match the SHA-256"):
        load_generator_checkpoint(path)
    meta = json.loads(path.with_suffix(".json").read_text())
    meta.pop("sha256")
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"could not read checkpoint weights .*checkpoint\.safetensors: corrupt or truncated"):
        load_generator_checkpoint(path)
    path.with_suffix(".json").write_text('{"format": "histogan-lite-checkpoint", "vers')
    with pytest.raises(ValueError, match=r"checkpoint\.json is not valid JSON"):
        load_generator_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="nothing.json not found"):
        load_generator_checkpoint(tmp_path / "nothing.safetensors")


def test_generator_export_fp16(tmp_path):
    torch.manual_seed(0)
    G = Generator(64, 2, width=16).eval()
    p = save_generator(G, tmp_path / "g.safetensors", steps=7)
    meta = json.loads((tmp_path / "g.json").read_text())
    assert meta["kind"] == "generator" and meta["dtype"] == "float16" and meta["steps"] == 7
    H = load_generator_checkpoint(p)
    for x, y in zip(G.state_dict().values(), H.state_dict().values()):
        assert torch.equal(x.half().float() if x.is_floating_point() else x, y)
    with pytest.raises(ValueError, match="not a training checkpoint"):
        Checkpoint.load(p)


def test_bad_training_data(data, tmp_path):
    images, labels = data
    with pytest.raises(ValueError, match=r"images from mine are 64x64 pixels but the model expects 128x128"):
        train(tiny(image_size=128), (images, labels), device="cpu", source="mine")
    with pytest.raises(ValueError, match=r"has none of class 1 \(positive\)"):
        train(tiny(model="cdcgan"), (images, np.zeros(24, dtype=np.int64)), device="cpu", source="mine")
    with pytest.raises(ValueError, match="needs class labels"):
        train(tiny(model="cdcgan"), (images, None), device="cpu")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"no images .* in .*empty"):
        load_data(empty)
    folder = tmp_path / "classes"
    (folder / "negative").mkdir(parents=True)
    (folder / "positive").mkdir()
    for i in range(2):
        Image.fromarray(images[i]).save(folder / "negative" / f"n{i}.png")
        Image.fromarray(images[2 + i]).save(folder / "positive" / f"p{i}.png")
    x, y = load_data(folder, 64)
    assert x.shape == (4, 64, 64, 3) and y.tolist() == [0, 0, 1, 1]
    assert np.array_equal(x[0], images[0])
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(folder / "positive" / "small.png")
    with pytest.raises(ValueError, match=r"image .*small\.png is 32x32 pixels; expected 64x64"):
        load_data(folder, 64)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_data(tmp_path / "missing")


def test_cli_trains_and_reports_errors(data, tmp_path, capsys):
    images, _ = data
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(8):
        Image.fromarray(images[i]).save(folder / f"{i}.png")
    args = ["--data", str(folder), "--preset", "tiny", "--width", "16", "--batch-size", "4", "--steps", "2",
            "--out", str(tmp_path / "run"), "--quiet", "--device", "cpu"]
    assert cli_main(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 2 and summary["checkpoint"].endswith("checkpoint.safetensors")
    args[args.index("--out") + 1] = str(tmp_path / "run2")
    assert cli_main(args + ["--model", "cdcgan"]) == 1
    assert "the cDCGAN needs class labels" in capsys.readouterr().err


def test_generator_loss_gradients_saturating_vs_non_saturating():
    # d/da log(1 - sigmoid(a)) = -sigmoid(a);  d/da -log sigmoid(a) = -(1 - sigmoid(a))
    p = torch.tensor([0.01, 0.5, 0.9])
    for kind, expected in (("saturating", -p), ("non-saturating", -(1 - p))):
        a = torch.logit(p).requires_grad_(True)
        (g,) = torch.autograd.grad(training.generator_loss(a, kind) * 3, a)
        torch.testing.assert_close(g, expected, atol=1e-6, rtol=0)
    assert float(training.discriminator_loss(torch.zeros(2), torch.zeros(2))) == pytest.approx(2 * math.log(2))
    with pytest.raises(ValueError, match="kind must be 'non-saturating'"):
        training.generator_loss(torch.zeros(1), "wasserstein")


def test_resume_can_shorten_the_noise_schedule(data, tmp_path):
    train(tiny(steps=2, noise_anneal_steps=100, instance_noise=0.1), data, out=tmp_path, device="cpu", show_progress=False)
    r = train(tiny(steps=4, noise_anneal_steps=4, instance_noise=0.1), data, out=tmp_path, resume=True, device="cpu",
              show_progress=False)
    assert r.history.noise_std.round(6).tolist() == [0.1, 0.099, 0.05, 0.025]
    assert json.loads((tmp_path / "checkpoint.json").read_text())["config"]["noise_anneal_steps"] == 4


def test_load_data_from_a_patch_manifest(data, tmp_path):
    images, _ = data
    rows = ["slide,level,label,path"]
    for i in range(4):
        big = np.kron(images[i], np.ones((2, 2, 1), dtype=np.uint8))  # a 128x128 patch
        Image.fromarray(big).save(tmp_path / f"p{i}.png")
        rows.append(f"s1,0,{i % 2},p{i}.png")
    (tmp_path / "patches.csv").write_text("\n".join(rows) + "\n")
    x, y = load_data(tmp_path / "patches.csv", 128)
    assert x.shape == (4, 128, 128, 3) and y.tolist() == [0, 1, 0, 1]
    assert np.array_equal(x[1, ::2, ::2], images[1])
    x64, _ = load_data(tmp_path / "patches.csv", 64)  # resized to the model's image size
    assert x64.shape == (4, 64, 64, 3)
    (tmp_path / "empty.csv").write_text("slide,level,label,path\n")
    with pytest.raises(ValueError, match="empty.csv lists no patch"):
        load_data(tmp_path / "empty.csv", 64)


def test_recipe_options_reach_models_optimizers_and_checkpoints(tmp_path):
    import warnings as _w

    from histogan_lite import synthetic
    from histogan_lite.training import build_models, make_optimizers, preset

    cfg = preset("tiny", upsample="resize-conv", kernel_size=4, z_prior="normal", d_spectral_norm=True,
                 lr_d=4e-4, lr_g=1e-4)
    G, D = build_models(cfg)
    assert (G.upsample, G.kernel_size, G.z_prior) == ("resize-conv", 4, "normal")
    assert (D.kernel_size, D.spectral_norm) == (4, True)
    opt_g, opt_d = make_optimizers(G, D, cfg)
    assert (opt_g.param_groups[0]["lr"], opt_d.param_groups[0]["lr"]) == (1e-4, 4e-4)
    with pytest.raises(ValueError, match="upsample must be one of"):
        preset("tiny", upsample="bilinear")
    with pytest.raises(ValueError, match="lr_d must be None"):
        preset("tiny", lr_d=0.0)
    path = save_generator(G, tmp_path / "g", renderer_version="3", cpu_seconds=12.34)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert (meta["renderer_version"], meta["train_cpu_seconds"]) == ("3", 12.3)
    with pytest.warns(UserWarning, match=f"renderer version 3, but this package renders version {synthetic.GENERATOR_VERSION}"):
        G2 = load_generator_checkpoint(path)
    assert G2.config() == G.config()
    same = save_generator(G, tmp_path / "h", renderer_version=synthetic.GENERATOR_VERSION)
    with _w.catch_warnings():
        _w.simplefilter("error")
        load_generator_checkpoint(same)


def test_demo_data_cache_is_keyed_by_renderer_version(tmp_path, monkeypatch):
    """A patch cache written by one renderer version is never read back under another."""
    from histogan_lite import synthetic
    from histogan_lite.datasets import _demo_data

    monkeypatch.setenv("HISTOGAN_DATA", str(tmp_path))
    calls = []

    def fake_make_patches(n, size, seed):
        calls.append(synthetic.GENERATOR_VERSION)
        value = len(calls)
        return np.full((n, size, size, 3), value, np.uint8), {"label": np.zeros(n, np.int64)}

    monkeypatch.setattr(synthetic, "make_patches", fake_make_patches)
    monkeypatch.setattr(synthetic, "GENERATOR_VERSION", "old")
    first, _ = _demo_data(8, 4, seed=0, cache=True)
    again, _ = _demo_data(8, 4, seed=0, cache=True)
    monkeypatch.setattr(synthetic, "GENERATOR_VERSION", "new")
    newer, _ = _demo_data(8, 4, seed=0, cache=True)
    assert calls == ["old", "new"]
    assert int(first[0, 0, 0, 0]) == 1 and int(again[0, 0, 0, 0]) == 1 and int(newer[0, 0, 0, 0]) == 2
    assert sorted(p.name for p in tmp_path.glob("demo_patches_*.npz")) == [
        "demo_patches_rnew_8px_4_seed0.npz", "demo_patches_rold_8px_4_seed0.npz"]


def _speed_data():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (16, 64, 64, 3), dtype=np.uint8), np.arange(16) % 2


# losses of steps 0-2 (float.hex) recorded from train_step before it was split into discriminator_pass /
# generator_pass / optimizer_update (main at f8e6d8e): the float32 path must stay bit-identical
BEFORE_SPLIT = {
    "dcgan": [("0x1.6e456a0000000p+0", "0x1.5d43cb0000000p-1"), ("0x1.70e0d40000000p+0", "0x1.4eec980000000p-1"),
              ("0x1.6ad1dc0000000p+0", "0x1.58ee720000000p-1")],
    "cdcgan": [("0x1.5f7d820000000p+0", "0x1.8725c30000000p-1"), ("0x1.61d5340000000p+0", "0x1.724ad70000000p-1"),
               ("0x1.5fd8640000000p+0", "0x1.7c61470000000p-1")],
}


@pytest.mark.parametrize("model", ["dcgan", "cdcgan"])
def test_float32_step_bit_identical_to_before_the_split(model):
    r = train(tiny(model=model, seed=3, speed="plain"), _speed_data(), device="cpu", show_progress=False)
    got = [(float(a).hex(), float(b).hex()) for a, b in zip(r.history.loss_d, r.history.loss_g)]
    assert got == BEFORE_SPLIT[model]


def test_speed_resolution_per_device():
    assert training.resolve_speed(tiny(speed="plain"), "cpu") == training.Speed()
    auto = training.CPU_AUTO if training.cpu_has_native_bf16() else training.CPU_AUTO_NO_BF16
    assert training.resolve_speed(tiny(), "cpu") == training.resolve_speed(tiny(speed=auto), "cpu")
    assert training.resolve_speed(tiny(), "cuda") == training.Speed(autocast=torch.float16)  # AMP + GradScaler
    assert training.resolve_speed(tiny(amp=False), "cuda") == training.Speed()
    assert training.resolve_speed(tiny(speed="compile+bf16"), "cpu") == training.Speed(False, torch.bfloat16, True)
    for bad in ("fast", "bf16+bf16", "channels_last+", 3):
        with pytest.raises(ValueError, match="speed must be 'auto', 'plain' or a"):
            tiny(speed=bad)


@pytest.mark.parametrize("model", ["dcgan", "cdcgan"])
def test_channels_last_bf16_losses_close_to_float32(model):
    # the tolerance benchmarks/bench_training.py applies (2 % relative) on the same draws and weights
    plain = train(tiny(model=model, seed=3, speed="plain"), _speed_data(), device="cpu", show_progress=False)
    fast = train(tiny(model=model, seed=3, speed="channels_last+bf16"), _speed_data(), device="cpu", show_progress=False)
    for col in ("loss_d", "loss_g"):
        a, b = fast.history[col].to_numpy(), plain.history[col].to_numpy()
        assert np.all(np.abs(a - b) <= 0.02 * np.abs(b)) and not np.array_equal(a, b)  # bf16 really ran
    assert next(fast.G.deconv.parameters()).is_contiguous(memory_format=torch.channels_last)


def test_cpu_auto_falls_back_to_float32_without_native_bf16(monkeypatch):
    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: False)
    assert training.resolve_speed(tiny(), "cpu") == training.Speed(channels_last=True)
    monkeypatch.setattr(training, "cpu_has_native_bf16", lambda: True)
    assert training.resolve_speed(tiny(), "cpu") == training.Speed(True, torch.bfloat16, False)


def test_max_seconds_then_resume_with_cpu_auto_speed(tmp_path):
    data = _speed_data()
    cfg = tiny(model="cdcgan", steps=4, speed="auto")
    full = train(cfg, data, out=tmp_path / "full", device="cpu", show_progress=False)
    first = train(cfg, data, out=tmp_path / "split", device="cpu", show_progress=False, max_seconds=0.0)
    assert len(first.history) == 1  # stopped after the first step, with a checkpoint
    assert json.loads((tmp_path / "split" / "checkpoint.json").read_text())["step"] == 1
    resumed = train(cfg, data, out=tmp_path / "split", resume=True, device="cpu", show_progress=False)
    cols = ["step", "loss_d", "loss_g", "d_real", "d_fake"]
    assert resumed.history[cols].values.tolist() == full.history[cols].values.tolist()
    assert all(torch.equal(x, y) for x, y in zip(full.G.state_dict().values(), resumed.G.state_dict().values()))
    # a checkpoint written with one speed resumes under another (weights are stored contiguous)
    plain = train(tiny(model="cdcgan", steps=5, speed="plain"), data, out=tmp_path / "split", resume=True,
                  device="cpu", show_progress=False)
    assert plain.config.speed == "plain" and len(plain.history) == 5


def test_training_from_disk_streams_the_same_batches_as_in_memory(data, tmp_path):
    """A folder of PNGs streamed through a DataLoader (1 worker) trains bit-identically to the arrays."""
    from histogan_lite.datasets import open_data

    images, labels = data
    for i, (im, lab) in enumerate(zip(images, labels)):
        (tmp_path / ["negative", "positive"][lab]).mkdir(exist_ok=True)
        Image.fromarray(im).save(tmp_path / ["negative", "positive"][lab] / f"{i:02d}.png")
    disk = open_data(tmp_path, 64)
    order = np.argsort(labels, kind="stable")  # the folder lists negatives first
    cfg = tiny(model="cdcgan", steps=3)
    a = train(cfg, (images[order], labels[order]), device="cpu", show_progress=False)
    b = train(cfg, disk, device="cpu", show_progress=False, num_workers=1)
    assert a.history.drop(columns="seconds").equals(b.history.drop(columns="seconds"))
    with pytest.raises(ValueError, match=r"images from .* are 64x64 pixels but the model expects 128x128"):
        train(tiny(image_size=128), disk, device="cpu")


def test_keep_checkpoints_keeps_every_checkpoint_and_each_loads(data, tmp_path):
    r = train(tiny(steps=4, checkpoint_every=2, model="cdcgan", g_ema=0.9), data, out=tmp_path, device="cpu",
              show_progress=False, keep_checkpoints=True)
    kept = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert kept == ["step_000002.json", "step_000002.safetensors", "step_000004.json", "step_000004.safetensors"]
    assert json.loads((tmp_path / "checkpoints" / "step_000002.json").read_text())["step"] == 2
    last = load_generator_checkpoint(tmp_path / "checkpoints" / "step_000004.json")  # the moving average
    for x, y in zip(last.state_dict().values(), r.G.state_dict().values()):
        assert torch.equal(x, y)
    early = load_generator_checkpoint(tmp_path / "checkpoints" / "step_000002.json")
    assert not all(torch.equal(x, y) for x, y in zip(early.state_dict().values(), last.state_dict().values()))
    train(tiny(steps=2, checkpoint_every=2), data, out=tmp_path / "plain", device="cpu", show_progress=False)
    assert not (tmp_path / "plain" / "checkpoints").exists()  # off by default


def test_r1_penalty_is_the_squared_input_gradient_of_d():
    # a linear "D" (logit = <w, x>) has grad_x = w for every image, so the penalty is ||w||^2 exactly
    w = torch.randn(3, 4, 4, requires_grad=True)
    x = torch.randn(5, 3, 4, 4, requires_grad=True)
    got = training.r1_penalty((x * w).flatten(1).sum(1), x)
    assert torch.allclose(got, w.detach().pow(2).sum(), rtol=1e-5)
    got.backward()  # create_graph=True: the penalty reaches D's weights, d||w||^2/dw = 2w
    assert torch.allclose(w.grad, 2 * w.detach(), rtol=1e-5)
    with pytest.raises(ValueError, match="must require grad"):
        training.r1_penalty(torch.zeros(5), torch.zeros(5, 3, 4, 4))


def test_r1_gamma_validated_and_refused_under_compile():
    for bad in (-1.0, float("nan"), "1", True):
        with pytest.raises(ValueError, match="r1_gamma"):
            tiny(r1_gamma=bad)
    with pytest.raises(ValueError, match="torch.compile"):
        tiny(r1_gamma=1.0, speed="compile")
    assert tiny(r1_gamma=1.0, speed="channels_last+bf16").r1_gamma == 1.0


@pytest.mark.parametrize("model", ["dcgan", "cdcgan"])
def test_r1_adds_gamma_half_the_penalty_to_d_loss_only(model):
    # same weights, same draws: loss_d grows by gamma/2 * ||grad_x D(x)||^2 on the real batch; G's loss of
    # the step is computed after D's update, so it differs only through D's new weights
    kw = dict(model=model, seed=1, speed="plain", instance_noise=0.0)  # noise would change x between the two
    cfg0, cfg1 = tiny(**kw), tiny(**kw, r1_gamma=10.0)
    images, labels = _speed_data()
    real = torch.from_numpy(images[:8]).permute(0, 3, 1, 2).float() / 127.5 - 1
    y = torch.from_numpy(labels[:8]).long()
    out = []
    for cfg in (cfg0, cfg1):
        torch.manual_seed(0)
        G, D = build_models(cfg)
        if cfg is cfg1:
            x = real.clone().requires_grad_(True)
            expected = 5.0 * training.r1_penalty(D(x, *((y,) if cfg.n_classes else ())), x).item()
        opt_g, opt_d = make_optimizers(G, D, cfg)
        out.append(train_step(G, D, opt_g, opt_d, real, y if cfg.n_classes else None, cfg, 0,
                              step_generator(cfg.seed, 0)))
    assert expected > 0
    assert out[1]["loss_d"] - out[0]["loss_d"] == pytest.approx(expected, rel=1e-3)
    assert out[1]["d_real"] == pytest.approx(out[0]["d_real"], rel=1e-6)  # same forward pass before the update


def test_cli_r1_gamma_reaches_the_checkpoint(data, tmp_path):
    from histogan_lite.train import build_parser, config_from_args
    args = build_parser().parse_args(["--preset", "tiny", "--r1-gamma", "0.5", "--out", str(tmp_path / "o")])
    assert config_from_args(args).r1_gamma == 0.5
    r = train(tiny(steps=2, r1_gamma=0.5, checkpoint_every=2), data, out=tmp_path / "run", device="cpu",
              show_progress=False)
    assert np.isfinite(r.history.loss_d).all()
    assert Checkpoint.load(tmp_path / "run" / "checkpoint").config.r1_gamma == 0.5
