"""Print a short summary after `make book`: pages built, build time, where the HTML is."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--html", type=Path, default=Path("_build/html"), help="built HTML folder")
    parser.add_argument("--seconds", type=float, default=None, help="wall time of the build")
    args = parser.parse_args(argv)
    index = args.html / "index.html"
    if not index.is_file():
        print(f"error: {index} does not exist; the book was not built", file=sys.stderr)
        return 1
    pages = sorted(p for p in args.html.rglob("*.html") if "_static" not in p.parts and p.name not in ("genindex.html", "search.html"))
    chapters = sorted(p for p in (args.html / "book").glob("0*.html"))
    print()
    print("Book built")
    print(f"  pages: {len(pages)} ({len(chapters)} chapters executed)")
    if args.seconds is not None:
        print(f"  build time: {args.seconds:.0f} s")
    print(f"  open: {index.resolve()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
