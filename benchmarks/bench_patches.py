"""Patch extraction speed on the demo slide: the package versus the naive loop, levels 0 and 1.

The naive loop is what most public extractors do: for every grid patch it computes the tissue fraction,
labels the patch with its own shapely polygon test (unprepared geometry, one patch at a time) and, when
the patch is kept, calls OpenSlide's ``read_region`` once. The package labels the whole grid at once
(vectorised shapely on a prepared geometry, :func:`histogan_lite.patches.patch_grid`) and reads the kept
patches with :func:`histogan_lite.patches.read_patches` (TIFF tiles decoded directly, tile cache).
Both read exactly the same patches; the script asserts identical labels and identical pixels.

Timings exclude PNG encoding, which is reported separately (it is the same for both ways). "2 procs"
splits the grid rows between two processes (the package's ``extract_patches(workers=2)`` does the same
with blocks). Goal (issue 4): the package at least 3x the naive loop on 2 cores, identical labels.

Usage: ``.venv/bin/python benchmarks/bench_patches.py [--size default|small] [--repeat 2]``
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PATCH = 256


def naive_labels_and_read(slide_path, xml_path, level, rows):
    """The naive loop over grid patches ``rows`` (list of (u, v)); returns labels and a pixel checksum."""
    import shapely

    from histogan_lite.annotations import read_asap_xml
    from histogan_lite.patches import label_patches, tissue_mask
    from histogan_lite.slides import Slide

    slide = Slide(slide_path)
    tissue = tissue_mask(slide)
    region = read_asap_xml(xml_path).tumor_region
    ds = slide.level_downsamples[level]
    labels, total = [], 0
    for u, v in rows:
        x, y = round(u * ds), round(v * ds)
        box = shapely.box(x, y, x + PATCH * ds, y + PATCH * ds)
        tumor = region.intersection(box).area / box.area  # one polygon test per patch
        tis = tissue.fractions(x, y, x + PATCH * ds, y + PATCH * ds)
        label = int(label_patches(np.array([tumor]), tis, annotated=True)[0])
        labels.append(label)
        if label >= 0:
            total += int(slide.read_region((x, y), level, (PATCH, PATCH)).sum(dtype=np.int64))
    return labels, total


def package_labels_and_read(slide_path, xml_path, level, row_range=None):
    from histogan_lite.annotations import read_asap_xml
    from histogan_lite.patches import patch_grid, read_patches
    from histogan_lite.slides import Slide

    slide = Slide(slide_path)
    grid = patch_grid(slide, level, PATCH, annotations=read_asap_xml(xml_path))
    if row_range is not None:
        grid = grid[(grid["row"] >= row_range[0]) & (grid["row"] < row_range[1])]
    kept = grid[grid["label"] >= 0]
    total = sum(int(im.sum(dtype=np.int64)) for _, im in read_patches(slide, level, kept))
    return grid["label"].tolist(), total


def _naive_part(args):
    return naive_labels_and_read(*args)


def _package_part(args):
    return package_labels_and_read(*args)


def timed(fn, repeat):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="default", choices=["default", "small"], help="demo slide size")
    parser.add_argument("--repeat", type=int, default=2, help="repetitions (best time is reported)")
    args = parser.parse_args(argv)
    from PIL import Image

    from histogan_lite.annotations import read_asap_xml
    from histogan_lite.patches import patch_grid, read_patches
    from histogan_lite.slides import Slide
    from histogan_lite.synthetic import demo_slides

    demo = demo_slides(size=args.size, show_progress=False)
    slide_path, xml_path = demo.tumor, demo.tumor_xml
    slide = Slide(slide_path)
    rows_md = []
    ctx = __import__("multiprocessing").get_context("fork")
    for level in (0, 1):
        grid = patch_grid(slide, level, PATCH, annotations=read_asap_xml(xml_path))
        cells = list(zip(grid["u"], grid["v"]))
        kept = grid[grid["label"] >= 0]
        n_kept = len(kept)
        half = grid["row"].max() // 2 + 1
        split = [c for c, r in zip(cells, grid["row"]) if r < half], [c for c, r in zip(cells, grid["row"]) if r >= half]

        t_naive, (naive_labels, naive_sum) = timed(
            lambda: naive_labels_and_read(slide_path, xml_path, level, cells), args.repeat)  # fmt: skip
        t_pkg, (pkg_labels, pkg_sum) = timed(lambda: package_labels_and_read(slide_path, xml_path, level), args.repeat)
        assert naive_labels == pkg_labels, f"labels differ at level {level}"
        assert naive_sum == pkg_sum, f"pixels differ at level {level}"

        with ProcessPoolExecutor(2, mp_context=ctx) as pool:
            pool.submit(int, 0).result()  # start the workers outside the timing

            def naive2():
                parts = list(pool.map(_naive_part, [(slide_path, xml_path, level, s) for s in split]))
                return parts[0][0] + parts[1][0], parts[0][1] + parts[1][1]

            def pkg2():
                jobs = [(slide_path, xml_path, level, (0, half)), (slide_path, xml_path, level, (half, 10**9))]
                parts = list(pool.map(_package_part, jobs))
                return parts[0][0] + parts[1][0], parts[0][1] + parts[1][1]

            t_naive2, (l2, s2) = timed(naive2, args.repeat)
            t_pkg2, (p2, ps2) = timed(pkg2, args.repeat)
        assert l2 == naive_labels and p2 == pkg_labels and s2 == ps2 == naive_sum

        # PNG encoding of the kept patches (the same cost whichever way they were read)
        images = [im for _, im in read_patches(slide, level, kept)]
        png = {}
        for cl in (1, 6):
            t0 = time.perf_counter()
            for im in images:
                Image.fromarray(im).save(io.BytesIO(), format="PNG", compress_level=cl)
            png[cl] = n_kept / (time.perf_counter() - t0)
        rows_md.append((level, len(grid), n_kept, n_kept / t_naive, n_kept / t_naive2, n_kept / t_pkg,
                        n_kept / t_pkg2, t_naive / t_pkg2, t_naive2 / t_pkg2, png[1], png[6]))  # fmt: skip

    w, h = slide.dimensions
    lines = [
        "## Patch extraction (`benchmarks/bench_patches.py`)",
        "",
        f"Demo tumour slide ({w} x {h} level-0 pixels, JPEG tiles 256 x 256, synthetic teaching data), "
        f"{PATCH} x {PATCH} patches, kept patches (tissue fraction >= 0.5, labelled) per second, best of "
        f"{args.repeat}. Naive: per-patch shapely label + one OpenSlide `read_region` per kept patch. "
        "Package: `patch_grid` (vectorised labels) + `read_patches` (direct tile decoding). Labels and "
        "pixels asserted identical. PNG encoding (Pillow) is separate and the same for both.",
        "",
        "| level | grid patches | kept | naive 1 proc (patch/s) | naive 2 procs | package 1 proc | package 2 procs "
        "| package 2 procs / naive 1 proc | package 2 procs / naive 2 procs | PNG encode level 1 (patch/s) | PNG level 6 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows_md:
        lines.append(
            f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.0f} | {r[4]:.0f} | {r[5]:.0f} | {r[6]:.0f} | {r[7]:.1f}x | {r[8]:.1f}x "
            f"| {r[9]:.0f} | {r[10]:.0f} |"
        )
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    lines += ["", f"Measured with Python {platform.python_version()} on {os.cpu_count()} CPU cores; load average "
              f"at the end (1, 5, 15 min): {load} (other jobs on the machine slow both ways alike).", ""]
    text = "\n".join(lines)
    print(text)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "patches.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
