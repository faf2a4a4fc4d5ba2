"""Export a training run's generator as a shipped checkpoint, measure it, and write its model card.

Steps: load ``RUN/checkpoint.safetensors``; export the generator as float16 safetensors + JSON into
``histogan_lite/checkpoints/NAME.*``; train (or load a cached) classifier on *real* demo patches
(``histogan_lite.evaluation.train_classifier``, the compact CNN); classify generated samples of the
shipped (float16) generator; write the numbers into the JSON and the model card ``NAME.md``.

Checks (issue 5): the cDCGAN's samples are classified as their conditioning class in >= 90 % of
cases; the DCGAN's samples contain both classes, each >= 20 %.

Example::

    python data_scripts/make_pretrained.py --run runs/pretrained/cdcgan --name cdcgan-64 \\
        --command "python -m histogan_lite.train --model cdcgan ..."
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True, help="training output folder (holds checkpoint.safetensors/.json)")
    p.add_argument("--name", choices=["dcgan-64", "cdcgan-64"], required=True)
    p.add_argument("--command", required=True, action="append",
                   help="an exact training command that produced the run; repeat it, in order, for a run that "
                        "was continued with --resume")
    p.add_argument("--how", default="",
                   help="how the run ended, for the card (e.g. 'the first command was stopped after its "
                        "step-750 checkpoint')")
    p.add_argument("--out-dir", type=Path, default=ROOT / "histogan_lite" / "checkpoints")
    p.add_argument("--n-eval", type=int, default=2000, help="generated samples to classify")
    p.add_argument("--n-classifier", type=int, default=4000, help="real demo patches to train the classifier on")
    p.add_argument("--classifier-cache", type=Path, default=ROOT / "runs" / "pretrained" / "classifier.safetensors")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--hardware", default=None, help="hardware description for the card (default: detected)")
    return p.parse_args(argv)


def real_classifier(n: int, cache: Path):
    """A CNN classifier trained on real demo patches (seed 1, not the GAN's training patches, seed 0)."""
    from histogan_lite import evaluation, synthetic

    if cache.exists():
        clf = evaluation.load_classifier(cache, device="cpu")
    else:
        images, truth = synthetic.make_patches(n, size=64, seed=1)
        clf = evaluation.train_classifier(images, truth["label"].to_numpy(), epochs=8, seed=0, device="cpu",
                                          show_progress=False)
        evaluation.save_classifier(clf, cache, overwrite=True)
    test_images, test_truth = synthetic.make_patches(1000, size=64, seed=2)
    acc = evaluation.accuracy(clf, test_images, test_truth["label"].to_numpy())
    return clf, float(acc)


def measure(G, clf, n: int) -> dict:
    """Classify ``n`` samples of ``G`` (z from seed 12345); the card's numbers."""
    from histogan_lite import evaluation
    from histogan_lite.latent import sample_z

    z = sample_z(n, seed=12345)
    with torch.no_grad():
        if G.n_classes:
            labels = torch.arange(n) % 2
            x = torch.cat([G(z[i:i + 250], labels[i:i + 250]) for i in range(0, n, 250)])
        else:
            labels = None
            x = torch.cat([G(z[i:i + 250]) for i in range(0, n, 250)])
    pred = evaluation.predict(clf, x)
    out = {"n_samples": n, "sample_seed": 12345}
    # diversity: mean over pixels of the standard deviation across samples ([-1, 1] scale); a collapsed
    # generator scores near 0. Real demo patches (seed 2) for comparison.
    from histogan_lite import synthetic

    real, truth = synthetic.make_patches(1000, size=64, seed=2)
    real_t = torch.from_numpy(real).permute(0, 3, 1, 2).float() / 127.5 - 1
    real_lab = truth["label"].to_numpy()
    if labels is not None:
        for c, name in ((0, "negative"), (1, "positive")):
            out[f"diversity_{name}"] = float(x[labels == c].std(0).mean())
            out[f"diversity_real_{name}"] = float(real_t[real_lab == c].std(0).mean())
    else:
        out["diversity"] = float(x.std(0).mean())
        out["diversity_real"] = float(real_t.std(0).mean())
    if labels is not None:
        lab = labels.numpy()
        out["class_agreement"] = float((pred == lab).mean())
        out["class_agreement_negative"] = float((pred[lab == 0] == 0).mean())
        out["class_agreement_positive"] = float((pred[lab == 1] == 1).mean())
    else:
        out["fraction_negative"] = float((pred == 0).mean())
        out["fraction_positive"] = float((pred == 1).mean())
    return out


def fingerprint(G) -> dict:
    """Numbers a test can recompute after loading: G(sample_z(4, seed=0)) (labels 0, 1, 0, 1 for a cDCGAN)."""
    from histogan_lite.latent import sample_z

    z = sample_z(4, seed=0)
    with torch.no_grad():
        x = G(z, torch.tensor([0, 1, 0, 1])) if G.n_classes else G(z)
    return {"z_seed": 0, "n": 4, "labels": [0, 1, 0, 1] if G.n_classes else None,
            "mean": float(x.mean()), "std": float(x.std()), "pixel_0_0": [float(v) for v in x[:, :, 0, 0].flatten()]}


def hardware() -> str:
    from histogan_lite.utils import hardware_summary

    return hardware_summary("machine shared with other jobs, 1 torch thread")


CARD = """# Model card: `{name}`

**{title}.** Shipped with histogan-lite; load it with
`histogan_lite.pretrained.load_generator("{name}")` (CPU, eval mode, no network).

> Synthetic teaching data, not patient data. This generator draws synthetic H&E-like patches from the
> package's demo renderer. It has never seen a patient's slide and must not be used for any clinical
> purpose.

## Model
- Architecture: the paper's {arch} generator (section 3.1): z in R^100 uniform in [-1, 1]{cond},
  projection to (128, 4, 4), four 5x5 stride-2 transposed convolutions (batch norm + ReLU, last: tanh),
  output (3, 64, 64) in [-1, 1].
- Width: 128 (the `cpu` preset; a quarter of the paper's 512, about 16x fewer FLOPs). The paper's
  configuration is `--preset paper` (256 px, width 512).
- Parameters: {params:,}; weights stored as float16 safetensors ({size_kb:.0f} kB), loaded as float32.

## Training
- Data: `--data demo`, {n_demo} synthetic patches (64x64 px, 1 um/px, half negative / half positive,
  renderer seed {seed}).
- Recipe: Adam (2e-4, betas 0.5, 0.999), batch 64, eq. (1) for D with one-sided label smoothing (real
  target 0.9), eq. (4) for G, instance noise std 0.1 annealed linearly to 0 at step {anneal}, two G updates
  per D update.
- Steps: **{steps}** (one D update + two G updates each); seed {seed}.
- Command(s), run in this order from the repository root:

  ```
  {command}
  ```
{stopped}
- Wall time: {wall_min:.1f} min on {hardware} (torch {torch}).
- Final training losses (step {steps}): loss_d {loss_d:.3f}, loss_g {loss_g:.3f}, D(x) {d_real:.3f}, D(G(z)) {d_fake:.3f}.

## Quality (measured with the synthetic data's ground truth)
A compact CNN classifier (`histogan_lite.evaluation.train_classifier`, kind `cnn`) was trained on
{n_clf} *real* demo patches (renderer seed 1, not the GAN's training patches); its accuracy on 1000 unseen
real demo patches (seed 2) is **{clf_acc:.1%}**. It then labelled {n_eval} generated samples of this
float16 checkpoint (z = `sample_z({n_eval}, seed=12345)`{cond_eval}).

{metrics}

Produced by `data_scripts/make_pretrained.py` (export, measurement and this card).
"""


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from histogan_lite.training import Checkpoint, load_generator_checkpoint, save_generator

    ckpt_path = args.run / "checkpoint.safetensors"
    ckpt = Checkpoint.load(ckpt_path)
    G = load_generator_checkpoint(ckpt_path)
    expected = 2 if args.name.startswith("cdcgan") else 0
    if G.n_classes != expected or G.image_size != 64:
        raise SystemExit(f"{ckpt_path} holds a generator with n_classes={G.n_classes}, image_size={G.image_size}; "
                         f"{args.name} needs n_classes={expected}, image_size=64")
    out = args.out_dir / f"{args.name}.safetensors"
    cfg = ckpt.config
    meta = {
        "name": args.name,
        "command": " && ".join(args.command),
        "commands": args.command,
        "steps": ckpt.step,
        "seed": cfg.seed,
        "data": "demo (histogan_lite.synthetic.make_patches, synthetic teaching data)",
        "train_config": cfg.to_dict(),
        "wall_seconds": ckpt.meta.get("wall_seconds"),
        "hardware": args.hardware or hardware(),
        "torch": torch.__version__,
    }
    save_generator(G, out, overwrite=True, **meta)
    shipped = load_generator_checkpoint(out)  # measure exactly what ships (float16 weights)
    clf, clf_acc = real_classifier(args.n_classifier, args.classifier_cache)
    metrics = measure(shipped, clf, args.n_eval)
    metrics["classifier"] = "histogan_lite.evaluation CompactCNN (kind='cnn'), trained on real demo patches"
    metrics["classifier_real_accuracy"] = clf_acc
    meta["metrics"] = metrics
    meta["fingerprint"] = fingerprint(shipped)
    save_generator(G, out, overwrite=True, **meta)

    import pandas as pd

    log = pd.read_csv(args.run / "log.csv")
    last = log[log["step"] == ckpt.step - 1].iloc[-1] if (log["step"] == ckpt.step - 1).any() else log.iloc[-1]
    if G.n_classes:
        check = metrics["class_agreement"] >= 0.90
        text = (f"| samples | classified as their conditioning class |\n|---|---|\n"
                f"| negative (label 0) | {metrics['class_agreement_negative']:.1%} |\n"
                f"| positive (label 1) | {metrics['class_agreement_positive']:.1%} |\n"
                f"| all | **{metrics['class_agreement']:.1%}** |\n\n"
                f"Requirement: >= 90 % overall: **{'met' if check else 'NOT met'}**.\n\n"
                f"Diversity (mean per-pixel standard deviation across samples, [-1, 1] scale; real demo patches "
                f"in brackets): negative {metrics['diversity_negative']:.3f} ({metrics['diversity_real_negative']:.3f}), "
                f"positive {metrics['diversity_positive']:.3f} ({metrics['diversity_real_positive']:.3f}). "
                f"The samples of each class vary less than real patches (partial mode collapse), and "
                f"they are blurrier than the DCGAN's: a known weakness of this short CPU run.")
    else:
        check = min(metrics["fraction_negative"], metrics["fraction_positive"]) >= 0.20
        text = (f"| classified as | share of samples |\n|---|---|\n"
                f"| negative | {metrics['fraction_negative']:.1%} |\n| positive | {metrics['fraction_positive']:.1%} |\n\n"
                f"Requirement: both classes, each >= 20 %: **{'met' if check else 'NOT met'}**.\n\n"
                f"Diversity (mean per-pixel standard deviation across samples, [-1, 1] scale): "
                f"{metrics['diversity']:.3f}; real demo patches {metrics['diversity_real']:.3f}.")
    stopped = f"\n  {args.how}\n" if args.how else ""
    if ckpt.step != cfg.steps:
        stopped += (f"\n  The shipped weights are the run's checkpoint at step {ckpt.step} of the {cfg.steps} the last "
                    f"command allowed (stopped by its `--max-minutes` limit). Giving each command `--steps` equal to "
                    f"the step its checkpoint reached reproduces the weights exactly on a CPU: every step's "
                    f"randomness is derived from (seed, step), and `--noise-anneal-steps` fixes the noise "
                    f"schedule (with `--resume` it replaces the schedule from the resumed step on).\n")
    card = CARD.format(
        name=args.name, title=("cDCGAN generator, 64x64, conditioned on negative / positive" if G.n_classes
                               else "DCGAN generator, 64x64, unconditional"),
        arch="cDCGAN" if G.n_classes else "DCGAN",
        cond=" concatenated with the one-hot class (0 negative, 1 positive)" if G.n_classes else "",
        params=sum(p.numel() for p in G.parameters()), size_kb=out.stat().st_size / 1024,
        n_demo=8000, seed=cfg.seed, anneal=cfg.noise_anneal_steps, steps=ckpt.step, command="\n  ".join(args.command),
        stopped=stopped, wall_min=(ckpt.meta.get("wall_seconds") or 0) / 60, hardware=meta["hardware"],
        torch=torch.__version__, loss_d=last["loss_d"], loss_g=last["loss_g"], d_real=last["d_real"],
        d_fake=last["d_fake"], n_clf=args.n_classifier, clf_acc=clf_acc, n_eval=args.n_eval,
        cond_eval=", labels alternating 0, 1" if G.n_classes else "", metrics=text,
    )
    from histogan_lite.utils import atomic_write_text

    atomic_write_text(out.with_suffix(".md"), card)
    print(json.dumps({"name": args.name, "steps": ckpt.step, **metrics}))
    return 0 if check else 3


if __name__ == "__main__":
    sys.exit(main())
