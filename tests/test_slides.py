"""Slides: level-0 locations, level-k sizes, white compositing, real files, picklable handles."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import tifffile
from PIL import Image

from histogan_lite.slides import (
    LevelError,
    Slide,
    SlideError,
    SlideFormatError,
    SlideNotFoundError,
    SlideReadError,
    composite_on_white,
    open_slide,
)


def write_pyramid(path, image: np.ndarray, levels: int = 2, tile: int = 64):
    """A generic tiled TIFF pyramid OpenSlide reads: level k = image[::2**k, ::2**k] (deflate, lossless)."""
    with tifffile.TiffWriter(path) as w:
        for k in range(levels):
            step = 2**k
            w.write(np.ascontiguousarray(image[::step, ::step]), tile=(tile, tile), compression="deflate",
                    photometric="rgb", subfiletype=0 if k == 0 else 1)  # fmt: skip
    return path


def test_composite_on_white_exact():
    rgba = np.array([[[100, 50, 20, 128], [0, 0, 0, 0], [7, 8, 9, 255]]], dtype=np.uint8)
    out = composite_on_white(rgba)
    a = 128
    expected = [(c * a + 255 * (255 - a) + 127) // 255 for c in (100, 50, 20)]
    assert out.dtype == np.uint8 and out.shape == (1, 3, 3)
    assert out[0, 0].tolist() == expected
    assert out[0, 1].tolist() == [255, 255, 255]
    assert out[0, 2].tolist() == [7, 8, 9]


def test_tiled_tiff_levels_and_exact_pixels(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (192, 256, 3), dtype=np.uint8)
    slide = Slide(write_pyramid(tmp_path / "s.tif", image))
    assert slide.level_dimensions == ((256, 192), (128, 96))
    assert slide.level_downsamples == (1.0, 2.0)
    # location in level-0 pixels, size in level-1 pixels
    np.testing.assert_array_equal(slide.read_region((40, 60), 1, (20, 10)), image[::2, ::2][30:40, 20:40])
    np.testing.assert_array_equal(slide.read_region((3, 5), 0, (7, 9)), image[5:14, 3:10])
    # past the edge: white
    edge = slide.read_region((250, 190), 0, (10, 10))
    np.testing.assert_array_equal(edge[:2, :6], image[190:192, 250:256])
    assert (edge[2:] == 255).all() and (edge[:, 6:] == 255).all()


def test_pickle_reopens_lazily(tmp_path):
    image = np.full((128, 128, 3), 90, dtype=np.uint8)
    slide = Slide(write_pyramid(tmp_path / "s.tif", image, levels=1))
    slide.read_region((0, 0), 0, (4, 4))
    clone = pickle.loads(pickle.dumps(slide))
    assert clone._handle is None and clone.level_dimensions == slide.level_dimensions
    assert clone.read_region((10, 10), 0, (3, 3)).tolist() == [[[90] * 3] * 3] * 3


def test_level_error_lists_levels(tmp_path):
    slide = Slide(write_pyramid(tmp_path / "s.tif", np.zeros((128, 128, 3), np.uint8)))
    with pytest.raises(LevelError, match=r"level 5 does not exist in s.tif; its levels are 0: 128x128 \(downsample 1\), 1: 64x64"):
        slide.read_region((0, 0), 5, (4, 4))
    with pytest.raises(ValueError, match="positive"):
        slide.read_region((0, 0), 0, (0, 4))


def test_missing_file_and_not_a_slide(tmp_path):
    with pytest.raises(SlideNotFoundError, match="nope.svs"):
        Slide(tmp_path / "nope.svs")
    text = tmp_path / "notes.tif"
    text.write_text("not a slide")
    with pytest.raises(SlideFormatError, match="notes.tif"):
        Slide(text)


# ---- real files (skipped without ../shared/real-data) ------------------------------------------
def test_boxes_levels_are_not_powers_of_two(real_data):
    slide = Slide(real_data / "slides" / "boxes.tiff")
    assert slide.level_dimensions == ((300, 250), (150, 125), (75, 62), (37, 31))
    assert slide.level_downsamples[:2] == (1.0, 2.0)
    assert slide.level_downsamples[2] == pytest.approx(4.016129, abs=1e-6)
    assert slide.level_downsamples[3] == pytest.approx(8.086312, abs=1e-6)
    assert slide.get_best_level_for_downsample(4) == 1
    assert slide.get_best_level_for_downsample(4.02) == 2
    reference = np.asarray(Image.open(real_data / "slides" / "boxes.png").convert("RGB"))
    np.testing.assert_array_equal(slide.read_level(0), reference)


def test_boxes_level1_patch_equals_whole_level_crop(real_data):
    slide = Slide(real_data / "slides" / "boxes.tiff")
    whole = slide.read_level(1)
    assert whole.shape == (125, 150, 3)
    for u, v in [(0, 0), (37, 21), (118, 93)]:
        patch = slide.read_region((round(u * 2.0), round(v * 2.0)), 1, (32, 32))
        np.testing.assert_array_equal(patch, whole[v : v + 32, u : u + 32])


def test_cmu_reads_past_edge_are_white(real_data):
    slide = open_slide(real_data / "slides" / "cmu-1-small-region.svs")
    assert slide.level_dimensions == ((2220, 2967),)
    assert slide.mpp == pytest.approx(0.499)
    region = slide.read_region((2200, 2950), 0, (40, 40))
    inside = slide.read_region((2200, 2950), 0, (20, 17))
    np.testing.assert_array_equal(region[:17, :20], inside)
    assert (region[17:] == 255).all() and (region[:, 20:] == 255).all()
    assert slide.thumbnail(256).shape == (256, 192, 3)


def test_real_bad_files_give_clear_errors(real_data):
    d = real_data / "slides"
    with pytest.raises(SlideFormatError, match=r"unopenable\.tiff.*Unsupported TIFF compression"):
        open_slide(d / "unopenable.tiff")
    with pytest.raises(SlideFormatError, match=r"broken\.svs.*not a slide"):
        open_slide(d / "broken.svs")
    with pytest.raises(SlideReadError, match=r"unreadable\.svs.*Bogus marker length"):
        open_slide(d / "unreadable.svs")
    assert issubclass(SlideReadError, SlideError) and issubclass(SlideFormatError, ValueError)


def test_read_block_uses_tiles_and_equals_openslide(tmp_path):
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    slide = Slide(write_pyramid(tmp_path / "s.tif", image, levels=2, tile=64))
    assert slide._tile_reader(1) is not None  # the direct tile path is active after its self-check
    np.testing.assert_array_equal(slide.read_block(0, 50, 30, 100, 90), image[30:120, 50:150])
    np.testing.assert_array_equal(slide.read_block(1, 10, 20, 40, 30), image[::2, ::2][20:50, 10:50])
    edge = slide.read_block(0, 280, 190, 40, 20)
    np.testing.assert_array_equal(edge[:10, :20], image[190:, 280:])
    assert (edge[10:] == 255).all() and (edge[:, 20:] == 255).all()
    clone = pickle.loads(pickle.dumps(slide))
    assert clone._tiles is None
    np.testing.assert_array_equal(clone.read_block(0, 0, 0, 8, 8), image[:8, :8])


def test_boxes_read_block_is_the_exact_level_raster(real_data):
    slide = Slide(real_data / "slides" / "boxes.tiff")
    for level in range(4):  # also at the non-integer downsamples 4.016 and 8.086
        whole = slide.read_level(level)
        np.testing.assert_array_equal(slide.read_block(level, 5, 7, 20, 19), whole[7:26, 5:25])


def test_cmu_read_block_equals_read_region(real_data):
    slide = Slide(real_data / "slides" / "cmu-1-small-region.svs")
    for u, v in [(1000, 1500), (2100, 2900), (0, 0)]:
        np.testing.assert_array_equal(slide.read_block(0, u, v, 300, 300), slide.read_region((u, v), 0, (300, 300)))


def test_tile_path_falls_back_when_self_check_fails(tmp_path, monkeypatch):
    from histogan_lite import slides as S

    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    slide = Slide(write_pyramid(tmp_path / "s.tif", image, levels=1))
    monkeypatch.setattr(S._TiffTiles, "read", lambda self, *a: np.zeros((a[4], a[3], 3), np.uint8))
    assert slide._tile_reader(0) is None  # decoded tiles disagree with OpenSlide: not used
    np.testing.assert_array_equal(slide.read_block(0, 10, 20, 30, 40), image[20:60, 10:40])
