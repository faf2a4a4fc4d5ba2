"""Structure and behaviour of the paper's DCGAN / cDCGAN (paper 3.1)."""

import pytest
import torch
from torch import nn

from histogan_lite.latent import sample_z
from histogan_lite.models import Discriminator, Generator, layer_table

torch.set_num_threads(1)


@pytest.mark.parametrize("size", [64, 128, 256])
def test_generator_shapes_and_layers(size):
    G = Generator(image_size=size, width=32)
    table = layer_table(G)
    s = size // 16
    assert table["output_shape"].tolist() == [
        (32 * s * s,),  # projection of z
        (32, s, s), (32, s, s),  # batch norm + ReLU after reshape
        (16, 2 * s, 2 * s), (16, 2 * s, 2 * s), (16, 2 * s, 2 * s),
        (8, 4 * s, 4 * s), (8, 4 * s, 4 * s), (8, 4 * s, 4 * s),
        (4, 8 * s, 8 * s), (4, 8 * s, 8 * s), (4, 8 * s, 8 * s),
        (3, size, size), (3, size, size),
    ]
    assert table["type"].tolist() == [
        "Linear", "BatchNorm2d", "ReLU",
        "ConvTranspose2d", "BatchNorm2d", "ReLU",
        "ConvTranspose2d", "BatchNorm2d", "ReLU",
        "ConvTranspose2d", "BatchNorm2d", "ReLU",
        "ConvTranspose2d", "Tanh",
    ]
    convs = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(convs) == 4
    assert all(c.kernel_size == (5, 5) and c.stride == (2, 2) for c in convs)
    assert table["params"].iloc[0] == 100 * 32 * s * s


@pytest.mark.parametrize("size", [64, 128, 256])
def test_discriminator_shapes_and_layers(size):
    D = Discriminator(image_size=size, width=32)
    table = layer_table(D)
    s = size // 16
    assert table["type"].tolist() == [
        "Conv2d", "LeakyReLU",  # first convolution: no batch norm
        "Conv2d", "BatchNorm2d", "LeakyReLU",
        "Conv2d", "BatchNorm2d", "LeakyReLU",
        "Conv2d", "BatchNorm2d", "LeakyReLU",
        "Flatten", "Linear",
    ]
    shapes = table["output_shape"].tolist()
    assert shapes[0] == (4, 8 * s, 8 * s)
    assert shapes[2] == (8, 4 * s, 4 * s)
    assert shapes[5] == (16, 2 * s, 2 * s)
    assert shapes[8] == (32, s, s)
    assert shapes[-1] == (1,)
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 4 and all(c.kernel_size == (5, 5) and c.stride == (2, 2) for c in convs)
    assert all(m.negative_slope == 0.2 for m in D.modules() if isinstance(m, nn.LeakyReLU))
    x = torch.rand(3, 3, size, size) * 2 - 1
    assert D(x).shape == (3,)


def test_paper_width_is_half_radford():
    G = Generator(64)
    D = Discriminator(64)
    assert [m.out_channels for m in G.modules() if isinstance(m, nn.ConvTranspose2d)] == [256, 128, 64, 3]
    assert G.project.out_features == 512 * 4 * 4
    assert [m.out_channels for m in D.modules() if isinstance(m, nn.Conv2d)] == [64, 128, 256, 512]


def test_paper_256_generator_output():
    G = Generator(256).eval()
    with torch.no_grad():
        x = G(sample_z(1, seed=0))
    assert x.shape == (1, 3, 256, 256)
    assert sum(p.numel() for p in G.parameters()) == (
        100 * 512 * 256 + 2 * 512  # projection + its batch norm
        + 512 * 256 * 25 + 2 * 256 + 256 * 128 * 25 + 2 * 128 + 128 * 64 * 25 + 2 * 64 + 64 * 3 * 25 + 3
    )


def test_conditional_class_enters_discriminator_after_first_conv():
    D = Discriminator(64, n_classes=2, width=32)
    assert D.conv1.in_channels == 3  # not at the raw input
    assert D.conv[0].in_channels == 4 + 2  # the first convolution's 4 maps + 2 class maps
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    D.eval()
    with torch.no_grad():
        a = D(x, torch.tensor([0, 0]))
        b = D(x, torch.tensor([1, 1]))
    assert not torch.allclose(a, b)
    G = Generator(64, n_classes=2, width=32)
    assert G.project.in_features == 102


def test_output_range_and_label_effect():
    torch.manual_seed(0)
    G = Generator(64, n_classes=2, width=32).eval()
    z = sample_z(8, seed=1) * 50  # push far outside the prior: tanh still bounds the output
    with torch.no_grad():
        x0 = G(z, torch.zeros(8, dtype=torch.long))
        x1 = G(z, 1)
    assert x0.shape == (8, 3, 64, 64)
    assert x0.min() >= -1 and x0.max() <= 1
    assert not torch.allclose(x0, x1)


def test_eval_mode_same_image_alone_or_in_batch():
    torch.manual_seed(0)
    G = Generator(64, width=32)
    G.train()
    with torch.no_grad():  # update the running statistics away from their initial values
        for _ in range(3):
            G(sample_z(16))
    G.eval()
    z = sample_z(5, seed=3)
    with torch.no_grad():
        batch = G(z)
        alone = G(z[2:3])
    torch.testing.assert_close(batch[2:3], alone, atol=1e-5, rtol=0)
    G.train()
    with torch.no_grad():
        batch_train = G(z)
        other = G(torch.cat([z[2:3], sample_z(4, seed=9)]))
    assert not torch.allclose(batch_train[2:3], other[0:1], atol=1e-3)


def test_initialisation_statistics():
    torch.manual_seed(0)
    G = Generator(64)
    w = G.deconv[0].weight.detach()
    assert abs(float(w.mean())) < 1e-3 and abs(float(w.std()) - 0.02) < 1e-3
    gamma = G.project_bn.weight.detach()
    assert abs(float(gamma.mean()) - 1.0) < 0.01 and 0.01 < float(gamma.std()) < 0.03
    assert float(G.project_bn.bias.detach().abs().max()) == 0.0


def test_seeded_construction_is_reproducible():
    torch.manual_seed(5)
    a = Generator(64, width=16)
    torch.manual_seed(5)
    b = Generator(64, width=16)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_bad_arguments():
    with pytest.raises(ValueError, match="image_size must be one of"):
        Generator(image_size=96)
    with pytest.raises(ValueError, match="n_classes must be 0"):
        Discriminator(n_classes=1)
    with pytest.raises(ValueError, match="multiple of 8"):
        Generator(width=12)
    G = Generator(64, width=16)
    with pytest.raises(ValueError, match=r"z must be a float tensor \(N, 100\)"):
        G(torch.zeros(2, 50))
    with pytest.raises(ValueError, match="unconditional"):
        G(torch.zeros(2, 100), torch.zeros(2, dtype=torch.long))
    C = Generator(64, n_classes=2, width=16)
    with pytest.raises(ValueError, match="pass labels"):
        C(torch.zeros(2, 100))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        C(torch.zeros(2, 100), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="integer tensor"):
        C(torch.zeros(2, 100), torch.tensor([0.0, 1.0]))
    D = Discriminator(64, width=16)
    with pytest.raises(ValueError, match=r"x must be a float tensor \(N, 3, 64, 64\)"):
        D(torch.zeros(2, 3, 128, 128))


def test_recipe_options_layers_and_shapes():
    G = Generator(64, width=32, upsample="resize-conv")
    types = layer_table(G)["type"].tolist()
    assert "ConvTranspose2d" not in types and types.count("Upsample") == 4 and types.count("Conv2d") == 4
    assert all(m.kernel_size == (3, 3) and m.stride == (1, 1) for m in G.modules() if isinstance(m, nn.Conv2d))
    G4 = Generator(64, width=32, kernel_size=4)
    assert [m.kernel_size for m in G4.modules() if isinstance(m, nn.ConvTranspose2d)] == [(4, 4)] * 4
    assert G4.eval()(torch.zeros(2, 100)).shape == (2, 3, 64, 64)
    D4 = Discriminator(64, width=32, kernel_size=4)
    assert layer_table(D4)["output_shape"].tolist()[:1] == [(4, 32, 32)]
    assert G.config() == {"kind": "generator", "image_size": 64, "n_classes": 0, "latent_dim": 100, "width": 32,
                          "upsample": "resize-conv", "kernel_size": 5, "z_prior": "uniform"}
    with pytest.raises(ValueError, match="upsample must be one of"):
        Generator(64, width=32, upsample="pixel-shuffle")
    with pytest.raises(ValueError, match="kernel_size must be one of"):
        Discriminator(64, width=32, kernel_size=3)
    with pytest.raises(ValueError, match="label_in must be one of"):
        Discriminator(64, 2, width=32, label_in="last-conv")


@pytest.mark.parametrize("label_in, first_in", [("first-conv", 3), ("input", 5), ("projection", 3)])
def test_discriminator_label_entry(label_in, first_in):
    torch.manual_seed(0)
    D = Discriminator(64, 2, width=32, label_in=label_in).eval()
    assert D.conv1.in_channels == first_in
    assert D.conv[0].in_channels == 4 + (2 if label_in == "first-conv" else 0)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    a, b = D(x, torch.tensor([0, 0])), D(x, torch.tensor([1, 1]))
    assert a.shape == (2,) and not torch.equal(a, b)  # the class changes the logit


def test_spectral_norm_discriminator_is_initialised_and_bounded():
    torch.manual_seed(0)
    D = Discriminator(64, width=32, spectral_norm=True)
    w = D.conv1.parametrizations.weight.original
    assert abs(float(w.detach().std()) - 0.02) < 0.005  # Radford's N(0, 0.02) reached the parametrized weight
    D.train()
    for _ in range(20):  # power iterations converge in train mode
        D(torch.zeros(2, 3, 64, 64))
    s = torch.linalg.matrix_norm(D.conv1.weight.detach().flatten(1), ord=2)
    assert abs(float(s) - 1.0) < 0.05


def test_soft_class_vectors_and_prior():
    G = Generator(64, 2, width=32).eval()
    z = sample_z(3, seed=4)
    hard = G(z, torch.tensor([0, 1, 1]))
    soft = G(z, torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]))
    assert torch.equal(hard, soft)
    half = G(z, torch.full((3, 2), 0.5))
    assert half.shape == (3, 3, 64, 64) and not torch.equal(half, hard)
    with pytest.raises(ValueError, match=r"soft class vectors and must have shape \(3, 2\)"):
        G(z, torch.ones(3))
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        G(z, torch.tensor([[2.0, -1.0]] * 3))
    zn = Generator(64, width=32, z_prior="normal").sample_z(4000, seed=0)
    assert float(zn.min()) < -3.0 and abs(float(zn.std()) - 1.0) < 0.01
    zu = G.sample_z(4000, seed=0)
    assert float(zu.min()) >= -1.0 and float(zu.max()) < 1.0
    assert torch.equal(zu, sample_z(4000, seed=0))
    with pytest.raises(ValueError, match="prior must be"):
        sample_z(2, prior="laplace")
