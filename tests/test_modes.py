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


# ----------------------------------------------------------------------------------------------------
# Issue 15.4, generalised: every public function that runs a model leaves it in the mode it found,
# also when the call stops midway. Each case builds fresh models and returns
# (models, call, inference): ``call()`` runs the function; ``inference`` says the models must run in
# eval mode inside it (a training step instead runs them in the mode the caller chose).
# ----------------------------------------------------------------------------------------------------
def _G(n_classes=0):
    torch.manual_seed(0)
    return Generator(image_size=64, n_classes=n_classes, latent_dim=8, width=8)


def _u8(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)


def _z(n, seed=0):
    return sampling.sample_z(n, 8, seed=seed)


def _case_generate():
    G = _G(2)
    return [G], lambda: sampling.generate(G, _z(3), torch.tensor([0, 1, 0])), True


def _case_generate_images():
    G = _G(2)
    return [G], lambda: protocol.generate_images(G, 3, label=1, seed=0), True


def _case_invert_class():
    from histogan_lite import latent
    G = _G(2)
    return [G], lambda: latent.invert_class(G, _z(2), torch.tensor([0, 1])), True


def _case_generate_with_class_vector():
    from histogan_lite import latent
    G = _G(2)
    return [G], lambda: latent.generate_with_class_vector(G, _z(2), torch.tensor([0.3, 0.7])), True


def _case_reverse_search():
    from histogan_lite import inversion
    G = _G()
    return [G], lambda: inversion.reverse_search(G, _u8(2), steps=2, restarts=1, seed=0, progress=False), True


def _case_attribute_vector_from_images():
    from histogan_lite import latent
    G = _G()
    return [G], lambda: latent.attribute_vector_from_images(G, _u8(2), _u8(2, 1), steps=2, restarts=1,
                                                               progress=False), True


def _case_train_encoder():
    from histogan_lite import inversion
    G = _G()
    return [G], lambda: inversion.train_encoder(G, steps=2, batch_size=4, width=8, progress=False), True


def _case_encode():
    from histogan_lite import inversion
    torch.manual_seed(0)
    E = inversion.LatentEncoder(64, 8, width=8)
    return [E], lambda: inversion.encode(E, _u8(3)), True


def _case_layer_table_generator():
    from histogan_lite import models
    G = _G(2)
    return [G], lambda: models.layer_table(G), True


def _case_layer_table_discriminator():
    from histogan_lite import models
    torch.manual_seed(0)
    D = models.Discriminator(image_size=64, n_classes=2, width=8)
    return [D], lambda: models.layer_table(D), True


def _case_clf(fn):
    def case():
        m = _clf()
        return [m], lambda: fn(m), True
    return case


def _case_kid():
    from histogan_lite import quality
    m = _clf()
    return [m], lambda: quality.kid(m, _u8(6), _u8(6, 1), n_subsets=2, subset_size=4), True


def _case_fid():
    from histogan_lite import quality
    m = _clf()
    return [m], lambda: quality.fid(m, _u8(6), _u8(6, 1)), True


def _case_gan_quality():
    from histogan_lite import quality
    m = _clf()
    return [m], lambda: quality.gan_quality(_u8(8), _u8(8, 1), classifier=m, k=2, kid_subsets=2), True


def _case_evaluate_generator():
    from histogan_lite import quality
    G, m = _G(), _clf()
    return [G, m], lambda: quality.evaluate_generator(G, _u8(8, 1), np.r_[[0] * 4, [1] * 4], n=8, classifier=m,
                                                      k=2, kid_subsets=2, keep_images=False), True


def _case_augmentation_experiment():
    G = _G(2)
    y = np.r_[[0] * 8, [1] * 8]
    return [G], lambda: protocol.augmentation_experiment(
        _u8(16), y, _u8(8, 1), y[::2], G, n_negative=4, n_positive=4, n_positive_imbalanced=2, n_generated=4,
        epochs=(1, 1, 1), seeds=(0,), device="cpu", show_progress=False, width=4, val_fraction=0.0), True


def _case_slider(name):
    def case():
        from histogan_lite import latent, widgets
        G = _G(2)
        calls = {
            "interpolation_slider": lambda: widgets.interpolation_slider(G, _z(1), _z(1, 1), 0, n_frames=2, live=False),
            "class_mix_slider": lambda: widgets.class_mix_slider(G, _z(1), n_frames=2, live=False),
            "attribute_slider": lambda: widgets.attribute_slider(G, _z(1), latent.subtract(_z(1), _z(1, 1)).view(-1),
                                                                 labels=0, n_frames=2, live=False),
        }
        return [G], calls[name], True
    return case


def _case_toy_gan_step():
    from histogan_lite import toy
    torch.manual_seed(0)
    G, D = toy.ToyGenerator(), toy.ToyDiscriminator()
    opt_g, opt_d = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
    real = toy.ring_data(8)
    return [G, D], lambda: toy.toy_gan_step(G, D, opt_d, opt_g, real, torch.Generator().manual_seed(0)), False


def _case_train_step():
    from histogan_lite import training
    config = training.preset("tiny", model="cdcgan", width=8, latent_dim=8, batch_size=4, speed="plain")
    G, D = training.build_models(config)
    opt_g, opt_d = training.make_optimizers(G, D, config)
    real = torch.rand(4, 3, 64, 64) * 2 - 1
    return [G, D], lambda: training.train_step(G, D, opt_g, opt_d, real, torch.tensor([0, 1, 0, 1]), config, 0,
                                               training.step_generator(0, 0)), False


def _case_quality_table():
    from histogan_lite import quality
    G, m = _G(), _clf()
    return [G, m], lambda: quality.quality_table({"g": G}, n=6, n_train=0, classifier=m, k=2), True


def _case_search_z():
    # the core of reverse_search: runs G in the mode its caller set (reverse_search: eval)
    from histogan_lite import inversion
    G = _G()

    class Bar:
        def update(self, _n):
            pass

        def set_postfix(self, **_kw):
            pass

    target = torch.zeros(2, 3, 64, 64)
    return [G], lambda: inversion.search_z(G, target, None, _z(2), inversion._BestSoFar(1, 2, 8, torch.device("cpu")),
                                           Bar(), steps=2, lr=0.1, constraint="clamp", patience=None, tol=1e-3,
                                           target_psnr=None), False


MODEL_RUNNERS = {
    "sampling.generate": _case_generate,
    "protocol.generate_images": _case_generate_images,
    "protocol.augmentation_experiment": _case_augmentation_experiment,
    "latent.invert_class": _case_invert_class,
    "latent.generate_with_class_vector": _case_generate_with_class_vector,
    "latent.attribute_vector_from_images": _case_attribute_vector_from_images,
    "inversion.reverse_search": _case_reverse_search,
    "inversion.train_encoder": _case_train_encoder,
    "inversion.encode": _case_encode,
    "models.layer_table[G]": _case_layer_table_generator,
    "models.layer_table[D]": _case_layer_table_discriminator,
    "gradcam.grad_cam": _case_clf(lambda m: gradcam.grad_cam(m, IMAGES)),
    "classifier.predict_proba": _case_clf(lambda m: classifier.predict_proba(m, IMAGES)),
    "classifier.predict": _case_clf(lambda m: classifier.predict(m, IMAGES)),
    "classifier.accuracy": _case_clf(lambda m: classifier.accuracy(m, IMAGES, [0, 1, 0])),
    "classifier.features": _case_clf(lambda m: classifier.features(m, IMAGES)),
    "distances.kid": _case_kid,  # also quality.kid, evaluation.kid (re-exports)
    "distances.fid": _case_fid,
    "quality.gan_quality": _case_gan_quality,
    "quality.evaluate_generator": _case_evaluate_generator,
    "widgets.interpolation_slider": _case_slider("interpolation_slider"),
    "widgets.class_mix_slider": _case_slider("class_mix_slider"),
    "widgets.attribute_slider": _case_slider("attribute_slider"),
    "quality.quality_table": _case_quality_table,
    "inversion.search_z": _case_search_z,
    "toy.toy_gan_step": _case_toy_gan_step,
    "training.train_step": _case_train_step,
}


class _Midway(RuntimeError):
    pass


def _flags(models):
    return [[s.training for s in m.modules()] for m in models]


@pytest.mark.parametrize("fail", [False, True], ids=["returns", "raises-midway"])
@pytest.mark.parametrize("mode", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", list(MODEL_RUNNERS))
def test_every_model_running_function_keeps_the_mode(name, mode, fail):
    models, call, inference = MODEL_RUNNERS[name]()
    for m in models:
        m.train(mode)
    before = _flags(models)
    seen = []

    def hook_for(root):
        def hook(_module, _args):
            seen.append(root.training)  # the mode the model runs in inside the function
            if fail:
                raise _Midway("stopped after the model was put in its running mode")
        return hook

    # on the model and its direct children: ``features`` and Grad-CAM call parts, not ``forward``
    handles = [sub.register_forward_pre_hook(hook_for(m)) for m in models for sub in (m, *m.children())]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if fail:
                with pytest.raises(_Midway):
                    call()
            else:
                call()
    finally:
        for h in handles:
            h.remove()
    assert seen, f"{name} never ran its model"
    assert set(seen) == ({False} if inference else {mode}), f"{name} ran its model in the wrong mode: {seen}"
    assert _flags(models) == before, f"{name} left a model in another mode than it found"


@pytest.mark.parametrize("mode", [True, False])
def test_bad_argument_after_the_model_ran_keeps_the_mode(mode):
    # the generator has already made its images when the check of the real patches' size fails
    from histogan_lite import quality
    G, m = _G(), _clf()
    G.train(mode), m.train(mode)
    with pytest.raises(ValueError):
        quality.evaluate_generator(G, np.zeros((8, 32, 32, 3), np.uint8), None, n=4, classifier=m, k=2)
    assert G.training is mode and m.training is mode
    G2 = _G(2).train(mode)
    with pytest.raises(ValueError, match="images but the real patches"):
        protocol.augmentation_experiment(np.zeros((4, 32, 32, 3), np.uint8), [0, 0, 1, 1],
                                         np.zeros((2, 32, 32, 3), np.uint8), [0, 1], G2, device="cpu")
    assert G2.training is mode


def test_train_encoder_returns_the_encoder_in_eval_mode_and_restores_the_generator():
    from histogan_lite import inversion
    G = _G().train()
    flags = [p.requires_grad for p in G.parameters()]
    E = inversion.train_encoder(G, steps=2, batch_size=4, width=8, progress=False)
    assert G.training and not any(s.training is False for s in G.modules())
    assert [p.requires_grad for p in G.parameters()] == flags
    assert not E.training and not any(s.training for s in E.modules())


def test_every_hand_mode_switch_in_the_package_is_justified():
    # issue 15.4: a bare ``.eval()`` / ``.train()`` is how functions came to leave models in another mode.
    # Every remaining one (the guard itself, training loops, freshly built models returned ready for
    # inference) says why, with "on purpose" in a comment on its line or the comment lines just above.
    import ast
    import pathlib

    import histogan_lite

    root = pathlib.Path(histogan_lite.__file__).parent
    bare = []
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("eval", "train")):
                continue
            if isinstance(node.func.value, ast.Call) and getattr(node.func.value.func, "id", "") == "super":
                continue  # nn.Module.train overridden: the override is the justified call
            if isinstance(node.func.value, ast.Name) and node.func.value.id == "training":
                continue  # histogan_lite.training.train, the training function, not a mode switch
            i = node.lineno - 1
            context = [lines[i]]
            while i > 0 and lines[i - 1].strip().startswith("#"):
                i -= 1
                context.append(lines[i])
            if not any("on purpose" in line.split("#", 1)[-1] for line in context if "#" in line):
                bare.append(f"{path.relative_to(root.parent)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not bare, "mode switches without a reason (use utils.eval_mode, or say why):\n" + "\n".join(bare)


# public functions that take a model but do not run it, and why
TAKES_A_MODEL_WITHOUT_RUNNING_IT = {
    "checkpoints.save_generator": "writes the weights",
    "checkpoints.save_classifier": "writes the weights",
    "checkpoints.classifier_config": "reads attributes",
    "sampling.sample_z": "its generator is a torch.Generator (random numbers), not G",
    "training.make_optimizers": "builds Adam over the parameters",
    "training.apply_speed": "wraps the models (channels_last, compile), runs nothing",
    "training.discriminator_pass": "a part of training.train_step, run through it above",
    "training.generator_pass": "a part of training.train_step, run through it above",
    "utils.eval_mode": "the guard itself",
}


def test_every_public_function_that_takes_a_model_is_covered():
    # a new public function taking a model must join MODEL_RUNNERS (or say why it runs none)
    import importlib
    import inspect
    import pkgutil

    import histogan_lite

    model_args = {"generator", "generators", "model", "models", "classifier", "encoder", "G", "D", "E", "net"}
    covered = {name.split("[")[0] for name in MODEL_RUNNERS} | set(TAKES_A_MODEL_WITHOUT_RUNNING_IT)
    missing = []
    for info in pkgutil.iter_modules(histogan_lite.__path__):
        if info.name.startswith("_") or info.ispkg:
            continue
        mod = importlib.import_module(f"histogan_lite.{info.name}")
        for name, fn in vars(mod).items():
            if name.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != mod.__name__:
                continue
            if set(inspect.signature(fn).parameters) & model_args and f"{info.name}.{name}" not in covered:
                missing.append(f"{info.name}.{name}")
    assert not missing, f"public functions taking a model with no mode test: {missing}"
