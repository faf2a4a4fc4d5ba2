"""Run the paper's evaluation protocol (Tables 2-4, Grad-CAM agreement, KID) and store the tables.

Real images are the synthetic demo patches (``histogan_lite.synthetic.make_patches``: teaching data,
not patient data; one magnification, so one table stands for the paper's Tables 2 and 3), or any data
spec of ``histogan_lite.datasets.open_data`` with ``--data`` (``pcam``, a patch manifest ``.csv``, a folder
of images; each part then draws disjoint patches, and Grad-CAM is scored only against estimated nucleus
masks, since real patches have no true ones); generated
images come from a cDCGAN: a shipped checkpoint (``--generator cdcgan-64``) or a training checkpoint of
``python -m histogan_lite.train`` (``--checkpoint runs/cdcgan/checkpoint.safetensors``).

Writes, atomically, ``OUT.md`` (command, seed, hardware, generator, wall time and every table),
``OUT_cross.csv`` and ``OUT_cross_runs.csv`` (Tables 2-3), ``OUT_augmentation.csv`` and
``OUT_augmentation_runs.csv`` (Table 4, per seed), ``OUT_gradcam.csv`` (Grad-CAM agreement with the
tumour-nucleus masks) and ``OUT_distance.csv`` (KID/FID). Each finished part is kept, so an interrupted
run continues with ``--resume``.

Examples::

    # the stored table of Chapter 6 (a reduced "full" setting; about an hour on 1 CPU thread)
    python data_scripts/run_evaluation.py --out book/results/evaluation_full --preset reduced \\
        --checkpoint runs/pretrained/cdcgan/checkpoint.safetensors --seed 0 --threads 1
    # the paper's sizes (5,000 / 15,000 samples, 500 / 5,000 iterations, 50,000 generated images): GPU
    python data_scripts/run_evaluation.py --out results/paper --preset paper --generator cdcgan-64 --device cuda
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import sys
import time
from pathlib import Path

PRESETS = {
    # the paper's Tables 2-4
    "paper": dict(sample_counts=[5000, 15000], iterations=[500, 5000], n_test=1000, aug_negative=500,
                  aug_positive=500, aug_imbalanced=68, aug_generated=50000, aug_epochs=[15, 15, 8], aug_test=1000, seeds=[0, 1, 2, 3, 4],
                  n_gradcam=500),
    # a fifth of the paper's sample counts and iterations and a tenth of its generated images
    "reduced": dict(sample_counts=[1000, 3000], iterations=[100, 1000], n_test=1000, aug_negative=500,
                    aug_positive=500, aug_imbalanced=68, aug_generated=5000, aug_epochs=[15, 15, 8], aug_test=1000, seeds=[0, 1, 2],
                    n_gradcam=200),
    # a smoke test (under a minute)
    "fast": dict(sample_counts=[200], iterations=[20, 60], n_test=200, aug_negative=100, aug_positive=100,
                 aug_imbalanced=14, aug_generated=400, aug_epochs=[5, 5, 3], aug_test=200, seeds=[0, 1], n_gradcam=40),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="output stem: writes OUT.md and OUT_*.csv")
    p.add_argument("--preset", choices=sorted(PRESETS), default="reduced", help="sizes (default: reduced)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--generator", default=None, help="shipped cDCGAN name for pretrained.load_generator (cdcgan-64)")
    src.add_argument("--checkpoint", type=Path, default=None, help="a cDCGAN checkpoint written by histogan_lite.train")
    p.add_argument("--data", default="demo",
                   help="real patches: 'demo' (default), 'pcam', a patch manifest .csv or a folder of images")
    p.add_argument("--seed", type=int, default=0, help="seed of the data, splits and trainings (default 0)")
    p.add_argument("--kind", choices=["cnn", "inception_v3"], default="cnn", help="classifier (default: cnn)")
    p.add_argument("--sample-counts", type=int, nargs="+", help="training-set sizes of Tables 2-3")
    p.add_argument("--iterations", type=int, nargs="+", help="optimiser steps of Tables 2-3")
    p.add_argument("--n-test", type=int, help="balanced test-set size of Tables 2-3")
    p.add_argument("--aug-negative", type=int, help="Table 4: negatives of the small sets (paper 500)")
    p.add_argument("--aug-positive", type=int, help="Table 4: positives of the small balanced set (paper 500)")
    p.add_argument("--aug-imbalanced", type=int, help="Table 4: positives of the imbalanced set (paper 68)")
    p.add_argument("--aug-generated", type=int, help="Table 4: generated images added (paper 50000)")
    p.add_argument("--aug-epochs", type=int, nargs=3, help="Table 4: epochs of the three settings (paper 15 15 8)")
    p.add_argument("--aug-test", type=int, help="Table 4: balanced unseen test-set size (paper 1000)")
    p.add_argument("--seeds", type=int, nargs="+", help="Table 4: one run per seed")
    p.add_argument("--n-gradcam", type=int, help="positives scored with Grad-CAM per source")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--resume", action="store_true", help="reuse the parts an earlier run of OUT finished")
    p.add_argument("--overwrite", action="store_true", help="recompute everything and replace OUT's files")
    p.add_argument("--note", default="", help="a provenance note written under the report's title")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def settings_from_args(args) -> dict:
    """The preset's sizes with every explicitly given option applied."""
    s = dict(PRESETS[args.preset])
    for key in s:
        value = getattr(args, key, None)
        if value is not None:
            s[key] = value
    return s


def markdown_table(df, floatfmt: str = "{:.3f}") -> str:
    """A pandas DataFrame as a GitHub markdown table (MultiIndex headers joined with ' / ')."""
    import numpy as np
    import pandas as pd

    def fmt(v):
        if isinstance(v, (float, np.floating)):
            return "nan" if v != v else floatfmt.format(v)
        return str(v)

    index_names = [n or "" for n in (df.index.names if isinstance(df.index, pd.MultiIndex) else [df.index.name])]
    cols = [" / ".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in df.columns]
    lines = ["| " + " | ".join(index_names + cols) + " |", "|" + "---|" * (len(index_names) + len(cols))]
    for idx, row in zip(df.index, df.itertuples(index=False)):  # itertuples keeps each column's dtype
        idx = idx if isinstance(idx, tuple) else (idx,)
        lines.append("| " + " | ".join([str(i) for i in idx] + [fmt(v) for v in row]) + " |")
    return "\n".join(lines)


def hardware() -> str:
    import torch

    from histogan_lite.utils import hardware_summary

    return hardware_summary(f"torch threads {torch.get_num_threads()}")


def load_cdcgan(args, device):
    """The cDCGAN and a description of where it came from (name or path, step, SHA-256)."""
    if args.checkpoint is not None:
        from histogan_lite.checkpoints import checkpoint_paths
        from histogan_lite.training import load_generator_checkpoint

        path = Path(args.checkpoint)
        G = load_generator_checkpoint(path, n_classes=2, device=device)
        st, js = checkpoint_paths(path)  # the loader's own pair: cdcgan.epoch1 stays cdcgan.epoch1 (issue 15.1)
        meta = json.loads(js.read_text())
        digest = hashlib.sha256(st.read_bytes()).hexdigest()
        desc = f"checkpoint `{path}` (step {meta.get('step', '?')}, sha256 {digest[:16]}...)"
    else:
        from histogan_lite.pretrained import checkpoint_info, load_generator

        name = args.generator or "cdcgan-64"
        G = load_generator(name, device=device)
        info = checkpoint_info(name)
        desc = (f"shipped generator `{name}` (histogan_lite.pretrained.load_generator; {info.get('steps', '?')} training "
                f"steps, sha256 {str(info.get('sha256', '?'))[:16]}...)")
    if getattr(G, "n_classes", 0) != 2:
        raise ValueError(f"the protocol needs a cDCGAN with 2 classes; {desc} has n_classes={G.n_classes}")
    return G.eval(), desc


class RealPatches:
    """The real patches of every part: demo renders (one seed per part, as always), or for another data
    spec disjoint draws from one seeded permutation per class of that dataset (no patch used twice)."""

    def __init__(self, spec: str, size: int, seed: int):
        import numpy as np

        from histogan_lite.datasets import open_data

        self.spec, self.size, self.seed = str(spec), size, seed
        self.demo = self.spec == "demo"
        if not self.demo:
            self.dataset = open_data(self.spec, size)
            labels = self.dataset.labels
            if labels is None:
                raise ValueError(f"--data {self.spec}: the evaluation needs class labels (negative/positive)")
            rng = np.random.default_rng(seed)
            self.pools = {c: list(rng.permutation(np.flatnonzero(labels == c))) for c in (0, 1)}

    def draw(self, n: int, offset: int, label: int | None = None, return_mask: bool = False):
        """``(uint8 (n, s, s, 3), int64 (n,)[, bool masks or None])``, balanced unless ``label`` is given."""
        import numpy as np

        from histogan_lite.datasets import take
        from histogan_lite.synthetic import make_patches

        if self.demo:
            extra = dict(return_mask=True) if return_mask else {}
            out = make_patches(n, self.size, label=label, seed=self.seed + offset, **extra)
            x, truth = out[0], out[1]
            return (x, truth["label"].to_numpy(), out[2]) if return_mask else (x, truth["label"].to_numpy())
        counts = {label: n} if label is not None else {0: n - n // 2, 1: n // 2}
        index = []
        for c, k in counts.items():
            if len(self.pools[c]) < k:
                raise ValueError(f"--data {self.spec}: {k} more patches of class {c} needed, "
                                 f"{len(self.pools[c])} left; use a smaller --preset")
            index += self.pools[c][:k]
            del self.pools[c][:k]
        x, y = take(self.dataset, index=index)
        return (x, y, None) if return_mask else (x, y)


def real_and_generated(G, n_per_class: int, seed: int, image_size: int, real: RealPatches | None = None):
    """Real patches (balanced) and the same number of cDCGAN images per class."""
    import numpy as np

    from histogan_lite.evaluation import generate_images

    real = real or RealPatches("demo", image_size, seed)
    rx, ry = real.draw(2 * n_per_class, 0)
    gen = np.concatenate([generate_images(G, n_per_class, 0, seed=seed + 1),
                          generate_images(G, n_per_class, 1, seed=seed + 2)])
    return rx, ry, gen, np.repeat([0, 1], n_per_class)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    import numpy as np
    import pandas as pd
    import torch

    from histogan_lite import evaluation as ev
    from histogan_lite.downloads import DownloadError
    from histogan_lite.utils import atomic_write_text, select_device

    if args.threads:
        torch.set_num_threads(args.threads)
    s = settings_from_args(args)
    out = Path(args.out)
    parts = {k: out.parent / f"{out.name}_{k}.csv"
             for k in ("cross", "augmentation", "augmentation_runs", "gradcam", "distance")}
    md_path = out.parent / f"{out.name}.md"
    existing = [p for p in [md_path, *parts.values(), out.parent / f"{out.name}_timings.json"] if p.exists()]
    if existing and not (args.resume or args.overwrite):
        print(f"run_evaluation: {existing[0]} exists; pass --resume to reuse finished parts or --overwrite",
              file=sys.stderr)
        return 1
    if args.overwrite:
        for p in existing:
            p.unlink()
    out.parent.mkdir(parents=True, exist_ok=True)
    device = select_device(args.device)
    try:
        G, g_desc = load_cdcgan(args, device)
        real = RealPatches(args.data, G.image_size, args.seed)
    except (FileNotFoundError, ValueError, KeyError, DownloadError) as exc:
        print(f"run_evaluation: {exc}", file=sys.stderr)
        return 1
    size = G.image_size
    quiet = args.quiet
    timings_path = out.parent / f"{out.name}_timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}  # minutes of finished parts

    def record(part, t0):
        timings[part] = (time.perf_counter() - t0) / 60
        atomic_write_text(timings_path, json.dumps(timings, indent=2) + "\n")
    t_all = time.perf_counter()

    # ---- Tables 2-3: cross-evaluation
    if parts["cross"].exists():
        cross = pd.read_csv(parts["cross"], header=[0, 1], index_col=[0, 1])
        print(f"reusing {parts['cross']}")
    else:
        t0 = time.perf_counter()
        n_per_class = (max(s["sample_counts"]) + s["n_test"]) // 2 + 1
        rx, ry, gx, gy = real_and_generated(G, n_per_class, args.seed, size, real)
        cross = ev.cross_evaluation(rx, ry, gx, gy, sample_counts=s["sample_counts"], iterations=s["iterations"],
                                    n_test=s["n_test"], kind=args.kind, seed=args.seed, device=device,
                                    show_progress=not quiet)
        with_runs = pd.DataFrame(cross.attrs["runs"])
        cross.to_csv(parts["cross"].with_suffix(".tmp"))
        os.replace(parts["cross"].with_suffix(".tmp"), parts["cross"])
        with_runs.to_csv(out.parent / f"{out.name}_cross_runs.csv", index=False)
        record("Tables 2-3", t0)
        del rx, gx
        print(cross)

    # ---- Table 4: augmentation over seeds
    if parts["augmentation"].exists():
        aug = pd.read_csv(parts["augmentation"], index_col=0)
        aug_runs = pd.read_csv(parts["augmentation_runs"])
        print(f"reusing {parts['augmentation']}")
    else:
        t0 = time.perf_counter()
        px, py = real.draw(2 * max(s["aug_negative"], s["aug_positive"]), 100)
        tx, ty = real.draw(s["aug_test"], 200)
        aug = ev.augmentation_experiment(px, py, tx, ty, G,
                                         n_negative=s["aug_negative"], n_positive=s["aug_positive"],
                                         n_positive_imbalanced=s["aug_imbalanced"], n_generated=s["aug_generated"],
                                         epochs=s["aug_epochs"], seeds=s["seeds"], kind=args.kind, device=device,
                                         show_progress=not quiet)
        aug_runs = aug.attrs["runs"]
        aug_runs.to_csv(parts["augmentation_runs"], index=False)
        aug.to_csv(parts["augmentation"].with_suffix(".tmp"))
        os.replace(parts["augmentation"].with_suffix(".tmp"), parts["augmentation"])
        record("Table 4", t0)
        print(aug.T)

    # ---- Grad-CAM agreement with tumour nuclei, and KID / FID in the classifier's feature space
    if parts["gradcam"].exists():
        gc = pd.read_csv(parts["gradcam"], index_col=0)
        dist = pd.read_csv(parts["distance"], index_col=0)
        print(f"reusing {parts['gradcam']}")
    else:
        t0 = time.perf_counter()
        n_train = max(s["sample_counts"])
        x, y = real.draw(n_train, 300)
        clf = ev.train_classifier(x, y, kind=args.kind, epochs=15, seed=args.seed,
                                  device=device, show_progress=not quiet)
        n = s["n_gradcam"]
        rx, _, rmask = real.draw(n, 400, label=1, return_mask=True)
        gx = ev.generate_images(G, n, 1, seed=args.seed + 401)
        rows = {}
        scored = [("real positives, true mask", rx, rmask)] if rmask is not None else []
        if rmask is None:
            print(f"--data {args.data}: real patches have no true nucleus masks; Grad-CAM is scored against "
                  "estimated masks only")
        for name, imgs, mask in (*scored, ("real positives, estimated mask", rx, ev.nucleus_mask(rx)),
                                 ("generated positives, estimated mask", gx, ev.nucleus_mask(gx))):
            maps = ev.grad_cam(clf, imgs, target=1)
            pg = ev.pointing_game(maps, mask)
            auc = ev.heatmap_auc(maps, mask)
            rows[name] = {"images": n, "pointing game": np.nanmean(pg), "heatmap AUC": np.nanmean(auc),
                          "mask share": float(mask.mean()), "P(positive)": float(ev.predict_proba(clf, imgs)[:, 1].mean())}
        both_real, _ = real.draw(2 * n, 500)
        both_gen = np.concatenate([ev.generate_images(G, n, 0, seed=args.seed + 501), ev.generate_images(G, n, 1, seed=args.seed + 502)])
        ref_real, _ = real.draw(2 * n, 600)
        kid_gen = ev.kid(clf, both_real, both_gen, subset_size=min(100, n))
        kid_ref = ev.kid(clf, both_real, ref_real, subset_size=min(100, n))
        gc = pd.DataFrame.from_dict(rows, orient="index").astype({"images": int})
        gc.index.name = "images and mask"
        dist = pd.DataFrame.from_dict({
            "real vs generated": {"images per set": 2 * n, "KID": kid_gen[0], "KID std": kid_gen[1],
                                  "FID": ev.fid(clf, both_real, both_gen)},
            "real vs real (reference)": {"images per set": 2 * n, "KID": kid_ref[0], "KID std": kid_ref[1],
                                         "FID": ev.fid(clf, both_real, ref_real)},
        }, orient="index").astype({"images per set": int})
        dist.index.name = "sets compared"
        dist.to_csv(parts["distance"])
        gc.to_csv(parts["gradcam"].with_suffix(".tmp"))
        os.replace(parts["gradcam"].with_suffix(".tmp"), parts["gradcam"])
        record("Grad-CAM and KID", t0)
        print(gc)
        print(dist)

    # ---- the report
    wall = time.perf_counter() - t_all
    given = list(argv if argv is not None else sys.argv[1:])
    shown = []  # the command that reproduces the tables: without --resume / --quiet / --note, which change none
    while given:
        a = given.pop(0)
        if a == "--note" and given:
            given.pop(0)
        elif a not in ("--resume", "--quiet") and not a.startswith("--note="):
            shown.append(a)
    command = "python data_scripts/run_evaluation.py " + " ".join(shlex.quote(a) for a in shown)
    aug_show = aug.copy()
    aug_show.index.name = "setting"
    timing_text = ", ".join(f"{k} {v:.1f} min" for k, v in timings.items())
    text = f"""# Evaluation protocol, stored run (`{out.name}`)

Produced by the package's own command; synthetic demo patches (teaching data, not patient data) as the
real images, {g_desc} for the generated ones. Classifier: `{args.kind}` trained from scratch.
{chr(10) + args.note + chr(10) if args.note else ""}
- command: `{command}`
- preset: `{args.preset}`; seed: {args.seed}; sizes: {json.dumps(s)}
- hardware: {hardware()}
- wall time per part (when it was computed): {timing_text}; this invocation: {wall / 60:.1f} min

## Tables 2-3: cross-evaluation (one magnification: the demo data have no zoom levels)

Accuracy on balanced held-out test sets of {s['n_test']} images per source.

{markdown_table(cross)}

## Table 4: data augmentation, mean over {len(s['seeds'])} seeds with 95% Student-t interval

Test set: {s['aug_test']} unseen real demo patches (half per class).

{markdown_table(aug_show)}

Per seed:

{markdown_table(aug_runs.set_index(['setting', 'seed']))}

## Grad-CAM agreement with tumour nuclei, and distribution distance

Classifier trained on {max(s['sample_counts'])} real demo patches; Grad-CAM for class "positive" on its last
convolutional layer. Pointing game: share of maps whose hottest pixel lies on the mask; heatmap AUC: 0.5 is
chance; mask share: the fraction of pixels on the mask (the hit rate of a random point).

{markdown_table(gc)}

KID and FID between balanced sets, in the same classifier's penultimate feature space (not comparable to
published Inception values); the real-vs-real row is the floor set by sampling noise.

{markdown_table(dist)}
"""
    atomic_write_text(md_path, text)
    print(f"-> {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
