"""Export a training run's generator as a shipped checkpoint, measure it, and write its model card.

Steps: load ``RUN/checkpoint.safetensors``; export the generator as float16 safetensors + JSON into
``histogan_lite/checkpoints/NAME.*``; train (or load a cached) classifier on *real* demo patches
(``histogan_lite.evaluation.train_classifier``, the compact CNN); classify generated samples of the
shipped (float16) generator; write the numbers into the JSON and the model card ``NAME.md``.

Checks: issue 11's quality floors that need no reference run (``histogan_lite.quality.check_floors``:
coverage, precision, diversity, grid energy, class agreement, texture KID below blurred real) on every
group; the exit status is 3 when one fails (the files are written all the same, and the card says which
floor failed; the comparison with the reference DCGAN is ``benchmarks/bench_gan_quality.py``'s). The
card's description of what the samples show is ``--looks``, written by whoever opened the sample grid.

Example::

    python data_scripts/make_pretrained.py --run runs/pretrained/cdcgan --name cdcgan-64 \\
        --command "python -m histogan_lite.train --model cdcgan ..."
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True, help="training output folder (holds checkpoint.safetensors/.json)")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="the training checkpoint to ship (default RUN/checkpoint.safetensors; e.g. one of "
                        "RUN/checkpoints/step_XXXXXX.safetensors kept by --keep-checkpoints)")
    p.add_argument("--name", choices=["dcgan-64", "cdcgan-64", "dcgan-128", "cdcgan-128"], required=True)
    p.add_argument("--command", required=True, action="append",
                   help="an exact training command that produced the run; repeat it, in order, for a run that "
                        "was continued with --resume")
    p.add_argument("--how", default="",
                   help="how the run ended, for the card (e.g. 'the first command was stopped after its "
                        "step-750 checkpoint')")
    p.add_argument("--looks", required=True,
                   help="what the samples show, written by a person who opened the sample grid (the card's "
                        "'What the samples show' section); the script measures, it cannot look")
    p.add_argument("--n-quality", type=int, default=500, help="samples per group for the quality scores")
    p.add_argument("--out-dir", type=Path, default=ROOT / "histogan_lite" / "checkpoints")
    p.add_argument("--n-eval", type=int, default=2000, help="generated samples to classify")
    p.add_argument("--n-classifier", type=int, default=4000, help="real demo patches to train the classifier on")
    p.add_argument("--classifier-cache", type=Path, default=None,
                   help="where the real-patch CNN is cached (default runs/pretrained/classifier.safetensors at 64 px, "
                        "classifier_<S>px.safetensors at another size S)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--hardware", default=None, help="hardware description for the card (default: detected)")
    return p.parse_args(argv)


def real_classifier(n: int, cache: Path, size: int = 64):
    """A CNN classifier trained on ``size``-px real demo patches (seed 1, not the GAN's training patches, seed 0)."""
    from histogan_lite import evaluation, synthetic

    if cache.exists():
        clf = evaluation.load_classifier(cache, device="cpu")
        if clf.image_size != size:
            raise SystemExit(f"{cache} holds a classifier of {clf.image_size}-px patches, not {size}; pass --classifier-cache")
    else:
        images, truth = synthetic.make_patches(n, size=size, seed=1)
        clf = evaluation.train_classifier(images, truth["label"].to_numpy(), epochs=8, seed=0, device="cpu",
                                          show_progress=False)
        evaluation.save_classifier(clf, cache, overwrite=True)
    test_images, test_truth = synthetic.make_patches(1000, size=size, seed=2)
    acc = evaluation.accuracy(clf, test_images, test_truth["label"].to_numpy())
    return clf, float(acc)


def measure(G, clf, n: int) -> dict:
    """Classify ``n`` samples of ``G`` (z = ``G.sample_z(n, seed=12345)``, its own prior); the card's numbers."""
    from histogan_lite import evaluation

    z = G.sample_z(n, seed=12345)
    with torch.no_grad():
        if G.n_classes:
            labels = torch.arange(n) % 2
            x = torch.cat([G(z[i:i + 250], labels[i:i + 250]) for i in range(0, n, 250)])
        else:
            labels = None
            x = torch.cat([G(z[i:i + 250]) for i in range(0, n, 250)])
    pred = evaluation.predict(clf, x)
    out = {"n_samples": n, "sample_seed": 12345}
    if labels is not None:
        lab = labels.numpy()
        out["class_agreement"] = float((pred == lab).mean())
        out["class_agreement_negative"] = float((pred[lab == 0] == 0).mean())
        out["class_agreement_positive"] = float((pred[lab == 1] == 1).mean())
    else:
        out["fraction_negative"] = float((pred == 0).mean())
        out["fraction_positive"] = float((pred == 1).mean())
    return out


def quality(G, n: int) -> tuple[dict, str, bool]:
    """Issue 11's quality scores of ``G`` against unseen real demo patches, a markdown table, all floors met?

    The floors checked are those that need no reference run: coverage, precision, diversity, grid energy,
    class agreement, and texture KID below that of other unseen real patches (renderer seed 2) blurred by a
    3x3 box filter, scored against the same real set (seed 1). The comparison with the reference DCGAN
    needs that network trained for the same CPU time; it lives in ``benchmarks/bench_gan_quality.py``.
    """
    from histogan_lite import quality as Q

    size, n_real = G.image_size, 2 * n if G.n_classes else n
    real, real_labels = Q.unseen_real_patches(n_real, size=size, seed=1)
    other, other_labels = Q.unseen_real_patches(n_real, size=size, seed=2)
    common = dict(train=Q.training_patches(2000, size), classifier=Q.quality_classifier(size), keep_images=False)
    report = Q.evaluate_generator(G, real, real_labels, n=n, **common)
    blurred = Q.gan_quality(Q.box_blur(other, 3), real, generated_labels=other_labels if G.n_classes else None,
                            real_labels=real_labels if G.n_classes else None, **common)
    blurred = {sc.group: sc for sc in blurred.scores}
    keys = ["kid_classifier", "kid_texture", "precision", "recall", "density", "coverage", "diversity",
            "grid_energy", "class_agreement", "class_agreement_real", "memorisation"]
    rows, scores, ok = [], {}, True
    for sc in report.scores:
        floors = Q.check_floors(sc, blurred=blurred[sc.group])
        ok &= all(floors.values())
        blur_kid = blurred[sc.group].kid_texture
        scores[sc.group] = {**{k: getattr(sc, k) for k in keys}, "kid_texture_blurred_real": blur_kid, "floors": floors}
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        rows.append(f"| {sc.group} | " + " | ".join(fmt(getattr(sc, k)) for k in keys[:2]) + f" | {blur_kid:.2f} | "
                    + " | ".join(fmt(getattr(sc, k)) for k in keys[2:]) + " | "
                    + ", ".join(f"{k} {'pass' if v else '**FAIL**'}" for k, v in floors.items()) + " |")
    head = ("| group | KID x1000 cls | KID x1000 tex | same for blurred real | precision | recall | density | coverage | "
            "diversity / real | grid energy / real | class agreement | same for real patches | memorisation | "
            "floors (issue 11) |\n|" + "---|" * 14 + "\n")
    return scores, head + "\n".join(rows), ok


def fingerprint(G) -> dict:
    """Numbers a test can recompute after loading: G(G.sample_z(4, seed=0)) (labels 0, 1, 0, 1 for a cDCGAN)."""
    z = G.sample_z(4, seed=0)
    with torch.no_grad():
        x = G(z, torch.tensor([0, 1, 0, 1])) if G.n_classes else G(z)
    return {"z_seed": 0, "n": 4, "z_prior": G.z_prior, "labels": [0, 1, 0, 1] if G.n_classes else None,
            "mean": float(x.mean()), "std": float(x.std()), "pixel_0_0": [float(v) for v in x[:, :, 0, 0].flatten()]}


def demo_count(command: str) -> int:
    """``--n-demo`` of a recorded ``python -m histogan_lite.train ...`` command (the CLI's own default if absent)."""
    import shlex

    from histogan_lite.train import build_parser

    return build_parser().parse_args(shlex.split(command)[3:]).n_demo


def recipe(cfg) -> str:
    """The training recipe of ``cfg`` in words, saying where it departs from the paper's (section 3.1)."""
    lr_d, lr_g = cfg.lr_d or cfg.lr, cfg.lr_g or cfg.lr
    lr = f"{lr_d:g}" if lr_d == lr_g else f"D {lr_d:g}, G {lr_g:g} (two time-scale updates; the paper: one rate)"
    noise = (f"instance noise std {cfg.instance_noise:g} annealed linearly to 0 at step {cfg.noise_anneal_steps or cfg.steps}"
             if cfg.instance_noise else "no instance noise")
    smooth = (f"one-sided label smoothing (real target {cfg.real_label:g})" if cfg.real_label < 1 else "no label smoothing")
    parts = [f"Adam (lr {lr}, betas {cfg.beta1:g}, {cfg.beta2:g}), batch {cfg.batch_size}",
             f"eq. (1) for D with {smooth}, eq. (4) for G, {noise}",
             f"{cfg.g_steps} G update{'s' if cfg.g_steps > 1 else ''} per D update" + ("" if cfg.g_steps == 2 else " (the paper: 2)")]
    if cfg.d_spectral_norm:
        parts.append("spectral normalisation in D (not in the paper)")
    if cfg.r1_gamma:
        parts.append(f"an R1 penalty on D, gamma/2 E||grad_x D(x)||^2 on real images with gamma {cfg.r1_gamma:g} "
                     "(Mescheder et al. 2018; not in the paper)")
    if cfg.model == "cdcgan" and cfg.d_label_in != "first-conv":
        parts.append(f"class enters D at `{cfg.d_label_in}` (the paper: its first convolution)")
    if getattr(cfg, "g_ema", 0):
        parts.append(f"the shipped weights are a moving average of G's (decay {cfg.g_ema:g}, Yazici et al. 2019; "
                     "not in the paper)")
    return "; ".join(parts) + "."


def architecture(G, cfg) -> str:
    prior = ("uniform in [-1, 1] (the paper)" if G.z_prior == "uniform" else "N(0, 1) (the paper: uniform in [-1, 1])")
    k = cfg.kernel_size
    if cfg.upsample == "transposed":
        up = f"four {k}x{k} stride-2 transposed convolutions" + ("" if k == 5 else " (the paper: 5x5)")
    else:
        up = ("four nearest-neighbour x2 upsamplings each followed by a 3x3 convolution (resize-convolution, "
              "Odena et al. 2016; the paper: 5x5 stride-2 transposed convolutions, whose uneven overlap draws a "
              "checkerboard)")
    return f"z in R^{G.latent_dim} {prior}", up


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
- Architecture: the paper's {arch} generator (section 3.1): {prior}{cond}, projection to
  ({width}, {s0}, {s0}), {up} (batch norm + ReLU, last: tanh), output (3, {size}, {size}) in [-1, 1].
- Width: {width} (the paper: 512). The paper's configuration is `--preset paper` (256 px, width 512).
- Parameters: {params:,}; weights stored as float16 safetensors ({size_kb:.0f} kB), loaded as float32.

## Training
- Data: `--data demo`, {n_demo} synthetic patches ({size}x{size} px, half negative / half positive,
  renderer seed {seed}, renderer version {renderer}).
- Recipe: {recipe} Why these choices and not the paper's: BENCHMARKS.md ("GAN recipe ablation") and
  Chapter 3 ("Why the first shipped generators drew noise").
- Steps: **{steps}**; seed {seed}; {cpu_min:.1f} CPU-minutes of training ({wall_min:.1f} min wall on {hardware},
  torch {torch}).
- Command(s), run in this order from the repository root:

  ```
  {command}
  ```
{stopped}
- Final training losses (step {steps}): loss_d {loss_d:.3f}, loss_g {loss_g:.3f}, D(x) {d_real:.3f}, D(G(z)) {d_fake:.3f}.

## What the samples show
{looks}

## Quality (measured with the synthetic data's ground truth)
Against unseen real demo patches (`histogan_lite.quality.evaluate_generator`, {n_quality} samples per group;
the columns are explained in BENCHMARKS.md, "GAN sample quality"):

{quality}

Issue 11's floors that need no reference run (coverage, precision, diversity, grid energy, class agreement,
texture KID below real patches blurred by a 3x3 box filter), every group: **{verdict}**. The floors against
the reference DCGAN (KID and coverage at equal CPU time) are in BENCHMARKS.md, "GAN sample quality".

A compact CNN classifier (`histogan_lite.evaluation.train_classifier`, kind `cnn`) was trained on
{n_clf} *real* demo patches (renderer seed 1, not the GAN's training patches); its accuracy on 1000 unseen
real demo patches (seed 2) is **{clf_acc:.1%}**. It then labelled {n_eval} generated samples of this
float16 checkpoint (z = `G.sample_z({n_eval}, seed=12345)`{cond_eval}):

{metrics}

Produced by `data_scripts/make_pretrained.py` (export, measurement and this card).
"""


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from histogan_lite.training import Checkpoint, load_generator_checkpoint, save_generator

    ckpt_path = args.checkpoint or args.run / "checkpoint.safetensors"
    ckpt = Checkpoint.load(ckpt_path)
    G = load_generator_checkpoint(ckpt_path)
    expected = 2 if args.name.startswith("cdcgan") else 0
    size = int(args.name.rsplit("-", 1)[1])
    if G.n_classes != expected or G.image_size != size:
        raise SystemExit(f"{ckpt_path} holds a generator with n_classes={G.n_classes}, image_size={G.image_size}; "
                         f"{args.name} needs n_classes={expected}, image_size={size}")
    out = args.out_dir / f"{args.name}.safetensors"
    cfg = ckpt.config
    renderer = ckpt.meta.get("renderer_version")
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
    extra = {"renderer_version": renderer, "cpu_seconds": ckpt.meta.get("cpu_seconds")}
    save_generator(G, out, overwrite=True, **extra, **meta)
    shipped = load_generator_checkpoint(out)  # measure exactly what ships (float16 weights)
    cache = args.classifier_cache or ROOT / "runs" / "pretrained" / ("classifier.safetensors" if size == 64
                                                                     else f"classifier_{size}px.safetensors")
    clf, clf_acc = real_classifier(args.n_classifier, cache, size)
    metrics = measure(shipped, clf, args.n_eval)
    metrics["classifier"] = "histogan_lite.evaluation CompactCNN (kind='cnn'), trained on real demo patches"
    metrics["classifier_real_accuracy"] = clf_acc
    scores, quality_md, ok = quality(shipped, args.n_quality)
    metrics["quality"] = scores
    meta["metrics"] = metrics
    meta["fingerprint"] = fingerprint(shipped)
    save_generator(G, out, overwrite=True, **extra, **meta)

    import pandas as pd

    log = pd.read_csv(args.run / "log.csv")
    last = log[log["step"] == ckpt.step - 1].iloc[-1] if (log["step"] == ckpt.step - 1).any() else log.iloc[-1]
    if G.n_classes:
        text = (f"| samples | classified as their conditioning class |\n|---|---|\n"
                f"| negative (label 0) | {metrics['class_agreement_negative']:.1%} |\n"
                f"| positive (label 1) | {metrics['class_agreement_positive']:.1%} |\n"
                f"| all | **{metrics['class_agreement']:.1%}** |")
    else:
        text = (f"| classified as | share of samples |\n|---|---|\n"
                f"| negative | {metrics['fraction_negative']:.1%} |\n| positive | {metrics['fraction_positive']:.1%} |")
    stopped = f"\n  {args.how}\n" if args.how else ""
    if ckpt.step != cfg.steps:
        why = ("kept by `--keep-checkpoints` and chosen by `data_scripts/score_checkpoints.py`" if args.checkpoint
               else "stopped by its `--max-minutes` limit")
        stopped += (f"\n  The shipped weights are the run's checkpoint at step {ckpt.step} of the {cfg.steps} the last "
                    f"command allowed ({why}). Giving each command `--steps` equal to "
                    f"the step its checkpoint reached reproduces the weights exactly on a CPU: every step's "
                    f"randomness is derived from (seed, step).\n")
    prior, up = architecture(G, cfg)
    card = CARD.format(
        name=args.name, title=(f"cDCGAN generator, {size}x{size}, conditioned on negative / positive" if G.n_classes
                               else f"DCGAN generator, {size}x{size}, unconditional"),
        arch="cDCGAN" if G.n_classes else "DCGAN", prior=prior, up=up, size=size, s0=size // 16, width=G.width,
        cond=" concatenated with the one-hot class (0 negative, 1 positive)" if G.n_classes else "",
        params=sum(p.numel() for p in G.parameters()), size_kb=out.stat().st_size / 1024,
        n_demo=demo_count(args.command[-1]), seed=cfg.seed, renderer=renderer, recipe=recipe(cfg),
        steps=ckpt.step, command="\n  ".join(args.command), stopped=stopped,
        cpu_min=(ckpt.meta.get("cpu_seconds") or 0) / 60, wall_min=(ckpt.meta.get("wall_seconds") or 0) / 60,
        hardware=meta["hardware"], torch=torch.__version__, loss_d=last["loss_d"], loss_g=last["loss_g"],
        d_real=last["d_real"], d_fake=last["d_fake"], looks=args.looks, n_quality=args.n_quality, quality=quality_md,
        verdict="met" if ok else "NOT met (see the FAIL entries)", n_clf=args.n_classifier, clf_acc=clf_acc,
        n_eval=args.n_eval, cond_eval=", labels alternating 0, 1" if G.n_classes else "", metrics=text,
    )
    from histogan_lite.utils import atomic_write_text

    atomic_write_text(out.with_suffix(".md"), card)
    print(json.dumps({"name": args.name, "steps": ckpt.step, "floors_met": ok,
                      **{k: v for k, v in metrics.items() if k != "quality"}}))
    return 0 if ok else 3


if __name__ == "__main__":
    sys.exit(main())
