"""Real-data paths end to end, offline (issue 13.3): Chapter 3 through papermill on PCam served by a local
HTTP server (download, cache, corrupt downloads refetched) and on a manifest from extract_patches.py.

The PCam files are small but in the real format: HDF5 datasets ``x`` uint8 ``(N, 96, 96, 3)`` and ``y``
uint8 ``(N, 1, 1, 1)``, chunked per patch and gzip-compressed inside, each file gzipped as on Zenodo
(``camelyonpatch_level_2_split_<split>_<x|y>.h5.gz``), with the md5 sums of the uncompressed files.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import papermill
import pytest
from test_downloads import Server

from histogan_lite import downloads as D
from histogan_lite.synthetic import make_patches

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
COUNTS = {"train": 24, "valid": 8, "test": 8}
FAST = dict(fast=True, live_steps=2, ablation_steps=2, image_size=64)  # a few CPU seconds of training


class FlakyFiles(dict):
    """Served files; a path in ``corrupt`` is answered once with bytes that are not its gzip."""

    corrupt: set

    def get(self, key, default=None):
        if key in self.corrupt:
            self.corrupt.discard(key)
            return b"this is not the gzip you asked for" * 50
        return super().get(key, default)


def pcam_files(folder: Path) -> tuple[dict[str, bytes], str]:
    """``({"/pcam/<name>.gz": gzip bytes}, md5sum text)`` of PCam-format files for every split."""
    files, sums = {}, []
    for k, (split, n) in enumerate(COUNTS.items()):
        images, truth = make_patches(n, size=96, seed=10 + k)
        labels = truth["label"].to_numpy().astype(np.uint8).reshape(n, 1, 1, 1)
        (x_name, _), (y_name, _) = D.PCAM_FILES[split]
        for name, key, data, chunks in ((x_name, "x", images, (1, 96, 96, 3)), (y_name, "y", labels, (1, 1, 1, 1))):
            path = folder / name
            with h5py.File(path, "w") as f:
                f.create_dataset(key, data=data, chunks=chunks, compression="gzip")
            raw = path.read_bytes()
            files[f"/pcam/{name}.gz"] = gzip.compress(raw)
            sums.append(f"{hashlib.md5(raw).hexdigest()}  {name}")
    return files, "\n".join(sums) + "\n"


@pytest.fixture()
def pcam_server(tmp_path, monkeypatch):
    files, sums = pcam_files(tmp_path)
    served = FlakyFiles(files)
    served.corrupt = set()
    server = Server(served)
    (tmp_path / "pcam.md5").write_text(sums)
    cache = tmp_path / "cache"
    for name, value in (("HISTOGAN_DATA", str(cache)), ("HISTOGAN_PCAM_URL", server.url + "/pcam/{name}.gz"),
                        ("HISTOGAN_PCAM_MD5", str(tmp_path / "pcam.md5")), ("HISTOGAN_HEADLESS", "1"),
                        ("OMP_NUM_THREADS", "1"), ("PYTHONPATH", str(ROOT))):
        monkeypatch.setenv(name, value)  # the papermill kernel inherits them
    server.cache, server.served = cache / "pcam", served
    yield server
    server.close()


def run_chapter3(tmp_path: Path, name: str, **params) -> tuple[dict, Path]:
    out_dir = tmp_path / name
    nb = papermill.execute_notebook(str(BOOK / "03_dcgan.ipynb"), str(tmp_path / f"{name}.ipynb"),
                                    parameters={**FAST, "out_dir": str(out_dir), **params}, cwd=str(BOOK),
                                    kernel_name="python3", progress_bar=False)
    return nb, out_dir


def outputs(nb) -> str:
    return "\n".join(o.get("text", "") for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"])


def gz_requests(server, split: str) -> list[str]:
    return [p for p in server.paths if f"_{split}_" in p]


def test_chapter3_on_pcam_downloads_once_trains_and_refetches_corrupt_files(pcam_server, tmp_path):
    nb, run = run_chapter3(tmp_path, "first", data="pcam")
    assert "24 patches, 64x64 px" in outputs(nb)  # the training split's 24 patches, resized from 96 px
    assert sorted(gz_requests(pcam_server, "train")) == [
        "/pcam/camelyonpatch_level_2_split_train_x.h5.gz", "/pcam/camelyonpatch_level_2_split_train_y.h5.gz"]
    meta = json.loads((run / "checkpoint.json").read_text())
    assert meta["step"] == 2 and meta["config"]["image_size"] == 64
    assert (run / "checkpoint.safetensors").stat().st_size > 0
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == ["step_000001.png", "step_000002.png"]
    assert sorted(p.name for p in pcam_server.cache.iterdir() if p.suffix == ".h5") == [
        "camelyonpatch_level_2_split_train_x.h5", "camelyonpatch_level_2_split_train_y.h5"]  # no .gz left

    # a second run reads the cache: no request at all
    requests = len(pcam_server.paths)
    run_chapter3(tmp_path, "second", data="pcam")
    assert len(pcam_server.paths) == requests and (tmp_path / "second" / "checkpoint.json").exists()

    # a cached file that changed (truncated) fails its md5 and is fetched again
    x_h5 = pcam_server.cache / "camelyonpatch_level_2_split_train_x.h5"
    good = x_h5.read_bytes()
    x_h5.write_bytes(good[: len(good) // 2])
    D.download_pcam("train", show_progress=False)
    assert x_h5.read_bytes() == good and len(pcam_server.paths) == requests + 1

    # a download that arrives corrupt is detected (not gzip / wrong md5), deleted and fetched again
    name = "/pcam/camelyonpatch_level_2_split_valid_x.h5.gz"
    pcam_server.served.corrupt.add(name)
    x, y = D.download_pcam("valid", show_progress=False)
    assert gz_requests(pcam_server, "valid").count(name) == 2
    with h5py.File(x) as fx, h5py.File(y) as fy:
        assert fx["x"].shape == (8, 96, 96, 3) and fx["x"].dtype == np.uint8 and fy["y"].shape == (8, 1, 1, 1)
    # served corrupt every time: a clear error after the allowed attempts, nothing half-written kept
    x.unlink()
    pcam_server.served.corrupt.add(name)
    pcam_server.served["/pcam/camelyonpatch_level_2_split_valid_x.h5.gz"] = gzip.compress(b"wrong contents")
    with pytest.raises(D.DownloadError, match="still corrupt after 2 downloads"):
        D.download_pcam("valid", show_progress=False)
    assert not x.exists() and not list(pcam_server.cache.glob("*.gz")) and not list(pcam_server.cache.glob("*.part"))


def test_chapter3_on_a_manifest_from_extract_patches(demo_slides, tmp_path, monkeypatch):
    monkeypatch.setenv("HISTOGAN_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("HISTOGAN_HEADLESS", "1")
    out = tmp_path / "patches"
    cmd = [sys.executable, str(ROOT / "data_scripts" / "extract_patches.py"), "--slide", str(demo_slides.tumor),
           "--annotations", str(demo_slides.tumor_xml), "--level", "2", "--patch-size", "64", "--out", str(out),
           "--quiet"]  # fmt: skip
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True)
    manifest = out / "patches.csv"
    n = len(manifest.read_text().strip().splitlines()) - 1
    assert n >= 2
    nb, run = run_chapter3(tmp_path, "manifest", data=str(manifest))
    assert f"{n} patches, 64x64 px" in outputs(nb)
    assert json.loads((run / "checkpoint.json").read_text())["step"] == 2
    assert (run / "samples" / "step_000002.png").exists()
