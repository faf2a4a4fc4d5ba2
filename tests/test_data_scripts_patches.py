"""data_scripts/extract_patches.py, balance.py, download_camelyon.py: exit codes, messages, outputs."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import pandas as pd

from test_downloads import Server
from test_patches import toy  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]


def script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "data_scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_extract_and_balance_cli(toy, tmp_path, capsys):  # noqa: F811
    path, xml, _ = toy
    extract = script("extract_patches")
    out = tmp_path / "out"
    args = ["--slide", str(path), "--annotations", str(xml), "--level", "1", "--patch-size", "64", "--out", str(out),
            "--quiet", "--workers", "2"]  # fmt: skip
    assert extract.main(args) == 0
    assert "32 patches" in capsys.readouterr().out
    assert len(pd.read_csv(out / "patches.csv")) == 32
    other = ["--slide", str(path), "--annotations", str(xml), "--level", "0", "--patch-size", "128", "--out", str(out)]
    assert extract.main(other + ["--quiet"]) == 1
    err = capsys.readouterr().err
    assert "another patch dataset" in err and "--overwrite" in err
    assert extract.main(["--slide", str(path), "--level", "7", "--out", str(tmp_path / "x"), "--quiet"]) == 1
    assert "level 7 does not exist in toy.tif" in capsys.readouterr().err and not (tmp_path / "x").exists()
    assert extract.main(["--slide", str(path), "--annotations", "none", "--annotations", str(xml), "--out",
                         str(tmp_path / "y")]) == 2  # fmt: skip
    balance = script("balance")
    assert balance.main([str(out / "patches.csv"), "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert "before balancing" in text and "after balancing" in text
    counts = pd.read_csv(out / "patches_balanced.csv")["label"].value_counts().to_dict()
    assert counts == {0: 10, 1: 10}
    assert balance.main([str(out / "patches.csv")]) == 1 and "exists" in capsys.readouterr().err


def test_download_camelyon_cli_local_server(tmp_path, capsys):
    body = b"tif bytes"
    files = {"/CAMELYON17/checksums.md5": f"{hashlib.md5(body).hexdigest()}  patient_004_node_4.tif\n".encode(),
             "/CAMELYON17/images/patient_004_node_4.tif": body,
             "/CAMELYON17/annotations/patient_004_node_4.xml": b"<x/>"}  # fmt: skip
    s = Server(files)
    try:
        cli = script("download_camelyon")
        assert cli.main(["--slides", "patient_004_node_4", "--out", str(tmp_path), "--base-url", s.url]) == 0
    finally:
        s.close()
    assert (tmp_path / "CAMELYON17" / "images" / "patient_004_node_4.tif").read_bytes() == body
    assert cli.main(["--slides", "tumor_001", "--out", str(tmp_path), "--base-url", s.url]) == 1
    assert "looks offline" in capsys.readouterr().err
