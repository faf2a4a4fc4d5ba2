"""Run every benchmark in this folder and rebuild BENCHMARKS.md from their result tables.

Each ``benchmarks/bench_<topic>.py`` prints a markdown table and writes it to
``benchmarks/results/<topic>.md``. This runner executes them one after the other (each in its own
process, so timings do not share warm caches) and then concatenates the result files, in a fixed
order, under the header of BENCHMARKS.md. ``bench_make.py`` (whole ``make book`` / ``make test`` from a
fresh clone, ~25 minutes) only runs with ``--with-make``.

Usage: ``make bench`` or ``.venv/bin/python benchmarks/run_all.py [--only synthetic patches] [--with-make]``.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ORDER = ["make", "synthetic", "demo_task", "patches", "training", "streaming", "latent", "evaluation", "gan_quality"]

HEADER = """# Benchmarks

Speed and memory goals of histogan-lite live here, never in timed unit tests. Every table below is
written by a script in `benchmarks/` (`make bench` re-runs them all and rebuilds this file; a single
one runs with `.venv/bin/python benchmarks/bench_<topic>.py`). Unless a table says otherwise the
numbers were measured on the project's reference machine: 2 CPU cores, 24 GiB, no GPU, torch 2.13 CPU.
"""


def topics() -> list[str]:
    found = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    return sorted(found, key=lambda t: (ORDER.index(t) if t in ORDER else len(ORDER), t))


def assemble() -> Path:
    parts = [HEADER]
    for topic in topics():
        result = HERE / "results" / f"{topic}.md"
        if result.exists():
            parts.append(result.read_text().strip() + "\n")
    out = ROOT / "BENCHMARKS.md"
    tmp = out.with_suffix(".md.tmp")
    tmp.write_text("\n".join(parts))
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="topics to run (default: all)")
    parser.add_argument("--with-make", action="store_true", help="also time make book / make test from a fresh clone")
    parser.add_argument("--assemble-only", action="store_true", help="only rebuild BENCHMARKS.md from results/")
    args = parser.parse_args(argv)
    failed = []
    if not args.assemble_only:
        for topic in topics():
            if args.only and topic not in args.only:
                continue
            if topic == "make" and not args.with_make:
                continue
            print(f"== bench_{topic}.py ({platform.node()}, python {platform.python_version()})", flush=True)
            start = time.perf_counter()
            rc = subprocess.call([sys.executable, str(HERE / f"bench_{topic}.py")], cwd=ROOT)
            print(f"== bench_{topic}.py finished in {time.perf_counter() - start:.0f} s (exit {rc})", flush=True)
            if rc != 0:
                failed.append(topic)
    out = assemble()
    print(f"wrote {out}")
    if failed:
        print(f"failed benchmarks: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
