"""Speed of the evaluation module and of Chapter 6 in fast mode.

Goals (issue 7): the compact CNN learns the demo task in seconds on a CPU; Chapter 6 with
``fast = True`` executes in under 2 minutes here (the issue allows 5; CI runs each chapter 3 times).
Times the classifier's training throughput (images per second through a training step, 64 x 64,
batch 64, one thread), Grad-CAM per image, a 600-patch training run to > 0.9 held-out accuracy, and,
unless ``--skip-chapter``, the whole chapter executed by papermill (wall and CPU time of the kernel).
Wall and CPU time are both reported because the reference machine is shared.

Usage: ``.venv/bin/python benchmarks/bench_evaluation.py [--skip-chapter] [--generator-checkpoint PATH]``
(``--generator-checkpoint`` runs the chapter on a cDCGAN checkpoint instead of the shipped ``cdcgan-64``).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from _common import timed, write_wall_cpu_table  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def run_chapter(generator_checkpoint: str | None) -> tuple[float, float]:
    """Execute book/06_evaluation.ipynb with papermill (fast = True); wall and children's CPU seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "papermill", "06_evaluation.ipynb", str(Path(tmp) / "out.ipynb"), "-k", "python3",
               "--no-progress-bar"]
        if generator_checkpoint:
            cmd += ["-p", "generator_checkpoint", str(Path(generator_checkpoint).resolve())]
        env = {**os.environ, "HISTOGAN_HEADLESS": "1"}
        before = os.times()
        w = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT / "book", env=env, check=True, capture_output=True)
        wall = time.perf_counter() - w
        after = os.times()
        return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-chapter", action="store_true", help="do not execute the chapter")
    parser.add_argument("--generator-checkpoint", default=None, help="cDCGAN checkpoint for the chapter run")
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    from histogan_lite import evaluation as ev
    from histogan_lite.synthetic import make_patches

    rows = []
    x = torch.rand(64, 3, 64, 64) * 2 - 1
    y = torch.randint(0, 2, (64,))
    for width in (16, 8):
        model = ev.build_classifier(width=width)
        opt = torch.optim.Adam(model.parameters())

        def step():
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        step()
        _, w, c = timed(lambda: [step() for _ in range(10)])
        n_params = sum(p.numel() for p in model.parameters())
        rows.append((f"training step, CompactCNN width {width} ({n_params:,} parameters), batch 64, 64 px",
                     f"{640 / w:.0f} images/s", f"{640 / c:.0f} images/s"))

    images, truth = make_patches(1000, 64, seed=0)
    labels = truth["label"].to_numpy()
    model, w, c = timed(lambda: ev.train_classifier(images[:600], labels[:600], epochs=5, seed=0, device="cpu",
                                                    show_progress=False))
    acc = ev.accuracy(model, images[600:], labels[600:])
    rows.append((f"`train_classifier`: 600 demo patches, 5 epochs -> held-out accuracy {acc:.3f} (goal > 0.9)",
                 f"{w:.1f} s", f"{c:.1f} s"))
    _, w, c = timed(lambda: ev.grad_cam(model, images[:200]))
    rows.append(("`grad_cam`, 200 images 64 x 64", f"{200 / w:.0f} images/s", f"{200 / c:.0f} images/s"))
    _, w, c = timed(lambda: ev.nucleus_mask(images[:200]))
    rows.append(("`nucleus_mask`, 200 images 64 x 64", f"{200 / w:.0f} images/s", f"{200 / c:.0f} images/s"))
    if not args.skip_chapter:
        wall, cpu = run_chapter(args.generator_checkpoint)
        source = "checkpoint " + Path(args.generator_checkpoint).name if args.generator_checkpoint else "cdcgan-64"
        rows.append((f"**Chapter 6, `fast = True`** (papermill, generator {source}; goal < 120 s)",
                     f"**{wall:.0f} s**", f"**{cpu:.0f} s**"))

    write_wall_cpu_table('evaluation', '## Evaluation (`histogan_lite.evaluation`, Chapter 6)',
                         'Goals: the classifier learns the demo task (> 0.9 held-out) in seconds; Chapter 6 in fast mode under 2 minutes.',
                         'bench_evaluation.py', rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
