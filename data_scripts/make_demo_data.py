"""Write the embedded demo data: two demo whole-slide images, their annotations, and a patch set.

Synthetic teaching data, not patient data (see ``histogan_lite.synthetic``). Files written directly
in ``--out``:

* ``demo_tumor.tif``       pyramidal tiled TIFF (5 levels, 256-px JPEG tiles, 0.25 um/px at level 0)
* ``demo_tumor.xml``       its ASAP / CAMELYON16 annotations (tumour ``_0``, ``_1``; hole ``_2``)
* ``demo_tumor_mask.png``  ground-truth label mask at downsample 16 (0 glass, 1 normal, 2 tumour)
* ``demo_normal.tif``      a slide without tumour (and without annotation file)
* ``demo_patches_<size>.npz`` / ``.csv``  a balanced patch set with its truth table

Example: ``.venv/bin/python data_scripts/make_demo_data.py --out demo_data``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder to write the files into (created if missing)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--size", choices=("default", "small"), default="default",
        help="slide size: default (tumour slide 16384 x 12288 px) or small (a quarter of each side)",
    )
    parser.add_argument("--patches", type=int, default=2000, help="number of patches in the patch set (default 2000)")
    parser.add_argument("--patch-size", type=int, default=64, help="patch side in pixels (default 64)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing files")
    args = parser.parse_args(argv)

    from histogan_lite import synthetic

    t0 = time.perf_counter()
    try:
        slides = synthetic.make_demo_slides(args.out, seed=args.seed, size=args.size, overwrite=args.overwrite)
        t1 = time.perf_counter()
        patch_set = synthetic.write_patch_set(
            args.out, n=args.patches, size=args.patch_size, seed=args.seed, overwrite=args.overwrite
        )
    except (FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    t2 = time.perf_counter()
    print("Synthetic teaching data, not patient data.")
    for path in (slides.tumor, slides.tumor_xml, slides.tumor_mask, slides.normal, patch_set["npz"], patch_set["csv"]):
        print(f"  wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    print(f"  slides: {t1 - t0:.1f} s, patches: {t2 - t1:.1f} s, total: {t2 - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
