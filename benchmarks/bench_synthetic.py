"""Speed of the synthetic H&E renderer and of the whole demo data set (synthetic teaching data).

Goals (issue 3): at least 200 patches of 64 x 64 per second on one core; all demo data (both default
demo slides and a 2,000-patch set) in under 60 s. Rendering is single-threaded numpy; BLAS/OpenMP
threads are pinned to 1 before numpy is imported. Each patch timing is the best of ``--repeat`` runs;
wall and CPU (process) time are both reported because the reference machine is shared.

``--compare REF`` also times ``histogan_lite.synthetic`` (the package as it was at git revision ``REF``) (e.g. the
last commit of renderer version 9), interleaved with today's in the same run, and reports the CPU
ratio (goal of issue 12: today's within 20 % of the older renderer).

Usage: ``.venv/bin/python benchmarks/bench_synthetic.py [--repeat 3] [--skip-slides] [--compare REF]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from _common import timed, write_wall_cpu_table  # noqa: E402

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="repeats of each patch timing (best is kept)")
    parser.add_argument("--skip-slides", action="store_true", help="only time make_patches")
    parser.add_argument("--compare", default=None, help="git revision whose synthetic.make_patches is timed side by side")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from histogan_lite import synthetic as S

    S.make_patches(4)  # warm-up
    rows = []
    for size, n in ((64, 400), (128, 200), (256, 50)):
        best = min(timed(lambda: S.make_patches(n, size=size, seed=1))[1:] for _ in range(args.repeat))
        what = f"`make_patches` {size} x {size} (n = {n})"
        rows.append((what, f"{n / best[0]:.0f} patches/s", f"{n / best[1]:.0f} patches/s"))
    if args.compare:
        import importlib
        import io
        import subprocess
        import tarfile

        # the whole package at REF, renamed, so that a renderer split over several modules imports too
        tar = subprocess.run(["git", "archive", args.compare, "histogan_lite"], cwd=HERE.parent, check=True,
                             capture_output=True).stdout
        tmp = Path(tempfile.mkdtemp(prefix="bench_synthetic_"))
        with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
            tf.extractall(tmp, filter="data")
        (tmp / "histogan_lite").rename(tmp / "histogan_lite_old")
        sys.path.insert(0, str(tmp))
        old = importlib.import_module("histogan_lite_old.synthetic")
        old.make_patches(4)
        cpu = {"old": [], "new": []}
        for _ in range(args.repeat):  # interleaved, best of each
            for name, mod in (("old", old), ("new", S)):
                cpu[name].append(timed(lambda: mod.make_patches(400, size=64, seed=1))[2])
        o, n = min(cpu["old"]), min(cpu["new"])
        rows.append((f"`make_patches` 64 x 64 (n = 400), renderer v{old.GENERATOR_VERSION} (`{args.compare}`)",
                     "-", f"{400 / o:.0f} patches/s"))
        rows.append((f"same, renderer v{S.GENERATOR_VERSION} (today), same run", "-",
                     f"{400 / n:.0f} patches/s ({o / n:.2f}x v{old.GENERATOR_VERSION})"))
    if not args.skip_slides:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            _, w1, c1 = timed(lambda: S.make_demo_slide(tmp / "demo_tumor.tif", "tumor", show_progress=False))
            _, w2, c2 = timed(lambda: S.make_demo_slide(tmp / "demo_normal.tif", "normal", show_progress=False))
            _, w3, c3 = timed(lambda: S.write_patch_set(tmp, n=2000, size=64))
            size_mb = sum(p.stat().st_size for p in tmp.iterdir()) / 1e6
        rows.append(("demo tumour slide 16384 x 12288, 5 levels, + XML + mask", f"{w1:.1f} s", f"{c1:.1f} s"))
        rows.append(("demo normal slide 8192 x 6144, 5 levels", f"{w2:.1f} s", f"{c2:.1f} s"))
        rows.append(("patch set, 2,000 patches 64 x 64 (npz + csv)", f"{w3:.1f} s", f"{c3:.1f} s"))
        what = f"**all demo data** ({size_mb:.0f} MB; goal < 60 s)"
        rows.append((what, f"**{w1 + w2 + w3:.1f} s**", f"**{c1 + c2 + c3:.1f} s**"))

    write_wall_cpu_table('synthetic', '## Synthetic data (`histogan_lite.synthetic`)',
                         'Synthetic teaching data, not patient data. Goals: >= 200 patches/s of 64 x 64 on one core; all demo data < 60 s.',
                         'bench_synthetic.py', rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
