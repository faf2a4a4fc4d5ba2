"""The 2-D toy GAN of Chapter 2."""

import math

import pytest
import torch

from histogan_lite.toy import ring_data, train_toy_gan

torch.set_num_threads(1)


def test_ring_data_modes_and_centres():
    x = ring_data(16, modes=8, radius=2.0, std=0.0)
    assert x.shape == (16, 2) and x.dtype == torch.float32
    torch.testing.assert_close(x[0], torch.tensor([2.0, 0.0]))
    torch.testing.assert_close(x[2], torch.tensor([0.0, 2.0]), atol=1e-6, rtol=0)
    torch.testing.assert_close(x[9], torch.tensor([math.sqrt(2), math.sqrt(2)]), atol=1e-6, rtol=0)
    assert torch.equal(ring_data(10, seed=3), ring_data(10, seed=3))
    with pytest.raises(ValueError, match="need n >= 1"):
        ring_data(0)


def test_toy_training_is_reproducible_and_records_history():
    data = ring_data(512)
    a = train_toy_gan(data, steps=20, batch_size=64, snapshot_every=10, n_snapshot=50)
    b = train_toy_gan(data, steps=20, batch_size=64, snapshot_every=10, n_snapshot=50)
    assert a.history.loss_d.tolist() == b.history.loss_d.tolist()
    assert list(a.history.columns) == ["step", "loss_d", "loss_g", "d_real", "d_fake"] and len(a.history) == 20
    assert [s for s, _ in a.snapshots] == [0, 10, 20] and a.snapshots[0][1].shape == (50, 2)
    c = train_toy_gan(data, steps=20, batch_size=64, generator_loss_kind="saturating", snapshot_every=0)
    assert c.history.loss_g.iloc[0] < 0  # log(1 - D(G(z))) is negative
    with pytest.raises(ValueError, match=r"data must be a float tensor \(N, 2\)"):
        train_toy_gan(torch.zeros(5, 3))
