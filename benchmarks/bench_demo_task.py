"""How hard is the demo classification task? (issue 12; synthetic teaching data, not patient data)

For each ``difficulty`` of :func:`histogan_lite.synthetic.make_patches` this trains the book's
classifier (:func:`histogan_lite.classifier.train_classifier`, the compact CNN of Chapter 6, defaults)
and reports:

* real -> real: trained on 1,000 demo patches (balanced), tested on 1,000 unseen ones (goal at the
  default difficulty: 0.85-0.95, the paper's 0.85-0.91);
* Table 4's small sets: balanced 500/500 and imbalanced 500 negative / 68 positive, each tested on
  500/500 unseen patches, mean over ``--seeds`` trainings (goal: imbalanced >= 5 points below);
* a colour-histogram baseline: per-channel 32-bin RGB histograms + logistic regression, trained on the
  same 1,000 patches (goal: < 0.65, colour alone should be a poor cue).

Accuracies are means over ``--seeds`` trainings, with Wilson 95 % intervals for 1,000 test patches. Single torch thread.
Usage: ``.venv/bin/python benchmarks/bench_demo_task.py [--difficulty 0.3 0.5 0.7] [--seeds 2]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def colour_histograms(images: np.ndarray, bins: int = 32) -> np.ndarray:
    """Per-channel histograms (fractions of pixels), ``(N, 3 * bins)`` float, of uint8 RGB images."""
    q = (images.reshape(len(images), -1, 3).astype(np.int64) * bins) // 256
    out = np.zeros((len(images), 3, bins))
    for c in range(3):
        for i in range(len(images)):
            out[i, c] = np.bincount(q[i, :, c], minlength=bins)
    return (out / q.shape[1]).reshape(len(images), -1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--difficulty", type=float, nargs="+", default=None, help="difficulties (default: the default)")
    parser.add_argument("--seeds", type=int, default=2, help="trainings per Table 4 set (mean reported)")
    args = parser.parse_args(argv)

    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    torch.set_num_threads(1)
    from histogan_lite import synthetic as S
    from histogan_lite.classifier import accuracy, train_classifier
    from histogan_lite.protocol import accuracy_interval

    def write(rows):
        """Write results/demo_task.md with the rows measured so far (a cut-short run keeps them)."""
        text = "\n".join([
            "## Demo classification task (`benchmarks/bench_demo_task.py`)",
            "",
            "Synthetic teaching data (renderer version " + S.GENERATOR_VERSION + "). The book's compact CNN "
            "(`train_classifier` defaults). real -> real: trained on 1,000 balanced patches, tested on 1,000 "
            "unseen (goal at the default: 0.85-0.95), mean of the same number of trainings. Table 4 sets: 500/500 and 500/68, tested on the same "
            f"1,000, mean of {args.seeds} trainings (goal: imbalanced >= 5 points below balanced). Colour "
            "baseline: per-channel 32-bin RGB histograms + logistic regression on the 1,000 training patches "
            "(goal < 0.65). Wilson 95 % intervals.",
            "",
            "| difficulty | real -> real | balanced 500/500 | imbalanced 500/68 | balanced - imbalanced (points) | colour histogram |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            f"{time.process_time() - t0:.0f} s CPU, 1 torch thread, python {platform.python_version()}, "
            f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}.",
            "",
        ])
        print(text)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "demo_task.md").write_text(text)

    diffs = args.difficulty or [S.DEFAULT_DIFFICULTY]
    rows = []
    t0 = time.process_time()
    for d in diffs:
        tx, tt = S.make_patches(1000, 64, seed=11, difficulty=d)
        x, t = S.make_patches(1000, 64, seed=10, difficulty=d)
        y, ty = t.label.to_numpy(), tt.label.to_numpy()
        rr = float(np.mean([accuracy(train_classifier(x, y, seed=s, show_progress=False), tx, ty)
                            for s in range(args.seeds)]))
        hs = StandardScaler().fit(colour_histograms(x))
        lr = LogisticRegression(max_iter=2000, C=1.0).fit(hs.transform(colour_histograms(x)), y)
        col = float((lr.predict(hs.transform(colour_histograms(tx))) == ty).mean())
        nx, _ = S.make_patches(500, 64, label=0, seed=12, difficulty=d)
        px, _ = S.make_patches(500, 64, label=1, seed=13, difficulty=d)
        small = {"balanced": [], "imbalanced": []}
        for s in range(args.seeds):
            for name, npos in (("balanced", 500), ("imbalanced", 68)):
                xs = np.concatenate([nx, px[:npos]])
                ys = np.r_[np.zeros(500, int), np.ones(npos, int)]
                mm = train_classifier(xs, ys, seed=s, show_progress=False)
                small[name].append(accuracy(mm, tx, ty))
        bal, imb = float(np.mean(small["balanced"])), float(np.mean(small["imbalanced"]))
        ci = lambda a: "[{:.3f}, {:.3f}]".format(*accuracy_interval(a, 1000))  # noqa: E731
        rows.append(
            f"| {d:.2f}{' (default)' if d == S.DEFAULT_DIFFICULTY else ''} | {rr:.3f} {ci(rr)} | {bal:.3f} | "
            f"{imb:.3f} | {100 * (bal - imb):+.1f} | {col:.3f} {ci(col)} |"
        )
        print(rows[-1], flush=True)
        write(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
