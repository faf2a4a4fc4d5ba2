"""Issue 15.1, generalised: every path derived from a name with several dots keeps every dot.

``Path.with_suffix`` replaces only the last suffix, so ``cdcgan.epoch1`` -> ``cdcgan.safetensors``
was how two checkpoints came to share one file. Checkpoint pairs go through
:func:`histogan_lite.checkpoints.checkpoint_paths`; the other derivations are shown safe here.
"""

import json

import pytest
import torch

from histogan_lite import checkpoints as ck
from histogan_lite.models import Generator
from conftest import load_data_script



def _cg(seed):
    torch.manual_seed(seed)
    return Generator(image_size=64, n_classes=2, latent_dim=8, width=8)


def _script(name):
    return load_data_script(name)


@pytest.mark.parametrize("given", ["cdcgan.epoch1", "cdcgan.epoch1.safetensors", "cdcgan.epoch1.json"])
def test_run_evaluation_describes_the_checkpoint_it_loaded(tmp_path, given):
    # it read step and SHA-256 from cdcgan.json / cdcgan.safetensors (with_suffix) for cdcgan.epoch1
    import hashlib
    import types

    run_evaluation = _script("run_evaluation")
    ck.save_generator(_cg(1), tmp_path / "cdcgan.epoch1", step=1, dtype=torch.float32)
    ck.save_generator(_cg(2), tmp_path / "cdcgan.epoch2", step=2, dtype=torch.float32)
    ck.save_generator(_cg(3), tmp_path / "cdcgan", step=3, dtype=torch.float32)
    G, desc = run_evaluation.load_cdcgan(types.SimpleNamespace(checkpoint=str(tmp_path / given), generator=None), "cpu")
    digest = hashlib.sha256((tmp_path / "cdcgan.epoch1.safetensors").read_bytes()).hexdigest()
    assert "(step 1," in desc and digest[:16] in desc
    assert torch.equal(G.project.weight, _cg(1).project.weight)


def test_pretrained_record_and_card_of_a_dotted_name(tmp_path, monkeypatch):
    from histogan_lite import pretrained

    monkeypatch.setattr(pretrained, "CHECKPOINT_DIR", tmp_path)
    monkeypatch.setitem(pretrained.NAMES, "cdcgan-64.v2", "a test entry")
    ck.save_generator(_cg(1), tmp_path / "cdcgan-64.v2", step=7, dtype=torch.float32)
    (tmp_path / "cdcgan-64.v2.md").write_text("card v2", encoding="utf-8")
    (tmp_path / "cdcgan-64.json").write_text(json.dumps({"step": 99}), encoding="utf-8")  # a decoy
    (tmp_path / "cdcgan-64.md").write_text("decoy", encoding="utf-8")
    assert pretrained.checkpoint_info("cdcgan-64.v2")["step"] == 7
    assert pretrained.model_card("cdcgan-64.v2") == "card v2"


def test_demo_slide_companions_keep_the_slide_name(tmp_path):
    # tumor.v2.tif -> tumor.v2.xml and tumor.v2_mask.png (an existing one is refused, not overwritten)
    from histogan_lite.synthetic_slides import write_demo_slide

    (tmp_path / "tumor.xml").write_text("another slide's annotations")
    (tmp_path / "tumor.v2.xml").write_text("this slide's old annotations")
    with pytest.raises(FileExistsError, match=r"tumor\.v2\.xml"):
        write_demo_slide(tmp_path / "tumor.v2.tif", "tumor", 0, "small", stains={}, renderer_version="test",
                         show_progress=False)
    (tmp_path / "tumor.v2.xml").unlink()
    (tmp_path / "tumor.v2_mask.png").write_bytes(b"")
    with pytest.raises(FileExistsError, match=r"tumor\.v2_mask\.png"):
        write_demo_slide(tmp_path / "tumor.v2.tif", "tumor", 0, "small", stains={}, renderer_version="test",
                         show_progress=False)


def test_quality_classifier_cache_with_a_dotted_renderer_version(tmp_path, monkeypatch):
    # the cache name holds the renderer version; a dotted one must still give one pair per version
    from histogan_lite import quality, synthetic

    monkeypatch.setenv("HISTOGAN_DATA", str(tmp_path))
    monkeypatch.setattr(synthetic, "GENERATOR_VERSION", "11.1")
    m = quality.quality_classifier(64, n=8, epochs=1, seed=3)
    files = sorted(p.name for p in (tmp_path / "quality").iterdir())
    assert files == ["classifier_renderer11.1_64px_n8_seed3.json", "classifier_renderer11.1_64px_n8_seed3.safetensors"]
    back = quality.quality_classifier(64, n=8, epochs=1, seed=3)  # from the cache
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), back.state_dict().values()))
