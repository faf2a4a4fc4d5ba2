"""Checkpoint I/O (histogan_lite.checkpoints): names with dots, no silent overwrite, architecture checks."""

import json

import pytest
import torch

from histogan_lite import checkpoints as ck
from histogan_lite import train as train_cli
from histogan_lite.models import Generator


def _g(seed, width=8):
    torch.manual_seed(seed)
    return Generator(image_size=64, n_classes=0, latent_dim=16, width=width)


def test_names_with_dots_keep_every_dot(tmp_path):
    # issue 15.1: dcgan.epoch1 and dcgan.epoch2 both used to write dcgan.safetensors
    assert ck.checkpoint_paths(tmp_path / "dcgan.epoch1.safetensors") == (
        tmp_path / "dcgan.epoch1.safetensors", tmp_path / "dcgan.epoch1.json")
    assert ck.checkpoint_paths(tmp_path / "a.b.c") == (tmp_path / "a.b.c.safetensors", tmp_path / "a.b.c.json")
    assert ck.checkpoint_paths(tmp_path / "a.b.json")[0] == tmp_path / "a.b.safetensors"
    g1, g2 = _g(1), _g(2)
    ck.save_generator(g1, tmp_path / "dcgan.epoch1.safetensors", dtype=torch.float32)
    ck.save_generator(g2, tmp_path / "dcgan.epoch2.safetensors", dtype=torch.float32)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dcgan.epoch1.json", "dcgan.epoch1.safetensors", "dcgan.epoch2.json", "dcgan.epoch2.safetensors"]
    back = ck.load_generator_checkpoint(tmp_path / "dcgan.epoch1.safetensors")
    w = "project.0.weight" if "project.0.weight" in back.state_dict() else next(iter(back.state_dict()))
    assert torch.equal(back.state_dict()[w], g1.state_dict()[w])
    assert not torch.equal(back.state_dict()[w], g2.state_dict()[w])


def test_no_silent_overwrite(tmp_path):
    ck.save_generator(_g(1), tmp_path / "g")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        ck.save_generator(_g(2), tmp_path / "g.safetensors")
    ck.save_generator(_g(2), tmp_path / "g", overwrite=True)


def test_json_claiming_another_architecture_is_a_value_error(tmp_path):
    # issue 15.2: the JSON says width 16, the weights are width 8 -> ValueError naming file and tensor
    st = ck.save_generator(_g(1, width=8), tmp_path / "g")
    js = tmp_path / "g.json"
    meta = json.loads(js.read_text())
    meta["generator"]["width"] = 16
    js.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"g\.safetensors.*shape.*width"):
        ck.load_generator_checkpoint(st)


def test_resume_from_mismatched_checkpoint_prints_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--data", "demo", "--n-demo", "16", "--image-size", "64", "--width", "8", "--batch-size", "4",
            "--steps", "1", "--quiet", "--out", str(out)]
    assert train_cli.main(args) == 0
    capsys.readouterr()
    js = out / "checkpoint.json"
    meta = json.loads(js.read_text())
    meta["generator"]["width"] = 16
    meta["config"]["width"] = 16
    js.write_text(json.dumps(meta))
    assert train_cli.main(args + ["--resume", "--steps", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("histogan-train: error:") and "checkpoint" in err
    assert len(err.splitlines()) == 1


# ------------------------------------------------------------------------------- classifiers: the same format
def _clf(seed=0, width=8):
    from histogan_lite.classifier import build_classifier

    torch.manual_seed(seed)
    return build_classifier("cnn", image_size=32, n_classes=2, width=width).eval()


def test_classifier_checkpoint_is_the_safetensors_json_pair(tmp_path):
    model = _clf()
    st = ck.save_classifier(model, tmp_path / "clf.v1")
    assert st == tmp_path / "clf.v1.safetensors"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clf.v1.json", "clf.v1.safetensors"]
    meta = json.loads((tmp_path / "clf.v1.json").read_text())
    assert meta["format"] == ck.CHECKPOINT_FORMAT and meta["version"] == ck.CHECKPOINT_VERSION
    assert meta["kind"] == "classifier"
    assert meta["classifier"] == {"kind": "cnn", "image_size": 32, "n_classes": 2, "width": 8}
    assert meta["sha256"] == ck._sha256(st)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        ck.save_classifier(model, tmp_path / "clf.v1.json")
    back = ck.load_classifier(tmp_path / "clf.v1", device="cpu")
    assert not back.training
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(back(x), model(x))


def test_classifier_json_claiming_another_width_names_the_tensor(tmp_path):
    st = ck.save_classifier(_clf(width=8), tmp_path / "clf")
    js = tmp_path / "clf.json"
    meta = json.loads(js.read_text())
    meta["classifier"]["width"] = 16
    js.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"clf\.safetensors: tensor 'body\.0\.weight' has shape \(8, 3, 3, 3\).*width 16"):
        ck.load_classifier(st)


def test_classifier_weights_changed_after_saving_fail_the_sha256(tmp_path):
    st = ck.save_classifier(_clf(), tmp_path / "clf")
    data = bytearray(st.read_bytes())
    data[-1] ^= 0xFF
    st.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        ck.load_classifier(st)


def test_generator_checkpoint_is_not_loaded_as_a_classifier(tmp_path):
    st = ck.save_generator(_g(1), tmp_path / "g")
    with pytest.raises(ValueError, match="not a classifier checkpoint: its kind is 'generator'"):
        ck.load_classifier(st)


def test_classifier_of_the_earlier_one_file_format_still_loads(tmp_path):
    # the format before issue 14: one .safetensors file, configuration in the header metadata, no JSON
    from safetensors.torch import save_file

    model = _clf(seed=3)
    old = tmp_path / "old.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(old),
              metadata={"kind": ck.CLASSIFIER_KIND, "classifier": "cnn", "image_size": "32", "n_classes": "2", "width": "8"})
    back = ck.load_classifier(old, device="cpu")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(back(x), model(x))
