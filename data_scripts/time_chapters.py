"""Measure how long each chapter takes to execute, and write the table the instructor guide shows.

Runs every chapter notebook with papermill (a fresh kernel each), with the given parameters, and
writes ``book/results/chapter_times_<mode>.md``: chapter, wall time in seconds, device, and the
hardware it ran on. Run it on the machine you will teach on:

    .venv/bin/python data_scripts/time_chapters.py                 # fast mode (what the book build runs)
    .venv/bin/python data_scripts/time_chapters.py --full          # the full labs (fast = False)
    .venv/bin/python data_scripts/time_chapters.py --device cuda --full
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def hardware() -> str:
    from histogan_lite.utils import hardware_summary

    return hardware_summary()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="run with fast = False (the full labs)")
    parser.add_argument("--device", default="auto", help="device parameter passed to every chapter")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", help="chapter stems to run, e.g. 02_gans")
    parser.add_argument("--out", type=Path, default=None, help="markdown file to write")
    args = parser.parse_args(argv)
    import papermill

    mode = "full" if args.full else "fast"
    out = args.out or ROOT / "book" / "results" / f"chapter_times_{mode}.md"
    chapters = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        chapters = [c for c in chapters if c.stem in args.only]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for nb in chapters:
            start = time.perf_counter()
            papermill.execute_notebook(
                str(nb),
                str(Path(tmp) / nb.name),
                parameters={"fast": not args.full, "seed": args.seed, "device": args.device},
                cwd=str(nb.parent),
                kernel_name="python3",
                progress_bar=False,
            )
            seconds = time.perf_counter() - start
            rows.append((nb.stem, seconds))
            print(f"{nb.stem}: {seconds:.0f} s", flush=True)
    lines = [
        f"| chapter | wall time ({mode} mode) |",
        "|---|---|",
        *[f"| {stem} | {sec:.0f} s |" for stem, sec in rows],
        f"| **total** | **{sum(s for _, s in rows) / 60:.1f} min** |",
        "",
        f"Measured with `python data_scripts/time_chapters.py{' --full' if args.full else ''} --device {args.device}` "
        f"(papermill, one fresh kernel per chapter, kernel start included) on: {hardware()}.",
        "",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".md.tmp")
    tmp_out.write_text("\n".join(lines))
    tmp_out.replace(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
