"""Time the two README commands from a fresh clone: ``make test`` (venv creation included), then ``make book``.

This is what a new user or CI pays. It takes about half an hour on the reference machine, so
``benchmarks/run_all.py`` runs it only with ``--with-make``. Writes ``benchmarks/results/make.md``.

Usage: ``.venv/bin/python benchmarks/bench_make.py [--keep]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = Path(__file__).resolve().parent / "results" / "make.md"


def timed(cmd: list[str], cwd: Path) -> tuple[float, int]:
    start = time.perf_counter()
    rc = subprocess.call(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    return time.perf_counter() - start, rc


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="keep the scratch clone")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="histogan-make-"))
    clone = scratch / "histogan-lite"
    subprocess.check_call(["git", "clone", "-q", str(ROOT), str(clone)])
    shared = ROOT.parent / "shared"
    if shared.is_dir():  # CI has the real test files beside the clone
        os.symlink(shared, scratch / "shared")
    env_note = f"{os.cpu_count()} CPU cores, load average at start {os.getloadavg()[0]:.1f}"
    t_test, rc_test = timed(["make", "test"], clone)
    t_book, rc_book = timed(["make", "book"], clone)
    lines = [
        "## `make test` and `make book` from a fresh clone",
        "",
        "| command | wall time | exit status |",
        "|---|---|---|",
        f"| `make test` (creates .venv, installs, runs every test and notebook) | {t_test / 60:.1f} min | {rc_test} |",
        f"| `make book` (after `make test`: .venv reused; executes every chapter, builds HTML) | {t_book / 60:.1f} min | {rc_book} |",
        "",
        f"Measured by `benchmarks/bench_make.py` on {env_note}. The goal: `make test` under 20 minutes.",
        "",
    ]
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text("\n".join(lines))
    print("\n".join(lines))
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0 if rc_test == 0 and rc_book == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
