"""Tests of the synthetic H&E renderer and the demo slides (synthetic teaching data, not patient data)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from histogan_lite import synthetic as S

# ------------------------------------------------------------------------------------------------
# make_patches


def test_same_seed_same_bytes_and_seeds_differ():
    a, ta = S.make_patches(6, size=64, seed=3)
    b, tb = S.make_patches(6, size=64, seed=3)
    c, _ = S.make_patches(6, size=64, seed=4)
    assert a.tobytes() == b.tobytes()
    pd.testing.assert_frame_equal(ta, tb)
    for i in range(6):
        assert not np.array_equal(a[i], c[i])
    # patch i depends only on (seed, i): a prefix of a longer run is the shorter run
    d, td = S.make_patches(10, size=64, seed=3)
    assert d[:6].tobytes() == a.tobytes()
    pd.testing.assert_frame_equal(td.iloc[:6].reset_index(drop=True), ta)


@pytest.mark.parametrize("size", [64, 128, 256])
def test_shapes_dtypes_and_columns(size):
    images, truth = S.make_patches(4, size=size, seed=0)
    assert images.shape == (4, size, size, 3) and images.dtype == np.uint8
    assert len(truth) == 4
    for col in (
        "label", "lumen", "lumen_x", "lumen_y", "lumen_r", "centre", "stain_h_r", "stain_e_b", "brightness",
        "contrast", "nucleus_count", "nucleus_area_mean", "tumour_nucleus_count", "seed", "index",
        "tumour_fraction", "case", "blur_um", "difficulty", "histiocyte_count",
    ):
        assert col in truth.columns
    assert truth["lumen"].dtype == bool
    assert (truth["um_per_px"] == 64.0 / size).all()
    # stain vectors are unit optical-density vectors
    h = truth[["stain_h_r", "stain_h_g", "stain_h_b"]].to_numpy()
    np.testing.assert_allclose(np.linalg.norm(h, axis=1), 1.0, atol=1e-12)


def test_label_none_is_interleaved_and_balanced():
    _, truth = S.make_patches(7, seed=1)
    assert truth["label"].tolist() == [0, 1, 0, 1, 0, 1, 0]
    _, t1 = S.make_patches(3, label=1, seed=1)
    assert t1["label"].tolist() == [1, 1, 1]
    assert (t1["tumour_nucleus_count"] > 0).all()
    _, t0 = S.make_patches(3, label=0, seed=1)
    assert (t0["tumour_nucleus_count"] == 0).all()


def test_same_tissue_at_every_size():
    """The field of view is 64 um at every size: the nuclei (counts, areas in um^2) are the same."""
    _, t64 = S.make_patches(4, size=64, seed=2)
    _, t256 = S.make_patches(4, size=256, seed=2)
    assert t64["nucleus_count"].tolist() == t256["nucleus_count"].tolist()
    np.testing.assert_allclose(t256["nucleus_area_mean"], 16 * t64["nucleus_area_mean"], rtol=1e-9)


def test_classes_differ_in_nuclear_morphology():
    """Typical patches (difficulty 0): negatives have many small round lymphocytes, positives fewer,
    larger, pleomorphic tumour nuclei; the documented size ranges hold exactly."""
    _, t = S.make_patches(200, size=64, seed=10, difficulty=0.0)
    assert (t["case"] == "typical").all()
    neg, pos = t[t.label == 0], t[t.label == 1]
    assert neg["nucleus_count"].min() > pos["nucleus_count"].max()
    # lymphocyte radius 2.9-3.5 um -> area 26-39 um^2 = px at 1 um/px
    assert 26 <= neg["nucleus_area_mean"].min() and neg["nucleus_area_mean"].max() <= 39
    # positives: tumour nuclei (r0 4.5-6.5 um: 63-135 um^2 before harmonics) raise the mean area
    assert pos["nucleus_area_mean"].min() > neg["nucleus_area_mean"].max()
    # the tumour layer's nuclei, measured from the cell parameters, are larger and less round
    key = S._patch_key(0, np.arange(2))
    xs = ys = np.tile((np.arange(64) + 0.5)[None], (2, 1))
    lym, tum = S._Cells(key, 0, S._LYMPH, xs, ys), S._Cells(key, 1, S._TUMOUR, xs, ys)
    assert lym.r0.max() <= 3.5 < 4.5 <= tum.r0.min()
    assert lym.a2.max() <= 0.06 and tum.a2.max() > 0.1 and np.abs(tum.a3c).max() > 0.05 and not lym.a3c.any()


def test_colour_is_a_poor_cue_centres_differ_more_than_classes():
    """Mean colour moves more between scanning centres (and between patches) than between classes."""
    images, truth = S.make_patches(400, size=64, seed=21)
    means = images.reshape(len(images), -1, 3).astype(float).mean(1)
    by_class = np.array([means[truth.label == c].mean(0) for c in (0, 1)])
    by_centre = np.array([means[truth.centre == c].mean(0) for c in range(5)])
    class_gap = np.abs(by_class[0] - by_class[1]).max()
    centre_gap = (by_centre.max(0) - by_centre.min(0)).max()
    assert class_gap < 12 and centre_gap > 2 * class_gap, (class_gap, centre_gap)
    assert means.std(0).min() > 2 * class_gap  # patch-to-patch spread


def test_difficulty_changes_hard_cases_colour_spread_and_blur():
    _, t0 = S.make_patches(300, seed=22, difficulty=0.0)
    _, t1 = S.make_patches(300, seed=22, difficulty=1.0)
    assert (t0["case"] == "typical").all() and (t0["blur_um"] == 0).all()
    hard = (t1["case"] != "typical").mean()
    assert 0.5 < hard < 0.7  # 0.6 * difficulty, n = 300: sd 0.028
    assert set(t1.loc[t1.label == 1, "case"]) == {"typical", "border", "itc"}
    assert set(t1.loc[t1.label == 0, "case"]) == {"typical", "histiocytes", "fat", "capsule", "glass"}
    assert t0["brightness"].abs().max() <= 12 and 24 < t1["brightness"].abs().max() <= 30
    assert t0["contrast"].between(0.85, 1.15).all() and t1["contrast"].between(0.65, 1.35).all()
    assert t1["contrast"].sub(1).abs().max() > 0.25
    assert 0.9 < t1["blur_um"].max() <= 1.2
    assert t1["stain_h_scale"].std() > 1.5 * t0["stain_h_scale"].std()
    assert (t0["difficulty"] == 0).all() and (t1["difficulty"] == 1).all()
    with pytest.raises(ValueError, match="difficulty"):
        S.make_patches(2, difficulty=1.5)
    with pytest.raises(ValueError, match="difficulty"):
        S.make_patches(2, difficulty="hard")


def test_tumour_fraction_in_unit_interval_zero_for_negatives_small_at_borders():
    _, t = S.make_patches(200, seed=23, difficulty=1.0)
    f = t["tumour_fraction"]
    assert f.between(0, 1).all()
    assert (f[t.label == 0] == 0).all() and (t.loc[t.label == 0, "tumour_nucleus_count"] == 0).all()
    np.testing.assert_allclose(f, t["tumour_nucleus_count"] / t["nucleus_count"].clip(lower=1))
    for case in ("typical", "border", "itc"):
        _, tc = S.make_patches(12, seed=24, label=1, case=case, difficulty=0.0)  # no annotation overshoot
        assert (tc["tumour_nucleus_count"] > 0).all(), case  # every positive shows tumour cells
        if case == "typical":
            assert tc["tumour_fraction"].min() > 0.2 and tc["tumour_fraction"].median() > 0.5
        else:  # a minority of tumour cells among benign ones
            assert tc["tumour_fraction"].max() < 0.5, case


def test_annotation_overshoot_is_label_noise_that_grows_with_difficulty():
    """Border positives whose lesion polygon overshoots the tumour: labelled 1, no tumour cells, empty mask."""
    shares = {}
    for d in (0.0, 0.5, 1.0):
        x, t, m = S.make_patches(200, size=32, label=1, seed=26, case="border", difficulty=d, return_mask=True)
        over = (t["tumour_nucleus_count"] == 0).to_numpy()
        shares[d] = over.mean()
        assert (t.loc[over, "tumour_fraction"] == 0).all()
        assert t.loc[over, "lumen"].mean() < 0.05  # no gland lumen without tumour (rare: a sliver of border)
        assert not m[over].any() and m[~over].any(axis=(1, 2)).all()
        assert (t["label"] == 1).all()
    assert shares[0.0] < 0.02  # no overshoot at difficulty 0 (a rare border sliver shows no tumour cell)
    assert abs(shares[0.5] - 0.3) < 0.1 and abs(shares[1.0] - 0.6) < 0.1  # 0.6 * difficulty, binomial noise
    # the default data hold a few per cent of them: enough to cap real-to-real accuracy, not to swamp it
    _, t = S.make_patches(1000, size=32, seed=27)
    noise = ((t.label == 1) & (t.tumour_nucleus_count == 0)).mean()
    assert 0.015 < noise < 0.055, noise


def test_hard_negatives_render_as_documented():
    fx, ft, fm = S.make_patches(8, size=64, label=0, seed=25, case="fat", return_mask=True)
    white = (fx.min(axis=3) > 215).mean(axis=(1, 2))
    assert white.min() > 0.2  # empty adipocytes
    gx, gt = S.make_patches(8, size=64, label=0, seed=25, case="glass", lumen=False)
    assert (gx.min(axis=3) > 200).mean(axis=(1, 2)).min() > 0.6
    hx, ht, hm = S.make_patches(8, size=64, label=0, seed=25, case="histiocytes", return_mask=True)
    assert (ht["histiocyte_count"] > 0).all() and not hm.any() and (ht["tumour_nucleus_count"] == 0).all()
    _, tt = S.make_patches(8, size=64, label=0, seed=25, case="typical")
    assert (ht["nucleus_area_mean"] > tt["nucleus_area_mean"]).mean() >= 0.75  # large reactive cells
    _, ct = S.make_patches(8, size=64, label=0, seed=25, case="capsule")
    assert (ct["nucleus_count"] < tt["nucleus_count"]).all()  # collagen, few spindle cells
    assert not fm.any()
    with pytest.raises(ValueError, match="not a case of label 1"):
        S.make_patches(2, label=1, case="fat")
    with pytest.raises(ValueError, match="case must be"):
        S.make_patches(2, case="necrosis")


def test_lumen_is_near_white_inside_and_not_outside():
    for label in (0, 1):
        images, truth = S.make_patches(8, size=128, label=label, lumen=True, seed=5, case="typical")
        assert truth["lumen"].all()
        yy, xx = np.mgrid[:128, :128] + 0.5
        for img, row in zip(images, truth.itertuples()):
            d = np.hypot(xx - row.lumen_x, yy - row.lumen_y)
            inside = img[d < 0.8 * row.lumen_r].astype(float)
            outside = img[d > row.lumen_r + 4].astype(float)
            assert inside.min() >= 215, (label, row.index, inside.min())
            assert outside.mean() < inside.mean() - 25, (label, row.index, outside.mean())
            # radius 12-22 % of the side, centre in the middle 40 %
            assert 0.12 * 128 <= row.lumen_r <= 0.22 * 128
            assert 0.3 * 128 <= row.lumen_x <= 0.7 * 128
    _, truth = S.make_patches(6, lumen=False, seed=5)
    assert not truth["lumen"].any() and truth["lumen_r"].isna().all()


def test_lumen_frequency_matches_documented_probability():
    _, truth = S.make_patches(400, seed=7)
    assert 0.24 < truth["lumen"].mean() < 0.36  # Bernoulli(0.3), n = 400: sd 0.023
    assert set(truth["centre"]) == {0, 1, 2, 3, 4}
    d = S.DEFAULT_DIFFICULTY
    assert truth["brightness"].abs().max() <= 12 + 18 * d and truth["contrast"].sub(1).abs().max() <= 0.15 + 0.2 * d


def test_mask_marks_tumour_nuclei_only_and_is_hematoxylin_rich():
    from skimage.color import rgb2hed

    images, truth, masks = S.make_patches(6, size=128, seed=4, return_mask=True)
    assert masks.shape == (6, 128, 128) and masks.dtype == bool
    neg = truth["label"].to_numpy() == 0
    assert not masks[neg].any()
    for img, m in zip(images[~neg], masks[~neg]):
        assert m.sum() > 500
        hema = rgb2hed(img)[..., 0]
        assert hema[m].mean() > hema[~m].mean() + 0.01
    # mask pixels approximate the analytic tumour-nucleus areas (nuclei cut by the border count less)
    _, t, m = S.make_patches(1, size=256, label=1, lumen=False, seed=9, return_mask=True)
    assert m.sum() > 0.5 * t["tumour_nucleus_count"][0] * 16 * np.pi * 4.5**2


def test_class_colours_read_as_h_and_e():
    """Both classes read as H&E (pink-purple: green absorbed most) at the reference centre; tumour
    nuclei are hematoxylin-dark at their rim, lymphocytes throughout."""
    images, truth = S.make_patches(40, size=64, seed=8, centre=0, brightness=0.0, contrast=1.0, difficulty=0.0)
    for c in (0, 1):
        m = images[truth.label == c].reshape(-1, 3).astype(float).mean(0)
        assert m[1] < m[0] - 15 and m[1] < m[2] - 15, (c, m)


def test_fixed_attributes_and_centres_change_colour():
    means = []
    for c in range(5):
        images, truth = S.make_patches(8, seed=1, centre=c, brightness=0.0, contrast=1.0)
        assert (truth["centre"] == c).all() and (truth["brightness"] == 0).all()
        means.append(images.reshape(-1, 3).mean(0))
    means = np.array(means)
    assert np.abs(means[:, None] - means[None]).max(axis=2)[np.triu_indices(5, 1)].min() > 2


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="size"):
        S.make_patches(2, size=100)
    with pytest.raises(ValueError, match="label"):
        S.make_patches(2, label=2)
    with pytest.raises(ValueError, match="n must"):
        S.make_patches(-1)
    with pytest.raises(ValueError, match="seed"):
        S.make_patches(2, seed=-5)
    with pytest.raises(TypeError, match="unknown attribute"):
        S.make_patches(2, lumens=True)
    with pytest.raises(ValueError, match="centre"):
        S.make_patches(2, centre=5)
    images, truth = S.make_patches(0)
    assert images.shape == (0, 64, 64, 3) and len(truth) == 0


def test_value_noise_grid_and_points_agree():
    key = S._patch_key(0, np.arange(2))
    xs = np.array([np.linspace(0, 100, 7), np.linspace(50, 90, 7)])
    ys = np.array([np.linspace(3, 60, 5), np.linspace(-20, 10, 5)])
    grid = S._value_noise(key, xs, ys, 30.0, 101)
    X = np.broadcast_to(xs[:, None, :], grid.shape)
    Y = np.broadcast_to(ys[:, :, None], grid.shape)
    np.testing.assert_allclose(S._value_noise_points(key, X, Y, 30.0, 101), grid, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# demo slides (the session fixture ``demo_slides`` in conftest.py makes the small variant once)


def _polys(xml_path):
    root = ET.parse(xml_path).getroot()
    out = []
    for ann in root.iter("Annotation"):
        coords = sorted(ann.iter("Coordinate"), key=lambda c: int(c.get("Order")))
        out.append((ann.get("PartOfGroup"), np.array([[float(c.get("X")), float(c.get("Y"))] for c in coords])))
    return root, out


def test_openslide_reads_every_level(demo_slides):
    import openslide

    expected = {
        demo_slides.tumor: (4096, 3072),
        demo_slides.normal: (2048, 1536),
    }
    for path, (w, h) in expected.items():
        with openslide.OpenSlide(str(path)) as slide:
            assert slide.level_count == 5
            assert slide.level_dimensions == tuple((w // d, h // d) for d in (1, 2, 4, 8, 16))
            assert slide.level_downsamples == (1.0, 2.0, 4.0, 8.0, 16.0)
            assert float(slide.properties["openslide.mpp-x"]) == pytest.approx(0.25)
            for level in range(5):
                region = np.asarray(slide.read_region((0, 0), level, (8, 8)).convert("RGB"))
                assert region.min() > 200  # the top-left corner (<= 128 level-0 px) is glass


def test_tumour_slide_pixels_follow_the_label_mask(demo_slides):
    import openslide
    from PIL import Image

    mask = np.asarray(Image.open(demo_slides.tumor_mask))
    assert mask.shape == (3072 // 16, 4096 // 16) and mask.dtype == np.uint8
    assert set(np.unique(mask)) == {0, 1, 2}
    with openslide.OpenSlide(str(demo_slides.tumor)) as slide:
        level4 = np.asarray(slide.read_region((0, 0), 4, slide.level_dimensions[4]).convert("RGB")).astype(float)
    grey = level4.mean(axis=2)
    assert grey[mask == 0].mean() > 225  # glass (brightness shifts it by at most -22.8 grey levels)
    assert grey[mask == 1].mean() < 200 and grey[mask == 2].mean() < 200  # tissue
    # colour is not the cue: tumour and node differ by less than 15 grey levels at level 4
    assert abs(grey[mask == 2].mean() - grey[mask == 1].mean()) < 15


def test_xml_is_asap_with_three_groups_and_a_hole(demo_slides):
    from shapely.geometry import Polygon

    root, polys = _polys(demo_slides.tumor_xml)
    assert root.tag == "ASAP_Annotations"
    assert [g for g, _ in polys] == ["_0", "_2", "_1"]
    assert all(a.get("Type") == "Polygon" for a in root.iter("Annotation"))
    groups = [g.get("Name") for g in root.find("AnnotationGroups").iter("Group")]
    assert groups == ["_0", "_1", "_2"]
    shapes = {g: Polygon(v) for g, v in polys}
    assert all(s.is_valid for s in shapes.values())
    assert shapes["_0"].contains(shapes["_2"])  # the non-tumour hole lies inside the metastasis
    assert not shapes["_0"].intersects(shapes["_1"])
    # label-mask tumour area agrees with the polygons (mask pixel = 16 x 16 level-0 pixels)
    from PIL import Image

    mask = np.asarray(Image.open(demo_slides.tumor_mask))
    area = (shapes["_0"].difference(shapes["_2"]).area + shapes["_1"].area) / 16**2
    assert (mask == 2).sum() == pytest.approx(area, rel=0.02)
    assert not demo_slides.normal.with_suffix(".xml").exists()


def test_layout_of_default_slide_gives_thousands_of_patches():
    """The default tumour slide: thousands of tissue patches at level 0, hundreds of tumour patches."""
    layout = S.demo_slide_layout("tumor", 0, "default")
    assert (layout["width"], layout["height"]) == (16384, 12288)
    mask = S.label_mask(layout, 256)  # one pixel per 256-px level-0 patch (centre sample)
    assert (mask > 0).sum() > 2000
    assert (mask == 2).sum() > 300
    mask1 = S.label_mask(layout, 512)  # level-1 patches
    assert (mask1 > 0).sum() > 500 and (mask1 == 2).sum() > 80


def test_asap_xml_text_exact():
    text = S.asap_xml([("_0", np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 5.5]]))])
    assert '<Annotation Name="Annotation 0" Type="Polygon" PartOfGroup="_0" Color="#F4FA58">' in text
    assert '<Coordinate Order="2" X="10.0000" Y="5.5000" />' in text
    root = ET.fromstring(text)
    assert len(list(root.iter("Coordinate"))) == 3


def test_label_mask_exact_on_a_square():
    layout = {"width": 64, "height": 32, "tissue": [np.array([[0, 0], [32, 0], [32, 32], [0, 32]], float)],
              "annotations": [("_0", np.array([[8, 8], [24, 8], [24, 24], [8, 24]], float))]}
    m = S.label_mask(layout, 8)
    expected = np.zeros((4, 8), np.uint8)
    expected[:, :4] = 1
    expected[1:3, 1:3] = 2
    np.testing.assert_array_equal(m, expected)


def test_cache_is_reused_and_versioned(tmp_path, monkeypatch):
    first = S.demo_slides("small", seed=1, root=tmp_path, show_progress=False)
    stamp = json.loads((first.folder / "VERSION.json").read_text())
    assert stamp == {"generator_version": S.GENERATOR_VERSION, "seed": 1, "size": "small"}
    mtimes = {p: p.stat().st_mtime_ns for p in (first.tumor, first.tumor_xml, first.tumor_mask, first.normal)}
    second = S.demo_slides("small", seed=1, root=tmp_path, show_progress=False)
    assert second == first
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    # no temporary files left behind by the atomic writes
    assert sorted(p.name for p in first.folder.iterdir()) == [
        "VERSION.json", "demo_normal.tif", "demo_tumor.tif", "demo_tumor.xml", "demo_tumor_mask.png"
    ]
    # a new generator version regenerates
    monkeypatch.setattr(S, "GENERATOR_VERSION", "test-bump")
    S.demo_slides("small", seed=1, root=tmp_path, show_progress=False)
    assert first.tumor.stat().st_mtime_ns != mtimes[first.tumor]
    assert json.loads((first.folder / "VERSION.json").read_text())["generator_version"] == "test-bump"


def test_demo_data_dir_uses_histogan_data(tmp_path, monkeypatch):
    monkeypatch.setenv("HISTOGAN_DATA", str(tmp_path))
    assert S.demo_data_dir("small", 3) == tmp_path.resolve() / "demo" / "small-seed3"


def test_no_silent_overwrite_and_bad_paths(demo_slides, tmp_path):
    with pytest.raises(FileExistsError):
        S.make_demo_slide(demo_slides.tumor, "tumor", size="small")
    with pytest.raises(ValueError, match=r"\.tif"):
        S.make_demo_slide(tmp_path / "x.png", "normal", size="small")
    with pytest.raises(ValueError, match="kind"):
        S.demo_slide_layout("benign")


def test_patch_set_and_figure(tmp_path):
    paths = S.write_patch_set(tmp_path, n=10, size=64, seed=2)
    data = np.load(paths["npz"])
    images, truth = S.make_patches(10, size=64, seed=2)
    np.testing.assert_array_equal(data["images"], images)
    np.testing.assert_array_equal(data["labels"], truth["label"].to_numpy())
    csv = pd.read_csv(paths["csv"])
    assert csv["nucleus_count"].tolist() == truth["nucleus_count"].tolist()
    with pytest.raises(FileExistsError):
        S.write_patch_set(tmp_path, n=10, size=64, seed=2)

    import matplotlib.pyplot as plt

    fig = S.plot_class_cues(size=128)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(fig.axes) == 4 and titles[0].startswith("negative") and titles[1].startswith("positive")
    assert "not patient data" in fig._suptitle.get_text()
    plt.close(fig)


def test_slide_tiles_are_seamless():
    """Two adjacent fields rendered separately equal one field rendered at once (cells live in a
    global plane, chosen from global sites), so slide tiles have no seams, also at a tumour border."""
    key = S._patch_key(5, np.array([0]))
    ppu = 2.0  # rendered pixels per um
    big = 128
    tumour_img = np.zeros((1, big, big), np.float32)
    tumour_img[:, :, 70:] = 1.0  # tumour border inside the right tile

    def site(cx, cy):
        c = np.clip((cx * ppu).astype(int), 0, big - 1)
        return (c >= 70).astype(np.float32), np.ones(cx.shape, np.float32)

    st = S._slide_stains(0, "tumor")
    stains = {k: v for k, v in st.items() if k != "centre"}
    lumen = np.zeros((1, 4))
    whole, _, _ = S._render(key, np.zeros(1), np.zeros(1), big, ppu, tumour_img, lumen, stains,
                            np.zeros((1, 2, big, big), np.float32), site=site, tumour_layer=True)
    halves = []
    for x0 in (0, 64):
        t = np.ascontiguousarray(tumour_img[:, :64, x0 : x0 + 64])
        img, _, _ = S._render(key, np.array([x0 / ppu]), np.zeros(1), 64, ppu, t, lumen, stains,
                              np.zeros((1, 2, 64, 64), np.float32), site=site, tumour_layer=True)
        halves.append(img[0])
    joined = np.concatenate(halves, axis=1)
    diff = np.abs(joined.astype(int) - whole[0, :64].astype(int))
    assert diff.max() <= 1


def test_xml_has_the_structure_of_a_real_camelyon_file(demo_slides, real_data):
    """Same element hierarchy and attributes as a real CAMELYON17 ASAP file (shared/real-data)."""

    def paths(root, prefix=""):
        out = set()
        for child in root:
            p = f"{prefix}/{child.tag}[{','.join(sorted(child.attrib))}]"
            out |= {p} | paths(child, p)
        return out

    real = ET.parse(real_data / "annotations" / "patient_004_node_4.xml").getroot()
    ours = ET.parse(demo_slides.tumor_xml).getroot()
    assert real.tag == ours.tag == "ASAP_Annotations"
    assert paths(ours) == paths(real)


def test_files_say_they_are_synthetic(demo_slides):
    import openslide
    from PIL import Image

    for path in demo_slides.slides:
        with openslide.OpenSlide(str(path)) as slide:
            assert "not patient data" in slide.properties["tiff.ImageDescription"]
    info = Image.open(demo_slides.tumor_mask).info
    assert info["downsample"] == "16" and "not patient data" in info["Description"]
    assert "not patient data" in demo_slides.tumor_xml.read_text()


def test_generic_tiled_tiff_pages(demo_slides):
    """Any generic tiled-TIFF reader sees the pyramid: 5 tiled JPEG pages, reduced ones subfiletype 1,
    decoding to the same pixels OpenSlide returns."""
    import openslide
    import tifffile

    with tifffile.TiffFile(demo_slides.tumor) as tif:
        pages = tif.pages
        assert len(pages) == 5 and not tif.is_bigtiff
        for k, page in enumerate(pages):
            assert page.is_tiled and (page.tilewidth, page.tilelength) == (256, 256)
            assert page.compression == tifffile.COMPRESSION.JPEG
            assert page.shape == (3072 // 2**k, 4096 // 2**k, 3)
            assert page.subfiletype == (0 if k == 0 else 1)
        level2 = pages[2].asarray()
    with openslide.OpenSlide(str(demo_slides.tumor)) as slide:
        ref = np.asarray(slide.read_region((0, 0), 2, slide.level_dimensions[2]).convert("RGB"))
    assert np.abs(level2.astype(int) - ref.astype(int)).mean() < 1.0


def test_slide_bands_are_seamless_after_interpolation():
    """Two bands of the slide writer stacked equal one field rendered at once and interpolated to
    level 0 (checked on 512 level-0 columns across the metastasis border; zero pixel noise)."""
    layout = S.demo_slide_layout("tumor", 0, "small")
    lab = S.label_mask(layout, 2)
    tum, tis = lab == 2, lab != 0
    st = S._slide_stains(0, "tumor")
    key = int(S._patch_key(0, np.array([7]), salt=0x511DE)[0])
    bank = np.zeros((1, 2, 258, 258), np.float32)
    both = np.concatenate([S._render_band(key, st, tis, tum, y, 4096, bank) for y in (512, 1024)], axis=0)
    ppu, r0, c0 = 2.0, 256, 768
    assert 0.2 < tum[r0 : r0 + 512, c0 : c0 + 256].mean() < 0.8  # the border runs through the block

    def site(cx, cy):
        r = np.clip((cy * ppu).astype(np.int64), 0, tis.shape[0] - 1)
        c = np.clip((cx * ppu).astype(np.int64), 0, tis.shape[1] - 1)
        return tum[r, c].astype(np.float32), tis[r, c].astype(np.float32)

    stains = {k: v for k, v in st.items() if k != "centre"}
    big, _, _ = S._render(
        np.array([key], np.uint64), np.array([c0 / ppu]), np.array([r0 / ppu]), 512, ppu,
        tum[None, r0 : r0 + 512, c0 : c0 + 512].astype(np.float32), np.zeros((1, 4)), stains,
        np.zeros((1, 2, 512, 512), np.float32), tissue=tis[None, r0 : r0 + 512, c0 : c0 + 512].astype(np.float32),
        site=site, tumour_layer=True,
    )
    up = S._upsample2(big[0])
    diff = np.abs(up[2:-2, 2:510].astype(int) - both[2:-2, 2 * c0 + 2 : 2 * c0 + 510].astype(int))
    assert diff.max() <= 1
