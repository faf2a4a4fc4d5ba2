"""Cut labelled 256x256 patches from whole-slide images into class folders and a manifest (paper section 2).

    python data_scripts/extract_patches.py --slide tumor_001.tif --annotations tumor_001.xml \
        --slide normal_001.tif --annotations none --level 1 --out data/patches_L1 --workers 2

Give ``--annotations`` once per ``--slide`` in the same order (``none`` for a slide without tumour), or
not at all. Output: ``OUT/negative/*.png``, ``OUT/positive/*.png``, ``OUT/patches.csv`` (x, y in level-0
pixels; width, height in level-k pixels) and ``OUT/dataset.json``. Re-running the same command resumes;
a different dataset in OUT is refused unless ``--overwrite``. A slide that yields no patch is an error (exit
1, naming the slide and why) unless ``--allow-empty``; CAMELYON slides with a known problem are warned
about (see ``histogan_lite.camelyon``). Ctrl-C stops within seconds (exit status
130) and leaves ``OUT/patches.csv`` listing the finished blocks; the same command then resumes.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--slide", action="append", required=True, type=Path, help="slide file (repeat for several)")
    p.add_argument("--annotations", action="append", default=None,
                   help="ASAP/CAMELYON XML for the matching --slide, or 'none' (repeat, same order)")
    p.add_argument("--level", type=int, default=0, help="pyramid level (paper: 0 and 1); default 0")
    p.add_argument("--patch-size", type=int, default=256, help="patch side in level-k pixels; default 256")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--tumor-threshold", type=float, default=0.5, help="positive if tumour fraction >= this (0.5)")
    p.add_argument("--negative-max", type=float, default=0.0, help="negative if tumour fraction <= this (0)")
    p.add_argument("--min-tissue", type=float, default=0.5, help="skip patches with less tissue (0.5)")
    p.add_argument("--tissue-downsample", type=float, default=32.0, help="tissue mask scale, level-0 px per mask px")
    p.add_argument("--group", action="append", default=[], metavar="NAME=ROLE",
                   help="map an annotation group to tumor, exclusion or ignore (repeat)")
    p.add_argument("--workers", type=int, default=1, help="processes; default 1")
    p.add_argument("--block", type=int, default=8,
                   help="grid cells per block side (a block is the unit of parallel work and of resuming); default 8")
    p.add_argument("--negatives-from-tumor-free-slides", action="store_true",
                   help="take negatives only from slides given without annotations ('none'), not from the tissue "
                        "outside the tumour outlines of annotated slides (real tumour slides are not all "
                        "exhaustively annotated)")
    p.add_argument("--allow-empty", action="store_true",
                   help="go on when a slide yields no patch (default: exit 1 naming the slide)")
    p.add_argument("--overwrite", action="store_true", help="replace a different dataset in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from histogan_lite.annotations import AnnotationError
    from histogan_lite.patches import DatasetExistsError, class_counts, extract_patches
    from histogan_lite.slides import LevelError, SlideError

    annotations = None
    if args.annotations is not None:
        annotations = [None if a.lower() == "none" else Path(a) for a in args.annotations]
        if len(annotations) != len(args.slide):
            print(f"extract_patches: {len(args.slide)} --slide but {len(annotations)} --annotations; give one per "
                  "slide ('none' for a slide without tumour)", file=sys.stderr)  # fmt: skip
            return 2
    group_map = {}
    for item in args.group:
        name, _, role = item.rpartition("=")
        if not name or role not in ("tumor", "exclusion", "ignore"):
            print(f"extract_patches: --group {item!r} must be NAME=tumor|exclusion|ignore", file=sys.stderr)
            return 2
        group_map[name] = role
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            manifest = extract_patches(
                args.slide, args.out, annotations=annotations, level=args.level, patch_size=args.patch_size,
                tumor_threshold=args.tumor_threshold, negative_max=args.negative_max, min_tissue=args.min_tissue,
                tissue_downsample=args.tissue_downsample, group_map=group_map or None, workers=args.workers,
                block=args.block, negatives_from="tumor_free_slides" if args.negatives_from_tumor_free_slides else "all",
                allow_empty=args.allow_empty, overwrite=args.overwrite, show_progress=not args.quiet,
            )  # fmt: skip
    except KeyboardInterrupt as exc:  # Ctrl-C: the manifest of the finished blocks is written
        status, error = 130, str(exc) or "interrupted"
    except (SlideError, AnnotationError, LevelError, DatasetExistsError, FileNotFoundError, ValueError) as exc:
        status, error = 1, str(exc)
    else:
        status, error = 0, None
    for w in caught:  # CAMELYON known problems; slides without patches under --allow-empty
        print(f"extract_patches: warning: {w.message}", file=sys.stderr)
    if status:
        print(f"extract_patches: {error}", file=sys.stderr)
        return status
    print(f"{len(manifest)} patches -> {args.out / 'patches.csv'}")
    if len(manifest):
        print(class_counts(manifest).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
