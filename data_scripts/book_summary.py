"""Print a short summary after `make book`: pages built, build time, where the HTML is."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

# myst-nb logs one line per executed notebook: "<path>.ipynb: Executed notebook in 12.34 seconds [mystnb]"
EXECUTED = re.compile(r"([^\s:]+\.ipynb): Executed notebook in ([0-9.]+) seconds")


def chapter_times(log_text: str) -> list[tuple[str, float]]:
    """(notebook name, seconds) for every notebook the book build executed, from its log."""
    return [(Path(m.group(1)).stem, float(m.group(2))) for m in EXECUTED.finditer(log_text)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--html", type=Path, default=Path("_build/html"), help="built HTML folder")
    parser.add_argument("--seconds", type=float, default=None, help="wall time of the build")
    parser.add_argument("--log", type=Path, default=None, help="the build's log, for the time per chapter")
    args = parser.parse_args(argv)
    index = args.html / "index.html"
    if not index.is_file():
        print(f"error: {index} does not exist; the book was not built", file=sys.stderr)
        return 1
    pages = sorted(p for p in args.html.rglob("*.html") if "_static" not in p.parts and p.name not in ("genindex.html", "search.html"))
    chapters = sorted(p for p in (args.html / "book").glob("0*.html"))
    print()
    print("Book built")
    print(f"  pages: {len(pages)} ({len(chapters)} chapter pages)")
    if args.seconds is not None:
        print(f"  build time: {args.seconds:.0f} s")
    if args.log is not None and args.log.is_file():
        times = chapter_times(args.log.read_text(errors="replace"))
        if times:
            print("  time per chapter (execution):")
            for stem, seconds in times:
                print(f"    {stem:<24} {seconds:6.1f} s")
    print(f"  open: {index.resolve()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
