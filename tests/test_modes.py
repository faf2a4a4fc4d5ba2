"""Issue 15.4 and 15.6: functions that run a model leave it in the mode they found; Grad-CAM's flat maps."""

import warnings

import numpy as np
import pytest
import torch

from histogan_lite import classifier, gradcam, protocol, sampling
from histogan_lite.models import Generator
from histogan_lite.utils import eval_mode

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)


def _clf():
    torch.manual_seed(0)
    return classifier.build_classifier("cnn", image_size=64, width=4)


def test_eval_mode_restores_every_submodule_also_on_error():
    m = _clf().train()
    first = next(m.children())
    first.eval()  # a mixed state: top in train mode, one child in eval mode
    with pytest.raises(RuntimeError):
        with eval_mode(m):
            assert not m.training and not any(s.training for s in m.modules())
            raise RuntimeError("boom")
    assert m.training and not first.training


@pytest.mark.parametrize("mode", [True, False])
@pytest.mark.parametrize("run", ["grad_cam", "predict_proba", "features"])
def test_classifier_functions_keep_the_mode(run, mode):
    m = _clf().train(mode)
    fn = {"grad_cam": gradcam.grad_cam, "predict_proba": classifier.predict_proba, "features": classifier.features}[run]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn(m, IMAGES)
    assert m.training is mode


@pytest.mark.parametrize("mode", [True, False])
def test_generation_keeps_the_mode(mode):
    G = Generator(image_size=64, n_classes=2, latent_dim=8, width=8).train(mode)
    z = sampling.sample_z(2, 8)
    sampling.generate(G, z, torch.tensor([0, 1]))
    assert G.training is mode
    protocol.generate_images(G, 2, label=1, seed=0)
    assert G.training is mode


def test_grad_cam_flat_map_is_zeros_with_a_warning():
    # a constant image through an untrained net gives a map whose spread is float noise
    m = _clf()
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
        m.last_conv.bias.fill_(1.0) if getattr(m.last_conv, "bias", None) is not None else None
    x = np.full((1, 64, 64, 3), 128, np.uint8)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = gradcam.grad_cam(m, x)
    assert out.shape == (1, 64, 64) and out.dtype == np.float32
    assert np.count_nonzero(out) == 0
    assert not any("not writable" in str(w.message) or "non-writable" in str(w.message) for w in rec)


def test_grad_cam_flat_noise_is_not_stretched(monkeypatch):
    # the map a layer yields: 1.0 everywhere plus float noise of 1e-9 -> zeros, with a warning
    noise = torch.ones(1, 1, 4, 4, dtype=torch.float64) + 1e-9 * torch.arange(16.0).view(1, 1, 4, 4)

    class FakeCam:
        def __init__(self, *a, **k):
            pass

        def attribute(self, xb, target, relu_attributions):
            return noise.float().expand(len(xb), 1, 4, 4).clone()

    import captum.attr
    monkeypatch.setattr(captum.attr, "LayerGradCam", FakeCam)
    with pytest.warns(UserWarning, match="1 of 1 maps are flat"):
        out = gradcam.grad_cam(_clf(), IMAGES[:1])
    assert np.count_nonzero(out) == 0


def test_grad_cam_refuses_a_layer_without_spatial_extent():
    m = _clf()
    with pytest.raises(ValueError, match="no spatial extent"):
        gradcam.grad_cam(m, IMAGES[:1], layer=m.head)


@pytest.mark.parametrize("bad", [-0.05, 0.0, 1.2])
def test_label_smoothing_validated_at_every_entry_point(bad):
    # issue 15.5: -0.05 trained through discriminator_loss and the toy GAN though TrainConfig refused it
    from histogan_lite import toy, training
    with pytest.raises(ValueError, match="real_label must lie in"):
        training.discriminator_loss(torch.zeros(2), torch.zeros(2), real_label=bad)
    with pytest.raises(ValueError, match="real_label must lie in"):
        toy.train_toy_gan(torch.zeros(8, 2), steps=1, real_label=bad)
    with pytest.raises(ValueError, match="real_label must lie in"):
        training.TrainConfig(real_label=bad)
