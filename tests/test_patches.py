"""Patches: tissue mask, exact fractions and labels, extraction (pixels, manifest, resume, refusal), balancing."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from histogan_lite import patches as P
from histogan_lite.annotations import AnnotationError, write_asap_xml
from histogan_lite.camelyon import CamelyonDataWarning
from histogan_lite.slides import LevelError, Slide, SlideFormatError, SlideReadError, composite_on_white
from test_slides import write_pyramid

PINK = (200, 120, 170)


@pytest.fixture()
def toy(tmp_path):
    """A 1024x1024 two-level slide: tissue (pink) where x < 512, glass (white) elsewhere.

    Annotations: tumour ``_0`` on x in [0, 320], all y; exclusion ``_2`` on [0, 128] x [0, 256].
    At level 0 with 128-pixel patches: columns 0-3 are tissue; column 0 rows 0-1 sit in the
    exclusion (fraction 0, negative), column 0 rows 2-7 and column 1 are positive (fraction 1),
    column 2 has fraction 0.5 (positive), column 3 fraction 0 (negative).
    """
    rng = np.random.default_rng(1)
    image = np.full((1024, 1024, 3), 255, dtype=np.uint8)
    image[:, :512] = PINK
    image[:, :512] -= rng.integers(0, 20, (1024, 512, 1), dtype=np.uint8)  # texture, so pixels differ
    path = write_pyramid(tmp_path / "toy.tif", image, levels=2, tile=128)
    xml = write_asap_xml(tmp_path / "toy.xml", [("_0", [(0, 0), (320, 0), (320, 1024), (0, 1024)]),
                                                ("_2", [(0, 0), (128, 0), (128, 256), (0, 256)])])  # fmt: skip
    return path, xml, image


def test_tissue_fractions_are_exact_area_fractions():
    mask = P.TissueMask(mask=np.array([[True, False], [False, False]]), scale=(10.0, 10.0), threshold=0.1, level=0)
    np.testing.assert_allclose(mask.fractions([0, 5, 0, 10], [0, 5, 0, 10], [10, 15, 20, 20], [10, 15, 20, 20]),
                               [1.0, 0.25, 0.25, 0.0])  # fmt: skip


def test_tumor_fractions_exact():
    from shapely.geometry import Polygon

    region = Polygon([(0, 0), (100, 0), (100, 100), (0, 100)], holes=[[(40, 40), (60, 40), (60, 60), (40, 60)]])
    f = P.tumor_fractions(region, [50, 0, 200, 30], [50, 0, 200, 30], [150, 10, 210, 70], [150, 10, 210, 70])
    np.testing.assert_allclose(f, [(2500 - 100) / 10000, 1.0, 0.0, (1600 - 400) / 1600])
    assert P.tumor_fractions(None, [0], [0], [1], [1]).tolist() == [0.0]


def test_label_rule_thresholds():
    tumor = np.array([0.0, 0.2, 0.5, 1.0, 1.0, 0.0])
    tissue = np.array([1.0, 1.0, 1.0, 1.0, 0.49, 0.5])
    assert P.label_patches(tumor, tissue, annotated=True).tolist() == [0, -1, 1, 1, -1, 0]
    assert P.label_patches(tumor, tissue, annotated=False).tolist() == [0, 0, 0, 0, -1, 0]
    assert P.label_patches(tumor, tissue, annotated=True, tumor_threshold=0.6, negative_max=0.2).tolist() == [0, 0, -1, 1, -1, 0]


def test_tissue_mask_on_white_transparent_and_pink():
    image = np.zeros((64, 64, 4), dtype=np.uint8)  # fully transparent: white after compositing
    image[:, :16] = (*PINK, 255)
    image[:, 16:32] = (250, 250, 250, 255)  # near-white glass
    mask, t = P.tissue_mask_from_rgb(composite_on_white(image))
    assert mask[:, :15].all() and not mask[:, 17:].any()
    blank, _ = P.tissue_mask_from_rgb(np.full((32, 32, 3), 247, np.uint8))
    assert not blank.any()


def test_real_tiles_tissue_and_no_tissue(real_data):
    tiles = real_data / "tiles"
    frac = {}
    for name in ("no-tissue.png", "almost-white-1.png", "tissue-level0-4302-10273-4814-10785.png"):
        rgb = composite_on_white(np.asarray(Image.open(tiles / name).convert("RGBA")))
        frac[name] = P.tissue_mask_from_rgb(rgb)[0].mean()
    assert frac["no-tissue.png"] < 0.001 and frac["almost-white-1.png"] == 0.0
    assert frac["tissue-level0-4302-10273-4814-10785.png"] > 0.4


def test_grid_labels_on_toy_slide(toy):
    path, xml, _ = toy
    from histogan_lite.annotations import read_asap_xml

    slide = Slide(path)
    grid = P.patch_grid(slide, 0, 128, annotations=read_asap_xml(xml))
    assert len(grid) == 64
    table = grid.pivot(index="row", columns="col", values="label").to_numpy()
    expected_col = {0: [0, 0, 1, 1, 1, 1, 1, 1], 1: [1] * 8, 2: [1] * 8, 3: [0] * 8}
    for c in range(8):
        assert table[:, c].tolist() == expected_col.get(c, [-1] * 8), c
    tumor = grid.pivot(index="row", columns="col", values="tumor_fraction").to_numpy()
    assert tumor[3, 2] == 0.5 and tumor[0, 0] == 0.0 and tumor[5, 0] == 1.0
    tissue = grid.pivot(index="row", columns="col", values="tissue_fraction").to_numpy()
    assert (tissue[:, :4] == 1.0).all() and (tissue[:, 4:] == 0.0).all()
    # level 1: 64-pixel patches cover 128 level-0 pixels: same labels on the same boxes
    grid1 = P.patch_grid(slide, 1, 64, annotations=read_asap_xml(xml))
    assert grid1["x"].tolist() == grid["x"].tolist() and grid1["label"].tolist() == grid["label"].tolist()


def test_extract_pixels_manifest_and_balance(toy, tmp_path):
    path, xml, image = toy
    out = tmp_path / "out"
    manifest = P.extract_patches(path, out, annotations=xml, level=1, patch_size=64, block=3, show_progress=False)
    assert list(manifest.columns) == P.MANIFEST_COLUMNS
    assert (manifest["label"] == 1).sum() == 22 and (manifest["label"] == 0).sum() == 10
    assert manifest.equals(pd.read_csv(out / "patches.csv"))
    level1 = image[::2, ::2]
    for row in manifest.itertuples():
        png = np.asarray(Image.open(out / row.path))
        u, v = row.x // 2, row.y // 2
        np.testing.assert_array_equal(png, level1[v : v + 64, u : u + 64])
        assert row.path.startswith(f"{row[8]}/toy_L1_x{row.x}_y{row.y}")
    assert sorted(p.name for p in out.iterdir()) == [".parts", "dataset.json", "negative", "patches.csv", "positive"]
    counts = P.class_counts(out / "patches.csv")
    assert counts.loc[1].tolist() == [10, 22, 32]
    balanced = P.balance(out / "patches.csv", seed=3)
    assert P.class_counts(balanced).loc[1].tolist() == [10, 10, 20]
    assert balanced.equals(P.balance(out / "patches.csv", out_csv=tmp_path / "again.csv", seed=3))
    assert len(pd.read_csv(out / "patches.csv")) == 32  # the original is kept
    with pytest.raises(FileExistsError, match="patches_balanced.csv"):
        P.balance(out / "patches.csv", seed=3)
    with pytest.raises(ValueError, match="per_class=11 exceeds"):
        P.balance(manifest, per_class=11)


def test_resume_skips_done_work_and_interruption_leaves_no_partial_files(toy, tmp_path, monkeypatch):
    path, xml, _ = toy
    out = tmp_path / "out"
    calls = {"n": 0}
    real_save = P._save_png

    def flaky(p, image, level):
        calls["n"] += 1
        if calls["n"] == 20:
            raise KeyboardInterrupt("simulated interruption")
        real_save(p, image, level)

    monkeypatch.setattr(P, "_save_png", flaky)
    with pytest.raises(KeyboardInterrupt, match=r"patches.csv lists the 16 patches of the finished blocks; run the"):
        P.extract_patches(path, out, annotations=xml, level=0, patch_size=128, block=2, show_progress=False)
    pngs = sorted(out.rglob("*.png"))
    assert len(pngs) == 19 and not list(out.rglob("*.tmp*"))
    for part in out.rglob(".parts/*/*.csv"):  # every row of every part has its file
        assert all((out / p).exists() for p in pd.read_csv(part)["path"])
    # the manifest of the interrupted run lists the 4 finished 2x2 blocks (16 patches), each file complete
    partial = pd.read_csv(out / "patches.csv")
    assert len(partial) == 16 and len(list(out.rglob(".parts/*/*.csv"))) == 4
    assert all(np.asarray(Image.open(out / p)).shape == (128, 128, 3) for p in partial["path"])
    monkeypatch.setattr(P, "_save_png", real_save)
    calls["n"] = 0
    manifest = P.extract_patches(path, out, annotations=xml, level=0, patch_size=128, block=2, show_progress=False)
    assert len(manifest) == 32 and len(list(out.rglob("*.png"))) == 32
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    again = P.extract_patches(path, out, annotations=xml, level=0, patch_size=128, block=2, show_progress=False)
    assert again.equals(manifest) and stamps == {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}


def test_parallel_equals_serial(toy, tmp_path):
    path, xml, _ = toy
    a = P.extract_patches(path, tmp_path / "a", annotations=xml, level=0, patch_size=128, workers=1, show_progress=False)
    b = P.extract_patches(path, tmp_path / "b", annotations=xml, level=0, patch_size=128, block=2, workers=2, show_progress=False)
    assert a.equals(b)


def test_refuses_other_dataset_without_overwrite(toy, tmp_path):
    path, xml, _ = toy
    out = tmp_path / "out"
    P.extract_patches(path, out, annotations=xml, level=0, patch_size=128, show_progress=False)
    with pytest.raises(P.DatasetExistsError, match=r"another patch dataset \(differs in: level, patch_size\)"):
        P.extract_patches(path, out, annotations=xml, level=1, patch_size=64, show_progress=False)
    assert json.loads((out / "dataset.json").read_text())["level"] == 0
    m = P.extract_patches(path, out, annotations=xml, level=1, patch_size=32, overwrite=True, show_progress=False)
    assert set(m["level"]) == {1} and len(list(out.rglob("*_L0_*.png"))) == 0
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(P.DatasetExistsError, match="not empty"):
        P.extract_patches(path, other, level=0, patch_size=128, show_progress=False)


def test_bad_input_leaves_nothing(toy, tmp_path, real_data):
    path, xml, _ = toy
    out = tmp_path / "out"
    bad_xml = tmp_path / "bad.xml"
    bad_xml.write_text("<ASAP_Annotations><Annotations>")
    cases = [
        (dict(slides=[tmp_path / "missing.tif"]), FileNotFoundError, "missing.tif"),
        (dict(slides=[path], annotations=[bad_xml]), AnnotationError, "bad.xml"),
        (dict(slides=[path], level=4), LevelError, r"level 4 does not exist in toy.tif; its levels are 0: 1024x1024"),
        (dict(slides=[path, path]), ValueError, "unique"),
        (dict(slides=[real_data / "slides" / "unreadable.svs"]), SlideReadError, "unreadable.svs"),
        (dict(slides=[real_data / "slides" / "broken.svs"]), SlideFormatError, "broken.svs"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            P.extract_patches(out_dir=out, show_progress=False, **kwargs)
        assert not out.exists()


def test_cmu_real_slide_patches(real_data, tmp_path):
    slide_path = real_data / "slides" / "cmu-1-small-region.svs"
    manifest = P.extract_patches(slide_path, tmp_path / "cmu", level=0, patch_size=256, show_progress=False)
    slide = Slide(slide_path)
    assert len(manifest) > 10 and set(manifest["label"]) == {0}  # no annotations: every tissue patch negative
    assert (manifest["tissue_fraction"] >= 0.5).all()
    row = manifest.iloc[len(manifest) // 2]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "cmu" / row.path)),
                                  slide.read_region((row.x, row.y), 0, (256, 256)))  # fmt: skip


def test_a_changed_slide_is_another_dataset(toy, tmp_path):
    path, xml, image = toy
    out = tmp_path / "out"
    P.extract_patches(path, out, annotations=xml, level=0, patch_size=128, show_progress=False)
    write_pyramid(path, 255 - image, levels=2, tile=128)  # the slide file is regenerated
    with pytest.raises(P.DatasetExistsError, match=r"differs in: slides"):
        P.extract_patches(path, out, annotations=xml, level=0, patch_size=128, show_progress=False)


# ---- issue 15.7: real-data traps ------------------------------------------------------------
def _copy_slide(toy, tmp_path, name):
    """The toy slide's pixels under another name (names decide CAMELYON's rules)."""
    return write_pyramid(tmp_path / f"{name}.tif", toy[2], levels=2, tile=128)


def test_negatives_only_from_tumor_free_slides(toy, tmp_path):
    path, xml, _ = toy
    normal = _copy_slide(toy, tmp_path, "normal_001")
    kwargs = dict(level=0, patch_size=128, show_progress=False)
    both = P.extract_patches([path, normal], tmp_path / "all", annotations=[xml, None], **kwargs)
    assert P.class_counts(both).loc[0].tolist() == [10 + 32, 22, 64]  # the paper's way: toy gives 10 negatives
    only = P.extract_patches([path, normal], tmp_path / "free", annotations=[xml, None],
                             negatives_from="tumor_free_slides", **kwargs)  # fmt: skip
    assert only.groupby(["slide", "label"]).size().to_dict() == {("normal_001", 0): 32, ("toy", 1): 22}
    assert set(only["path"]) == set(both["path"]) - set(both.loc[(both["slide"] == "toy") & (both["label"] == 0), "path"])
    with pytest.raises(P.DatasetExistsError, match=r"differs in: negatives_from"):
        P.extract_patches([path, normal], tmp_path / "all", annotations=[xml, None],
                          negatives_from="tumor_free_slides", **kwargs)  # fmt: skip
    with pytest.raises(ValueError, match=r"negatives_from must be one of \('all', 'tumor_free_slides'\), got 'normal'"):
        P.extract_patches(path, tmp_path / "x", annotations=xml, negatives_from="normal", **kwargs)
    assert not (tmp_path / "x").exists()


def test_a_slide_without_patches_is_an_error_unless_allowed(toy, tmp_path):
    path, xml, _ = toy
    blank = write_pyramid(tmp_path / "blank.tif", np.full((512, 512, 3), 250, np.uint8), levels=2, tile=128)
    out = tmp_path / "out"
    with pytest.raises(P.NoPatchesError, match=r"slide blank yields no patches: none of its 16 grid patches has "
                                               r"tissue fraction >= min_tissue=0.5 \(blank glass\?\); pass "
                                               r"allow_empty=True \(--allow-empty\)"):  # fmt: skip
        P.extract_patches([path, blank], out, annotations=[xml, None], level=0, patch_size=128, show_progress=False)
    assert not out.exists()
    with pytest.raises(P.NoPatchesError, match=r"slide toy yields no patches: no whole 1024x1024 patch fits in its level 1"):
        P.extract_patches(path, out, annotations=xml, level=1, patch_size=1024, show_progress=False)
    with pytest.raises(P.NoPatchesError, match="negatives_from drops it"):  # toy column 3 alone: negatives only
        P.extract_patches(path, out, annotations=xml, level=0, patch_size=128, region=(384, 0, 128, 1024),
                          negatives_from="tumor_free_slides", show_progress=False)  # fmt: skip
    with pytest.warns(UserWarning, match="slide blank yields no patches"):
        m = P.extract_patches([path, blank], out, annotations=[xml, None], level=0, patch_size=128,
                              allow_empty=True, show_progress=False)  # fmt: skip
    assert len(m) == 32 and set(m["slide"]) == {"toy"}


def test_camelyon_known_problems_warned_at_extraction(toy, tmp_path):
    path, xml, _ = toy
    test_114 = _copy_slide(toy, tmp_path, "test_114")
    normal_86 = _copy_slide(toy, tmp_path, "normal_086")
    with pytest.warns(CamelyonDataWarning) as caught:
        P.extract_patches([test_114, normal_86], tmp_path / "out", annotations=[xml, None], level=0, patch_size=128,
                          show_progress=False)  # fmt: skip
    messages = [str(w.message) for w in caught if w.category is CamelyonDataWarning]
    assert [m.split(":")[0].split(" is ")[0] for m in messages] == [
        "slide test_114", "slide normal_086", "slide normal_086", "negatives are cut outside the annotated polygons of "
        "CAMELYON tumour slides (test_114), but not all tumour slides are exhaustively annotated (CAMELYON17 does not "
        "outline isolated tumour cells exhaustively), so some of these negatives can contain tumour; "
        "negatives_from='tumor_free_slides' (--negatives-from-tumor-free-slides) takes negatives only from slides "
        "without tumour"]  # fmt: skip
    assert "not exhaustively annotated" in messages[0] and "renamed tumor_111" in messages[1]
    assert "given without annotations" in messages[2]
    with warnings.catch_warnings():  # slides outside CAMELYON's naming (the demo, toy): no warning
        warnings.simplefilter("error")
        P.extract_patches(path, tmp_path / "quiet", annotations=xml, level=0, patch_size=128, show_progress=False)
