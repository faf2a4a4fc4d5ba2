"""data_scripts/extract_patches.py, balance.py, download_camelyon.py: exit codes, messages, outputs."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from test_downloads import Server
from test_patches import toy  # noqa: F401  (fixture)
from conftest import load_data_script

ROOT = Path(__file__).resolve().parents[1]


def script(name: str):
    return load_data_script(name)


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


def test_extract_cli_empty_slide_negatives_option_and_warnings(toy, tmp_path, capsys):  # noqa: F811
    """Issue 15.7: 0 patches exits 1 unless --allow-empty; --negatives-from-tumor-free-slides; warnings printed."""
    from test_slides import write_pyramid

    path, xml, image = toy
    extract = script("extract_patches")
    blank = write_pyramid(tmp_path / "blank.tif", np.full((512, 512, 3), 250, np.uint8), levels=2, tile=128)
    base = ["--slide", str(path), "--annotations", str(xml), "--slide", str(blank), "--annotations", "none",
            "--level", "0", "--patch-size", "128", "--quiet"]  # fmt: skip
    assert extract.main(base + ["--out", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert "extract_patches: slide blank yields no patches" in err and "--allow-empty" in err
    assert not (tmp_path / "a").exists()
    assert extract.main(base + ["--out", str(tmp_path / "a"), "--allow-empty"]) == 0
    captured = capsys.readouterr()
    assert "extract_patches: warning: slide blank yields no patches" in captured.err
    assert "32 patches" in captured.out
    tumor = write_pyramid(tmp_path / "tumor_001.tif", image, levels=2, tile=128)
    normal = write_pyramid(tmp_path / "normal_001.tif", image, levels=2, tile=128)
    two = ["--slide", str(tumor), "--annotations", str(xml), "--slide", str(normal), "--annotations", "none",
           "--level", "0", "--patch-size", "128", "--quiet"]  # fmt: skip
    assert extract.main(two + ["--out", str(tmp_path / "b")]) == 0
    assert "extract_patches: warning: negatives are cut outside the annotated polygons" in capsys.readouterr().err
    assert extract.main(two + ["--out", str(tmp_path / "c"), "--negatives-from-tumor-free-slides"]) == 0
    assert "warning" not in capsys.readouterr().err
    m = pd.read_csv(tmp_path / "c" / "patches.csv")
    assert m.groupby(["slide", "label"]).size().to_dict() == {("normal_001", 0): 32, ("tumor_001", 1): 22}


def test_download_cli_unannotated_test_slide(tmp_path, capsys):
    """Issue 15.7: a CAMELYON16 test slide without annotation no longer aborts the list with HTTP 404."""
    files = {"/CAMELYON16/images/test_001.tif": b"a", "/CAMELYON16/images/test_002.tif": b"b",
             "/CAMELYON16/annotations/test_002.xml": b"<x/>"}  # fmt: skip
    s = Server(files)
    try:
        cli = script("download_camelyon")
        assert cli.main(["--slides", "test_001", "test_002", "--out", str(tmp_path), "--base-url", s.url,
                         "--no-verify"]) == 0  # fmt: skip
        lines = capsys.readouterr().out.splitlines()
        assert lines == [f"{tmp_path}/CAMELYON16/images/test_001.tif ",
                         f"{tmp_path}/CAMELYON16/images/test_002.tif {tmp_path}/CAMELYON16/annotations/test_002.xml"]
        assert cli.main(["--slides", "tumour_1", "--out", str(tmp_path), "--base-url", s.url]) == 1
        assert "follows neither CAMELYON16's naming" in capsys.readouterr().err
    finally:
        s.close()


def _extraction_command(demo_slides, out):
    """2-worker level-0 extraction of the demo tumour slide: 64-px patches, 2x2-cell blocks (~500 blocks, ~10 s)."""
    cmd = [sys.executable, str(ROOT / "data_scripts" / "extract_patches.py"), "--slide", str(demo_slides.tumor),
           "--annotations", str(demo_slides.tumor_xml), "--level", "0", "--patch-size", "64", "--block", "2",
           "--workers", "2", "--out", str(out), "--quiet"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HISTOGAN_HEADLESS": "1", "OMP_NUM_THREADS": "1"}
    return cmd, env


@pytest.mark.parametrize("receiver", ["process group", "parent only"])
def test_ctrl_c_stops_a_parallel_extraction_within_seconds_and_resumes(demo_slides, tmp_path, receiver):
    """Issue 15.3: Ctrl-C in a terminal signals the process group; a notebook interrupt signals the parent only."""
    from histogan_lite.annotations import read_asap_xml
    from histogan_lite.patches import patch_grid
    from histogan_lite.slides import Slide

    grid = patch_grid(Slide(demo_slides.tumor), 0, 64, annotations=read_asap_xml(demo_slides.tumor_xml))
    kept = grid[grid["label"] >= 0]
    n_blocks = len(set(zip(kept["row"] // 2, kept["col"] // 2)))
    out = tmp_path / "out"
    cmd, env = _extraction_command(demo_slides, out)
    # A job started in the background by a non-interactive shell (nohup, `&`, some CI runners) inherits
    # SIGINT as ignored, and Python then installs no KeyboardInterrupt handler: give the child the default.
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while len(list(out.glob(".parts/*/*.csv"))) < 3:  # the first blocks are done
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no block finished in 120 s"
            time.sleep(0.02)
        t0 = time.monotonic()
        if receiver == "process group":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130 and elapsed < 5, (proc.returncode, elapsed, err)
    assert "Traceback" not in err and "run the same extraction again to resume" in err
    parts = list(out.glob(".parts/*/*.csv"))
    assert 3 <= len(parts) < n_blocks // 2  # it stopped early
    manifest = pd.read_csv(out / "patches.csv")
    assert f"lists the {len(manifest)} patches of the finished blocks" in err
    assert sorted(manifest["path"]) == sorted(pd.concat([pd.read_csv(p) for p in parts])["path"])
    for path in manifest["path"]:  # every listed file is complete
        assert np.asarray(Image.open(out / path)).shape == (64, 64, 3)
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]
    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    full = pd.read_csv(out / "patches.csv")
    assert len(full) == len(kept) and set(manifest["path"]) <= set(full["path"])
    assert len(list(out.glob(".parts/*/*.csv"))) == n_blocks and len(list(out.rglob("*.png"))) == len(kept)
