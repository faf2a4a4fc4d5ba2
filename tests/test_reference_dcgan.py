"""benchmarks/reference_dcgan.py: the pytorch/examples DCGAN at 64 and 128 px, cached per size and budget."""

from __future__ import annotations

import pytest
import torch
from conftest import load_data_script


@pytest.fixture(scope="module")
def ref():
    return load_data_script("reference_dcgan", folder="benchmarks")


@pytest.mark.parametrize("size, n_modules", [(64, 14), (128, 17)])
def test_nets_at_both_sizes(ref, size, n_modules):
    torch.manual_seed(0)
    G, D = ref.RefGenerator(32, image_size=size), ref.RefDiscriminator(32, image_size=size)
    with torch.no_grad():
        x = G(torch.randn(3, 100))
        assert x.shape == (3, 3, size, size) and float(x.abs().max()) <= 1
        assert D(x).shape == (3,)
    # the 64-px nets are the example's, module for module (cached 64-px weights keep loading)
    assert len(G.main) == n_modules and len(D.main) == n_modules - 2


def test_an_unsupported_size_is_refused(ref):
    with pytest.raises(ValueError, match="image_size must be 64 or 128, got 96"):
        ref.RefGenerator(32, image_size=96)


def test_train_cache_and_load_at_128_px(ref, tmp_path, monkeypatch):
    monkeypatch.setenv("HISTOGAN_DATA", str(tmp_path))
    torch.set_num_threads(1)
    G, meta = ref.train(1, width=16, n_demo=64, image_size=128, show_progress=False)
    assert meta["image_size"] == 128 and meta["cpu_budget"] == 1 and meta["steps"] >= 1
    assert ref.cache_dir(16, image_size=128).name.endswith("_128px_w16_seed0")
    assert [r["cpu_budget"] for r in ref.list_cached(16, image_size=128)] == [1]
    assert ref.list_cached(16) == []  # the 64-px cache is another folder
    G2, rec = ref.load_reference(1, width=16, image_size=128)
    assert rec["steps"] == meta["steps"]
    assert ref.generate(G2, 2, seed=0).shape == (2, 3, 128, 128)
    with pytest.raises(FileNotFoundError, match=r"cached budgets: \[1\].*--image-size 128"):
        ref.load_reference(2, width=16, image_size=128)
