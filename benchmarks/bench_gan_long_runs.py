"""The long GAN training runs behind the shipped generators, checkpoint by checkpoint (issue 11 point 1).

The recipe ablation (``bench_gan_ablation.py``) ranks changes on 120-CPU-second runs; whether a recipe
holds for thousands of steps (or its discriminator wins and the generator collapses) only a long run
shows. Those runs take an hour of CPU each, so ``make bench`` does not repeat them: each was trained
with ``python -m histogan_lite.train ... --keep-checkpoints`` and scored checkpoint by checkpoint with
``data_scripts/score_checkpoints.py`` (250 samples per group against unseen real demo patches); this
script keeps those scores in ``results/gan_long_runs/<name>.csv`` with the run's configuration and
discriminator outputs (``<name>.json``) and writes the table ``results/gan_long_runs.md``.

Usage::

    # after a run: keep its scores (and D(x), D(G(z)) from its log) under a name, with a one-line note
    .venv/bin/python benchmarks/bench_gan_long_runs.py --collect runs/cdcgan NAME --note "what happened"
    # rebuild the table from every kept run
    .venv/bin/python benchmarks/bench_gan_long_runs.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RUNS = HERE / "results" / "gan_long_runs"
for _path in (ROOT, ROOT / "data_scripts"):  # the package, and score_checkpoints.choose
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

#: Configuration fields shown as the run's recipe when they differ from the paper's preset.
RECIPE_FIELDS = ["upsample", "kernel_size", "g_steps", "instance_noise", "real_label", "d_spectral_norm",
                 "d_label_in", "lr_d", "lr_g", "g_ema", "r1_gamma", "z_prior"]


def recipe_changes(config: dict) -> str:
    """The fields of a run's configuration that differ from ``preset("paper")``, as ``name=value``."""
    from histogan_lite.training import preset

    paper = preset("paper").to_dict()
    config = {**paper, **config}  # a field added after a run was kept (r1_gamma) had its default then
    out = [f"{k}={config.get(k)}" for k in RECIPE_FIELDS
           if config.get(k) != paper.get(k) and not (k == "d_label_in" and config.get("model") == "dcgan")]
    return ", ".join(out) or "the paper's recipe"


def collect(run: Path, name: str, note: str) -> Path:
    """Keep ``run``'s checkpoint scores and D outputs as ``results/gan_long_runs/<name>.csv/.json``."""
    from histogan_lite.utils import atomic_write_text

    found = sorted(run.glob("scores_n*.csv")) + sorted(run.glob("*/scores_n*.csv"))
    if not found:
        raise FileNotFoundError(f"{run} holds no scores_n*.csv: score it with data_scripts/score_checkpoints.py")
    scores = pd.read_csv(found[0])
    log = pd.read_csv(run / "log.csv")
    d = [log[(log.step >= s - 500) & (log.step < s)][["d_real", "d_fake"]].mean() for s in scores["step"]]
    scores["d_real"], scores["d_fake"] = [round(v["d_real"], 3) for v in d], [round(v["d_fake"], 3) for v in d]
    config = json.loads((run / "checkpoint.json").read_text())["config"]
    RUNS.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RUNS / f"{name}.csv", scores.to_csv(index=False))
    atomic_write_text(RUNS / f"{name}.json", json.dumps({"name": name, "note": note, "config": config}, indent=2) + "\n")
    return RUNS / f"{name}.csv"


def summary(name: str) -> dict:
    """One table row: the run's best checkpoint (``score_checkpoints.choose``) and how the run ended."""
    from score_checkpoints import choose

    rec = json.loads((RUNS / f"{name}.json").read_text())
    df = pd.read_csv(RUNS / f"{name}.csv")
    df = df[df["weights"] == "sampling"]
    best = choose(df)
    at = df[df["step"] == best["step"]]
    last = df[df["step"] == df["step"].max()]
    fmt = lambda s: " / ".join(f"{v:.2f}" for v in s)  # noqa: E731  (one value per group)
    return {
        "run": name, "model": f"{rec['config']['model']}, {rec['config']['image_size']} px", "changes from the paper": recipe_changes(rec["config"]),
        "scored": f"{df['step'].max():,} steps, {df['cpu_seconds'].max() / 60:.0f} CPU-min",
        "best step (CPU-min)": f"{int(best['step']):,} ({best['cpu_seconds'] / 60:.0f})",
        "coverage": fmt(at["cov"]), "diversity": fmt(at["div"]), "KID cls": fmt(at["kid_cls"]),
        "grid": fmt(at["grid"]), "class agr. / real": fmt(at["agree"] / at["agree_real"]) if at["agree"].notna().all() else "-",
        "floors (worst group)": f"{int(best['worst_floors'])} of {int(at['floors'].iloc[0])}",
        "last: diversity, D(G(z))": f"{fmt(last['div'])}; {last['d_fake'].iloc[0]:.2f}",
        "what happened": rec["note"],
    }


def table() -> str:
    names = sorted(p.stem for p in RUNS.glob("*.json"))
    rows = pd.DataFrame([summary(n) for n in names])
    head = ("## GAN long runs (`benchmarks/bench_gan_long_runs.py`, issue 11 point 1)\n\n"
            "Width 128 (`cpu` preset), batch 64, demo data of renderer 11, one torch thread; every 500-step "
            "checkpoint kept (`--keep-checkpoints`) and scored by `data_scripts/score_checkpoints.py` (250 samples "
            "per group (200 at 128 px) against unseen real patches, the moving average of G where the run kept one). *Best*: "
            "most floors passed in the worst group, then highest worst-group coverage. Per-group values are "
            "negative / positive for a cDCGAN. *Class agr. / real*: class agreement over the feature classifier's "
            "recall on real patches of the class (floor 0.95). *Last*: the last scored checkpoint, and the mean "
            "D(G(z)) over its 500 steps. Checkpoint scores: `benchmarks/results/gan_long_runs/<run>.csv`.\n\n")
    return head + rows.to_markdown(index=False) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--collect", nargs=2, metavar=("RUN", "NAME"), help="keep a scored run's results under NAME")
    p.add_argument("--note", default="", help="with --collect: what happened in the run, in one line")
    args = p.parse_args(argv)
    if args.collect:
        try:
            print(collect(Path(args.collect[0]), args.collect[1], args.note))
        except (FileNotFoundError, KeyError, ValueError) as exc:
            print(f"bench_gan_long_runs: error: {exc}", file=sys.stderr)
            return 1
    if not list(RUNS.glob("*.json")):
        print(f"no long run kept in {RUNS}", file=sys.stderr)
        return 1
    text = table()
    from histogan_lite.utils import atomic_write_text

    atomic_write_text(HERE / "results" / "gan_long_runs.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
