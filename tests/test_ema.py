"""The moving average of G's weights (histogan_lite.ema; Yazici et al. 2019, beyond the paper)."""

import json

import pytest
import torch

from histogan_lite.ema import GeneratorEMA, ema_decay_at
from histogan_lite.models import Generator
from histogan_lite.training import TrainConfig, load_data, load_generator_checkpoint, train

torch.set_num_threads(1)


def tiny(**kw):
    base = dict(model="dcgan", image_size=64, width=16, batch_size=8, steps=4, sample_every=0, checkpoint_every=0,
                g_ema=0.9)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def data():
    return load_data("demo", image_size=64, n_demo=64)


def test_decay_warms_up_then_stays_at_the_target():
    assert ema_decay_at(0.999, 0) == pytest.approx(0.1)
    assert ema_decay_at(0.999, 10) == pytest.approx(11 / 20)
    assert ema_decay_at(0.999, 10**6) == 0.999


def test_average_follows_the_closed_form_for_parameters_and_batch_norm_statistics():
    torch.manual_seed(0)
    G = Generator(64, 0, latent_dim=8, width=16)
    ema = GeneratorEMA(G, 0.5)
    name = "net.1.running_mean" if "net.1.running_mean" in G.state_dict() else next(
        k for k in G.state_dict() if k.endswith("running_mean"))
    expected = {k: v.clone() for k, v in G.state_dict().items() if v.is_floating_point()}
    for n in range(4):
        with torch.no_grad():
            for p in G.parameters():
                p.add_(torch.randn_like(p))
            G.state_dict()[name].add_(1.0)
        if n == 0:  # the first update copies
            expected = {k: v.clone() for k, v in G.state_dict().items() if v.is_floating_point()}
        else:
            d = ema_decay_at(0.5, n)
            expected = {k: d * expected[k] + (1 - d) * v for k, v in G.state_dict().items() if v.is_floating_point()}
        ema.update_parameters(G)
    got = ema.module.state_dict()
    for k, v in expected.items():
        assert torch.allclose(got[k], v, atol=1e-6), k
    assert not torch.allclose(got[name], G.state_dict()[name])  # the statistics are averaged, not copied
    assert ema.module.training is False


@pytest.mark.parametrize("bad", [1.0, -0.1, 2, "0.9"])
def test_bad_decay_is_refused(bad):
    with pytest.raises(ValueError, match="decay"):
        GeneratorEMA(Generator(64, 0, latent_dim=8, width=16), bad)
    with pytest.raises(ValueError, match="g_ema"):
        tiny(g_ema=bad)


def test_training_keeps_the_average_in_checkpoints_and_resumes_it_exactly(data, tmp_path):
    full = train(tiny(model="cdcgan"), data, out=tmp_path / "full", device="cpu", show_progress=False)
    assert full.G is not full.G_raw and full.G.training is False
    raw_vs_avg = [not torch.equal(a, b) for a, b in zip(full.G.state_dict().values(), full.G_raw.state_dict().values())
                  if a.is_floating_point()]
    assert any(raw_vs_avg)
    train(tiny(model="cdcgan", steps=2, noise_anneal_steps=4), data, out=tmp_path / "split", device="cpu", show_progress=False)
    resumed = train(tiny(model="cdcgan"), data, out=tmp_path / "split", resume=True, device="cpu", show_progress=False)
    for (k, a), b in zip(full.G.state_dict().items(), resumed.G.state_dict().values()):
        assert torch.equal(a, b), k
    # a training checkpoint loads as the averaged generator unless the raw one is asked for
    ckpt = tmp_path / "full" / "checkpoint.safetensors"
    for weights, want in (("sampling", full.G), ("raw", full.G_raw)):
        G = load_generator_checkpoint(ckpt, weights=weights)
        for (k, a), b in zip(G.state_dict().items(), want.state_dict().values()):
            assert torch.equal(a, b), (weights, k)
    with pytest.raises(ValueError, match="weights"):
        load_generator_checkpoint(ckpt, weights="ema")
    assert json.loads((tmp_path / "full" / "checkpoint.json").read_text())["config"]["g_ema"] == 0.9


def test_without_the_average_the_sampling_generator_is_the_trained_one(data):
    r = train(tiny(g_ema=0.0, steps=1), data, device="cpu", show_progress=False)
    assert r.G is r.G_raw
