"""kind="inception": the paper's Inception V3 by transfer learning (issue 13.4), tested without torchvision.

torchvision is optional and does not import beside this machine's torch, and no test may download
weights, so a small fake ``torchvision`` module stands in for it: it has the layer names of torchvision's
``Inception3`` and a fake ``IMAGENET1K_V1`` weights loader. What is exercised is this package's code up to
the weights: the lazy import, which weights are asked for, the 299-px resize, the normalisation, the new
final layer, freezing (no gradient, inference-mode batch norm) and unfreezing, training only the head,
and the clear error when torchvision is missing.
"""

from __future__ import annotations

import re
import subprocess
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn as nn

from histogan_lite import classifier as clf
from histogan_lite import evaluation as ev

_LAYERS = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
           "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
           "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c")
_WIDTH = 8  # stands in for Inception's 2048 pooled features


class _FakeInception3(nn.Module):
    """torchvision's Inception3 layer names with tiny layers; records the input of its first layer."""

    def __init__(self, transform_input: bool, aux_logits: bool):
        super().__init__()
        self.transform_input, self.aux_logits = transform_input, aux_logits
        for name in _LAYERS:
            setattr(self, name, nn.Identity())
        # 299 px -> 10 px in one cheap strided convolution, then a batch norm (frozen layers must not move it)
        self.Conv2d_1a_3x3 = nn.Sequential(nn.Conv2d(3, _WIDTH, 3, stride=30), nn.BatchNorm2d(_WIDTH), nn.ReLU())
        self.Mixed_7c = nn.Conv2d(_WIDTH, _WIDTH, 3, padding=1)
        self.AuxLogits = nn.Linear(4, 1000) if aux_logits else None
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(_WIDTH, 1000)
        self.seen = []
        self.Conv2d_1a_3x3.register_forward_pre_hook(lambda m, args: self.seen.append(args[0].detach().clone()))


def _fake_torchvision(calls: list, fail_weights: bool = False) -> types.ModuleType:
    tv = types.ModuleType("torchvision")
    tv.models = types.ModuleType("torchvision.models")

    class Inception_V3_Weights:  # noqa: N801 (torchvision's name)
        IMAGENET1K_V1 = "fake-imagenet1k-v1"

    def inception_v3(weights=None, **kwargs):
        calls.append({"weights": weights, **kwargs})
        if weights is not None:
            if fail_weights:
                raise OSError("urlopen error [Errno -3] Temporary failure in name resolution")
            # torchvision: pretrained weights force transform_input=True and build the auxiliary head
            net = _FakeInception3(transform_input=True, aux_logits=True)
            with torch.no_grad():
                for p in net.parameters():
                    p.fill_(0.01)  # "ImageNet" values the test can recognise
            return net
        return _FakeInception3(transform_input=False, aux_logits=kwargs.get("aux_logits", True))

    tv.models.Inception_V3_Weights = Inception_V3_Weights
    tv.models.inception_v3 = inception_v3
    return tv


@pytest.fixture
def fake_tv(monkeypatch):
    calls: list = []
    monkeypatch.setitem(sys.modules, "torchvision", _fake_torchvision(calls))
    return calls


def test_missing_torchvision_raises_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # makes `import torchvision` raise ImportError
    for kind in ("inception", "inception_v3"):
        with pytest.raises(ImportError, match=r"pip install torchvision") as info:
            clf.build_classifier(kind)
        assert "kind='cnn'" in str(info.value) and "histogan-lite[inception]" in str(info.value)
    with pytest.raises(ImportError, match=r"pip install torchvision"):
        ev.train_classifier(np.zeros((8, 32, 32, 3), np.uint8), [0, 1] * 4, kind="inception", show_progress=False)


def test_importing_the_package_does_not_import_torchvision():
    code = ("import sys, histogan_lite, histogan_lite.evaluation, histogan_lite.classifier, histogan_lite.quality; "
            "print('torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_pretrained_inception_asks_for_imagenet_weights_replaces_head_and_freezes(fake_tv):
    model = clf.build_classifier("inception", image_size=64, pretrained=True)
    assert fake_tv == [{"weights": "fake-imagenet1k-v1"}]
    assert model.kind == "inception_v3" and model.image_size == 64 and model.n_classes == 2
    assert model.net.aux_logits is False and model.net.AuxLogits is None
    # the 1000-class ImageNet layer is replaced by a new 2-class one (fresh weights, not the "ImageNet" 0.01)
    assert isinstance(model.net.fc, nn.Linear) and (model.net.fc.in_features, model.net.fc.out_features) == (_WIDTH, 2)
    assert not torch.all(model.net.fc.weight == 0.01)
    assert model.last_conv is model.net.Mixed_7c
    # transfer learning: only the new head trains
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"net.fc.weight", "net.fc.bias"}
    assert model.frozen is True
    bn = model.net.Conv2d_1a_3x3[1]
    model.train()
    assert model.training and model.net.fc.training and model.net.dropout.training
    assert not bn.training, "frozen ImageNet batch norm stays in inference mode under model.train()"
    # two-stage fine-tuning: unfreeze everything
    model.set_frozen(False)
    assert all(p.requires_grad for p in model.parameters()) and bn.training
    model.set_frozen(True)
    assert not bn.training and not model.net.Mixed_7c.weight.requires_grad


def test_inception_resizes_to_299_and_normalises_as_the_weights_expect(fake_tv):
    x = torch.linspace(-1, 1, 2 * 3 * 64 * 64).reshape(2, 3, 64, 64)
    pre = clf.build_classifier("inception", image_size=64, pretrained=True).eval()
    out = pre(x)
    assert out.shape == (2, 2) and out.dtype == torch.float32
    seen = pre.net.seen[-1]
    assert seen.shape == (2, 3, 299, 299) == (2, 3, clf.INCEPTION_INPUT_SIZE, clf.INCEPTION_INPUT_SIZE)
    # ImageNet weights (transform_input=True) take [-1, 1] as is: the corners of a bilinear resize keep values
    assert float(seen.min()) == pytest.approx(-1, abs=1e-3) and float(seen.max()) == pytest.approx(1, abs=1e-3)
    scratch = clf.build_classifier("inception_v3", image_size=64, pretrained=False).eval()
    assert fake_tv[-1] == {"weights": None, "aux_logits": False, "init_weights": True}
    assert scratch.frozen is False and all(p.requires_grad for p in scratch.parameters())
    scratch(torch.full((1, 3, 64, 64), -1.0))  # black patches
    seen = scratch.net.seen[-1]
    assert seen.shape == (1, 3, 299, 299)
    # without transform_input: ImageNet mean/std normalisation of [0, 1] pixels, per channel
    black = (0 - torch.tensor(clf._IMAGENET_MEAN)) / torch.tensor(clf._IMAGENET_STD)
    assert torch.allclose(seen, black.view(1, 3, 1, 1).expand_as(seen), atol=1e-5)
    feats = ev.features(scratch, x)
    assert feats.shape == (2, _WIDTH) and feats.dtype == np.float64
    # any patch size works: 96-px PCam patches too, no size check as for the CNN
    assert scratch(torch.zeros(1, 3, 96, 96)).shape == (1, 2)


def test_freeze_options_are_checked(fake_tv):
    with pytest.raises(ValueError, match="needs pretrained=True"):
        clf.build_classifier("inception", pretrained=False, freeze=True)
    with pytest.raises(ValueError, match="kind='cnn' trains every layer"):
        clf.build_classifier("cnn", freeze=True)
    full = clf.build_classifier("inception", pretrained=True, freeze=False)
    assert full.frozen is False and all(p.requires_grad for p in full.parameters())
    with pytest.raises(ValueError, match="kind must be 'cnn', 'inception'"):
        clf.build_classifier("resnet")


def test_offline_without_cached_weights_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", _fake_torchvision([], fail_weights=True))
    with pytest.raises(RuntimeError, match="could not load the ImageNet weights.*Temporary failure.*kind='cnn'"):
        clf.build_classifier("inception", pretrained=True)


def test_transfer_learning_trains_only_the_new_head(fake_tv):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(16, 32, 32, 3), dtype=np.uint8)
    x[8:] //= 2  # positives darker: something to learn
    y = np.array([0] * 8 + [1] * 8)
    model = ev.train_classifier(x, y, kind="inception", pretrained=True, epochs=2, batch_size=8, val_fraction=0.25,
                                patience=None, augment=False, show_progress=False, device="cpu")
    assert model.iterations == 4  # 12 training images in batches of 8, 2 epochs
    for name, p in model.net.named_parameters():
        if not name.startswith("fc."):
            assert torch.all(p == 0.01), f"frozen ImageNet parameter {name} changed"
    bn = model.net.Conv2d_1a_3x3[1]
    assert torch.all(bn.running_mean == 0) and torch.all(bn.running_var == 1), "batch-norm statistics moved"
    assert int(bn.num_batches_tracked) == 0
    assert not torch.all(model.net.fc.weight == 0.01)
    assert ev.predict_proba(model, x).shape == (16, 2)


def test_chapter6_classifier_parameter_drives_every_classifier():
    """Chapter 6's parameters cell has `classifier = "cnn"` (or "inception"), and every training uses it."""
    import ast

    import nbformat

    from conftest import BOOK

    nb = nbformat.read(str(BOOK / "06_evaluation.ipynb"), as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    line = next(ln for ln in params[0].source.splitlines() if ln.startswith("classifier ="))
    assert ast.literal_eval(line.split("=", 1)[1].split("#")[0].strip()) == "cnn"
    assert '"inception" on Colab' in line
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert 'classifier_options = dict(kind=classifier, pretrained=classifier != "cnn")' in code
    calls = 0
    for cell in nb.cells:
        if cell.cell_type != "code" or "solution" in cell.metadata.get("tags", []):
            continue
        tree = ast.parse(re.sub(r"^(\s*)[%!].*$", r"\1pass", cell.source, flags=re.M))  # IPython magics
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in (
                    "train_classifier", "cross_evaluation", "augmentation_experiment"):
                calls += 1
                assert any(k.arg is None and getattr(k.value, "id", "") == "classifier_options" for k in node.keywords), \
                    f"{node.func.attr} in chapter 6 ignores the classifier parameter"
    assert calls == 3
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert 'classifier = "inception"' in markdown and "pip install torchvision" in markdown


def test_cross_evaluation_passes_the_chapter6_options_to_every_training(fake_tv):
    """Chapter 6 calls cross_evaluation(..., kind=classifier, pretrained=...): each training is an Inception."""
    rng = np.random.default_rng(1)
    real = rng.integers(0, 256, size=(24, 32, 32, 3), dtype=np.uint8)
    gen = rng.integers(0, 256, size=(24, 32, 32, 3), dtype=np.uint8)
    labels = np.array([0, 1] * 12)
    options = dict(kind="inception", pretrained=True)  # what the chapter builds for classifier = "inception"
    table = ev.cross_evaluation(real, labels, gen, labels, sample_counts=(8,), iterations=(1,), n_test=8,
                                batch_size=4, device="cpu", show_progress=False, **options)
    assert table.shape == (1, 4) and ((table >= 0) & (table <= 1)).all().all()
    assert fake_tv == [{"weights": "fake-imagenet1k-v1"}] * 2  # trained on real, trained on generated
    assert [r["iterations run"] for r in table.attrs["runs"]] == [1, 1]
