"""Issue 15.5, generalised: a parameter is validated by one shared check at every entry point that takes it.

``real_label`` was refused by ``TrainConfig`` but trained through ``discriminator_loss`` and the toy GAN.
The same held for ``lr`` (not checked anywhere: ``lr=-1`` trained), ``instance_noise`` (NaN passed),
``batch_size`` (2.5 or 0 reached ``range``), ``steps`` and ``latent_dim``. Each entry point below must
refuse every bad value with a ``ValueError`` whose message starts with the argument's name.
"""

import math

import numpy as np
import pytest
import torch

from histogan_lite import classifier, gradcam, inversion, protocol, sampling, toy, training
from histogan_lite import train as train_cli
from histogan_lite.models import Discriminator, Generator, layer_table

U8 = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
Y = np.array([0, 1, 0, 1])


def _G():
    torch.manual_seed(0)
    return Generator(image_size=64, latent_dim=8, width=8)


def _clf():
    torch.manual_seed(0)
    return classifier.build_classifier("cnn", image_size=64, width=4)


def _encoder():
    torch.manual_seed(0)
    return inversion.LatentEncoder(64, 8, width=8)


# entry point -> call(value) for each parameter; every one must give the argument's name first
ENTRY_POINTS = {
    "lr": {
        "TrainConfig": lambda v: training.TrainConfig(lr=v),
        "toy.train_toy_gan": lambda v: toy.train_toy_gan(toy.ring_data(8), steps=1, lr=v),
        "inversion.reverse_search": lambda v: inversion.reverse_search(_G(), U8[:1], steps=1, lr=v, progress=False),
        "inversion.train_encoder": lambda v: inversion.train_encoder(_G(), steps=1, batch_size=2, lr=v, progress=False),
        "classifier.train_classifier": lambda v: classifier.train_classifier(U8, Y, lr=v, epochs=1, show_progress=False),
    },
    "lr_d": {"TrainConfig": lambda v: training.TrainConfig(lr_d=v)},
    "lr_g": {"TrainConfig": lambda v: training.TrainConfig(lr_g=v)},
    "batch_size": {
        "TrainConfig": lambda v: training.TrainConfig(batch_size=v),
        "toy.train_toy_gan": lambda v: toy.train_toy_gan(toy.ring_data(8), steps=1, batch_size=v),
        "inversion.train_encoder": lambda v: inversion.train_encoder(_G(), steps=1, batch_size=v, progress=False),
        "inversion.encode": lambda v: inversion.encode(_encoder(), U8, batch_size=v),
        "classifier.train_classifier": lambda v: classifier.train_classifier(U8, Y, batch_size=v, epochs=1,
                                                                              show_progress=False),
        "sampling.generate": lambda v: sampling.generate(_G(), sampling.sample_z(2, 8), batch_size=v),
        "protocol.generate_images": lambda v: protocol.generate_images(_G(), 2, batch_size=v),
        "gradcam.grad_cam": lambda v: gradcam.grad_cam(_clf(), U8, batch_size=v),
        "classifier.predict_proba": lambda v: classifier.predict_proba(_clf(), U8, batch_size=v),
        "classifier.accuracy": lambda v: classifier.accuracy(_clf(), U8, Y, batch_size=v),
        "classifier.features": lambda v: classifier.features(_clf(), U8, batch_size=v),
        "models.layer_table": lambda v: layer_table(_G(), batch_size=v),
    },
    "steps": {
        "TrainConfig": lambda v: training.TrainConfig(steps=v),
        "toy.train_toy_gan": lambda v: toy.train_toy_gan(toy.ring_data(8), steps=v),
        "inversion.reverse_search": lambda v: inversion.reverse_search(_G(), U8[:1], steps=v, progress=False),
        "inversion.train_encoder": lambda v: inversion.train_encoder(_G(), steps=v, batch_size=2, progress=False),
    },
    "latent_dim": {
        "TrainConfig": lambda v: training.TrainConfig(latent_dim=v),
        "toy.train_toy_gan": lambda v: toy.train_toy_gan(toy.ring_data(8), steps=1, latent_dim=v),
        "models.Generator": lambda v: Generator(image_size=64, latent_dim=v, width=8),
        "inversion.LatentEncoder": lambda v: inversion.LatentEncoder(64, v, width=8),
        "sampling.sample_z": lambda v: sampling.sample_z(2, v),
    },
    "instance_noise": {
        "TrainConfig": lambda v: training.TrainConfig(instance_noise=v),
    },
    "image_size": {
        "TrainConfig": lambda v: training.TrainConfig(image_size=v),
        "models.Generator": lambda v: Generator(image_size=v, width=8),
        "models.Discriminator": lambda v: Discriminator(image_size=v, width=8),
    },
}

# values every entry point refuses (a bool is not a number here; NaN never passes a range check)
BAD = {
    "lr": [-0.1, 0.0, 1.5, math.nan, math.inf, True, "2e-4"],
    "lr_d": [-0.1, 0.0, 1.5, math.nan, True],
    "lr_g": [0.0, 1.5, math.nan],
    "batch_size": [0, -1, 2.5, True, "64"],
    "steps": [-1, 1.5, True, "10"],
    "latent_dim": [0, -1, 2.5, True],
    "instance_noise": [-0.1, math.nan, math.inf, True, "0.1"],
    "image_size": [0, 32, 100, 2.5, True],
}

CASES = [(arg, entry, bad) for arg, entries in ENTRY_POINTS.items() for entry in entries for bad in BAD[arg]]


@pytest.mark.parametrize("arg, entry, bad", CASES, ids=[f"{e}-{a}={b!r}" for a, e, b in CASES])
def test_every_entry_point_refuses_a_bad_value_naming_the_argument(arg, entry, bad):
    with pytest.raises(ValueError, match=rf"^{arg} must"):
        ENTRY_POINTS[arg][entry](bad)


@pytest.mark.parametrize("entry", ["inversion.reverse_search", "inversion.train_encoder"])
def test_zero_steps_are_refused_where_a_search_needs_one(entry):
    # TrainConfig accepts steps=0 (a run that only writes its start); a search or an encoder needs a step
    with pytest.raises(ValueError, match="^steps must be a positive integer, got 0"):
        ENTRY_POINTS["steps"][entry](0)


@pytest.mark.parametrize("good", [1e-4, 2e-4, 0.1, 0.5])
def test_the_learning_rates_the_book_uses_still_pass(good):
    from histogan_lite.utils import check_lr

    assert check_lr(good) == good
    assert training.TrainConfig(lr=good, lr_d=good, lr_g=good).lr == good


def test_numpy_integers_count_as_integers():
    from histogan_lite.utils import check_int

    assert check_int(np.int64(64), "batch_size") == 64 and type(check_int(np.int64(3), "steps")) is int


@pytest.mark.parametrize("flag, value, name", [("--lr", "-1", "lr"), ("--instance-noise", "nan", "instance_noise"),
                                               ("--lr-d", "0", "lr_d")])
def test_the_train_command_refuses_with_one_line_naming_the_option(tmp_path, capsys, flag, value, name):
    code = train_cli.main(["--data", "demo", "--preset", "tiny", "--steps", "1", "--out", str(tmp_path / "run"),
                           flag, value])
    err = capsys.readouterr().err
    assert code == 1 and f"error: {name} must" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("bad", [0, 8, 2.5, True, "64"])
def test_the_classifier_takes_any_patch_size_from_16_but_checks_it_the_shared_way(bad):
    # the classifier reads any patch size (PCam: 96 px), the GAN only 64 / 128 / 256; both refuse non-integers
    with pytest.raises(ValueError, match="^image_size must be an integer >= 16"):
        classifier.build_classifier("cnn", image_size=bad)
    assert classifier.build_classifier("cnn", image_size=96, width=4).image_size == 96
