"""Score every kept checkpoint of a training run against unseen real demo patches, to choose one to ship.

A GAN's quality does not rise steadily with the step: G circles around a solution, and a run may collapse
after its best step (the first retrained cDCGAN did after step 4,500). So a run is trained with
``--keep-checkpoints`` and each checkpoint is scored here with the package's own metrics
(:func:`histogan_lite.quality.evaluate_generator`: KID in two feature spaces, precision / recall /
coverage, diversity, grid energy, class agreement; per class for a cDCGAN) and checked against issue 11's
floors (:func:`histogan_lite.quality.check_floors`, with the 3x3-blurred real patches as the KID bar;
the reference DCGAN's row is compared in ``benchmarks/bench_gan_quality.py``).

The choice: the checkpoint that passes the most floors in its worst group, then the highest coverage in
its worst group (coverage fails on mode collapse, where class agreement and losses do not).

Reads ``RUN/checkpoints/step_*.json`` (``python -m histogan_lite.train ... --keep-checkpoints``) or the
files given by ``--glob``. Writes ``RUN/scores_n<N>.csv`` (one row per checkpoint and group; rows of a
previous call are kept and not scored again, so the script can be re-run while training goes on).

Example::

    python data_scripts/score_checkpoints.py runs/cdcgan --n 250 --max-cpu-seconds 2400
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

COLUMNS = {"kid_classifier": "kid_cls", "kid_texture": "kid_tex", "precision": "prec", "recall": "rec",
           "coverage": "cov", "diversity": "div", "grid_energy": "grid", "class_agreement": "agree",
           "class_agreement_real": "agree_real", "memorisation": "mem"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="training output folder (holds checkpoints/step_*.json)")
    p.add_argument("--glob", default="checkpoints/step_*.json", help="checkpoint JSON files, relative to RUN")
    p.add_argument("--n", type=int, default=250, help="generated and real patches per class")
    p.add_argument("--weights", choices=["sampling", "raw"], default="sampling",
                   help="the moving average of G when the run kept one (sampling) or the trained G (raw)")
    p.add_argument("--max-cpu-seconds", type=float, default=None,
                   help="choose only among checkpoints trained for at most this many CPU seconds "
                        "(to compare at equal CPU time with the reference DCGAN)")
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def step_of(path: Path) -> int:
    """The step number in a checkpoint file name (``step_004000.json`` -> 4000)."""
    found = re.findall(r"\d+", path.stem)
    if not found:
        raise ValueError(f"{path}: expected a checkpoint named step_<number>.json")
    return int(found[-1])


def score_run(files: list[Path], out_csv: Path, *, n: int, weights: str) -> pd.DataFrame:
    """Score the checkpoints ``files`` not yet in ``out_csv``; returns every row (one per checkpoint and group)."""
    from histogan_lite import quality
    from histogan_lite.checkpoints import load_generator_checkpoint
    from histogan_lite.utils import atomic_write_text, progress

    rows = pd.read_csv(out_csv).to_dict("records") if out_csv.exists() else []
    done = {(int(r["step"]), r["weights"]) for r in rows}
    todo = [f for f in files if (step_of(f), weights) not in done]
    if not todo:
        return pd.DataFrame(rows)
    try:  # the size is in the JSON; reading it does not load the weights a second time
        size = int(json.loads(todo[0].read_text())["generator"]["image_size"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{todo[0]}: not a histogan-lite checkpoint JSON ({exc})") from None
    classifier = quality.quality_classifier(size)
    real, real_y = quality.unseen_real_patches(2 * n, size=size, seed=101)
    blur_src, _ = quality.unseen_real_patches(2 * n, size=size, seed=102)
    blurred = quality.gan_quality(quality.box_blur(blur_src), real, classifier=classifier)["all"]
    train = quality.training_patches(1000, size)
    for path in progress(todo, desc="checkpoints"):
        meta = json.loads(path.read_text())
        G = load_generator_checkpoint(path, weights=weights)
        if G.image_size != size:
            raise ValueError(f"{path}: a {G.image_size}-px generator among {size}-px ones; score one run at a time")
        rep = quality.evaluate_generator(G, real, real_y, n=n if G.n_classes else 2 * n, train=train,
                                         classifier=classifier, keep_images=False, max_train=1000)
        for s in rep.scores:
            floors = quality.check_floors(s, blurred=blurred)
            rows.append({"step": step_of(path), "weights": weights, "cpu_seconds": meta.get("cpu_seconds"),
                         "group": s.group, **{short: getattr(s, name) for name, short in COLUMNS.items()},
                         "floors_passed": sum(floors.values()), "floors": len(floors),
                         "failed": " ".join(f for f, ok in floors.items() if not ok)})
        atomic_write_text(out_csv, pd.DataFrame(rows).to_csv(index=False))
    return pd.DataFrame(rows)


def choose(df: pd.DataFrame, max_cpu_seconds: float | None = None) -> pd.Series:
    """The best checkpoint: most floors passed in its worst group, then highest worst-group coverage."""
    if max_cpu_seconds is not None:
        df = df[df["cpu_seconds"] <= max_cpu_seconds]
    if df.empty:
        raise ValueError("no scored checkpoint within the CPU budget")
    per = df.groupby(["step", "weights"]).agg(worst_floors=("floors_passed", "min"), worst_cov=("cov", "min"),
                                             cpu_seconds=("cpu_seconds", "first"))
    return per.sort_values(["worst_floors", "worst_cov"], ascending=False).reset_index().iloc[0]


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    files = sorted(args.run.glob(args.glob), key=step_of)
    if not files:
        print(f"score_checkpoints: error: no checkpoint matches {args.run / args.glob}", file=sys.stderr)
        return 1
    try:
        df = score_run(files, args.run / f"scores_n{args.n}.csv", n=args.n, weights=args.weights)
        best = choose(df, args.max_cpu_seconds)
    except (ValueError, FileNotFoundError) as exc:  # a broken or foreign checkpoint, an empty budget
        print(f"score_checkpoints: error: {exc}", file=sys.stderr)
        return 1
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(df.drop(columns=["weights"]).round(3).to_string(index=False))
    print(f"best: step {int(best['step'])} ({best['weights']}), {best['cpu_seconds']:.0f} CPU-s, "
          f"{int(best['worst_floors'])} floors passed in its worst group, worst-group coverage {best['worst_cov']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
