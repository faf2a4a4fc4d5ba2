"""Patch labels on the demo slide checked against its ground-truth mask (synthetic teaching data)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from shapely.geometry import box

from histogan_lite import patches as P
from histogan_lite.annotations import read_asap_xml
from histogan_lite.slides import Slide

S = 16  # level-0 pixels per ground-truth mask pixel (0 glass, 1 normal tissue, 2 tumour)


@pytest.fixture(scope="module")
def demo(demo_slides):
    slide = Slide(demo_slides.tumor)
    ann = read_asap_xml(demo_slides.tumor_xml)
    truth = np.asarray(Image.open(demo_slides.tumor_mask))
    return slide, ann, truth


def truth_shares(truth, grid, side0):
    k = int(side0 // S)
    tumour = np.array([(truth[y // S : y // S + k, x // S : x // S + k] == 2).mean() for x, y in zip(grid["x"], grid["y"])])
    tissue = np.array([(truth[y // S : y // S + k, x // S : x // S + k] > 0).mean() for x, y in zip(grid["x"], grid["y"])])
    return tumour, tissue


def test_demo_annotations_match_ground_truth(demo):
    slide, ann, truth = demo
    assert [p.group for p in ann.polygons] == ["_0", "_2", "_1"]
    assert [p.role for p in ann.polygons] == ["tumor", "exclusion", "tumor"]
    assert truth.shape == (slide.dimensions[1] // S, slide.dimensions[0] // S)
    # the tumour region (tumour minus the _2 hole) has the area of the mask's tumour pixels
    assert ann.tumor_region.area == pytest.approx((truth == 2).sum() * S * S, rel=5e-3)


def test_demo_tissue_mask_agrees_with_ground_truth(demo):
    slide, _, truth = demo
    tissue = P.tissue_mask(slide)
    assert tissue.scale == (32.0, 32.0)
    assert (tissue.mask == (truth[::2, ::2] > 0)).mean() > 0.98


def test_demo_labels_against_ground_truth(demo):
    slide, ann, truth = demo
    grid = P.patch_grid(slide, 1, 128, annotations=ann)
    assert len(grid) == 16 * 12
    share, tissue = truth_shares(truth, grid, 256)
    label = grid["label"].to_numpy()
    # exact implications: a mask pixel is tumour only if its centre is inside the tumour region
    assert (share[label == 0] == 0).all()  # every negative holds no tumour in the truth
    assert (label[share == 1] == 1).all() and (share == 1).sum() > 0  # all-tumour patches are positive
    assert (share[label == 1] >= 0.45).all()
    assert np.abs(grid["tumor_fraction"].to_numpy() - share).max() < 0.02  # exact area vs 16-px raster
    assert (label[tissue == 0] == -1).all()  # glass is never a patch
    assert (label == 1).sum() >= 20 and (label == 0).sum() >= 60


def test_points_inside_exclusion_are_never_positive(demo):
    slide, ann, _ = demo
    grid = P.patch_grid(slide, 0, 64, annotations=ann)
    hole = [p.geometry for p in ann.polygons if p.group == "_2"][0]
    inside = np.array([hole.contains(box(x, y, x + 64, y + 64)) for x, y in zip(grid["x"], grid["y"])])
    assert inside.sum() >= 10
    assert (grid["tumor_fraction"].to_numpy()[inside] == 0).all()
    assert set(grid["label"].to_numpy()[inside]) == {0}


def test_demo_extraction_counts_and_pixels(demo_slides, tmp_path):
    slide = Slide(demo_slides.tumor)
    manifest = P.extract_patches([demo_slides.tumor, demo_slides.normal], tmp_path / "out",
                                 annotations=[demo_slides.tumor_xml, None], level=1, patch_size=128,
                                 show_progress=False)  # fmt: skip
    grid = P.patch_grid(slide, 1, 128, annotations=read_asap_xml(demo_slides.tumor_xml))
    tumour_rows = manifest[manifest["slide"] == "demo_tumor"]
    assert (tumour_rows["label"] == 1).sum() == (grid["label"] == 1).sum()
    assert (tumour_rows["label"] == 0).sum() == (grid["label"] == 0).sum()
    normal_rows = manifest[manifest["slide"] == "demo_normal"]
    assert len(normal_rows) > 0 and set(normal_rows["label"]) == {0}
    row = tumour_rows[tumour_rows["label"] == 1].iloc[0]
    assert row["width"] == row["height"] == 128 and row["x"] % 2 == 0
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / row["path"])),
                                  slide.read_region((int(row["x"]), int(row["y"])), 1, (128, 128)))  # fmt: skip
    counts = P.class_counts(manifest)
    balanced = P.class_counts(P.balance(manifest, seed=0))
    assert balanced.loc[1, "negative"] == balanced.loc[1, "positive"] == counts.loc[1, "positive"]
