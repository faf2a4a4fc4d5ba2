"""Ablation of the paper's GAN recipe on a fixed CPU budget per configuration (issue 11 point 1).

Each configuration trains a DCGAN (64 px) on the same demo patches with the package's own
``build_models`` / ``make_optimizers`` / ``train_step``, one torch thread, until ``--budget`` seconds of
*process CPU time* (``time.process_time``) are spent, so runs are comparable on a shared machine; then
it is scored by :func:`histogan_lite.quality.gan_quality` against unseen real patches. One change at a
time from the paper's recipe as shipped (``paper``), plus the pytorch/examples tutorial recipe.

    python benchmarks/bench_gan_ablation.py train --configs paper,reference --budget 180   # one process
    python benchmarks/bench_gan_ablation.py score                                          # the table

Results: ``benchmarks/results/gan_ablation.csv`` and a sample grid per configuration in
``benchmarks/results/gan_ablation/``; the table goes to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "results" / "gan_ablation"

#: one change at a time from the paper's recipe (width from --width, 64 px)
CONFIGS = {
    "paper": {},
    "no-instance-noise": dict(instance_noise=0.0),
    "no-label-smoothing": dict(real_label=1.0),
    "g_steps-1": dict(g_steps=1),
    "normal-z": dict(z_prior="normal"),
    "kernel-4": dict(kernel_size=4),
    "resize-conv": dict(upsample="resize-conv"),
    "ttur": dict(lr_d=4e-4, lr_g=1e-4),
    "spectral-norm-D": dict(d_spectral_norm=True),
    "tricks-off": dict(instance_noise=0.0, real_label=1.0, g_steps=1),
    # the recipe the shipped generators use: resize-convolution, 4x4 kernels in D, one G step, no instance noise
    "shipped": dict(upsample="resize-conv", kernel_size=4, g_steps=1, instance_noise=0.0),
    # the pytorch/examples DCGAN recipe on this architecture: 4x4 kernels, N(0,1) z, plain BCE, 1 G step
    "reference": dict(kernel_size=4, z_prior="normal", instance_noise=0.0, real_label=1.0, g_steps=1),
}


def _data(n: int, size: int, seed: int):
    from histogan_lite import synthetic

    images, truth = synthetic.make_patches(n, size=size, seed=seed)
    return images, np.asarray(truth["label"], dtype=np.int64)


def train_one(name: str, budget: float, width: int, images: np.ndarray) -> dict:
    from histogan_lite.training import build_models, make_optimizers, preset, step_generator, train_step

    config = preset("cpu", width=width, steps=100_000, noise_anneal_steps=1500, **CONFIGS[name])
    G, D = build_models(config, "cpu")
    opt_g, opt_d = make_optimizers(G, D, config)
    data = torch.from_numpy(images).permute(0, 3, 1, 2)
    t0 = time.process_time()
    step = 0
    while time.process_time() - t0 < budget:
        gen = step_generator(config.seed, step)
        idx = torch.randperm(len(data), generator=gen)[: config.batch_size]
        real = data[idx].float().div_(127.5).sub_(1.0)
        m = train_step(G, D, opt_g, opt_d, real, None, config, step, gen)
        step += 1
    cpu = time.process_time() - t0
    OUT.mkdir(parents=True, exist_ok=True)
    torch.save({"G": G.state_dict(), "config": config.to_dict(), "steps": step, "cpu_seconds": cpu,
                "last": m}, OUT / f"{name}.pt")
    return {"config": name, "steps": step, "cpu_seconds": round(cpu, 1)}


def score(n: int = 300, names=None, baselines: bool = True, csv: str = "gan_ablation.csv") -> "object":
    import pandas as pd

    from histogan_lite import quality
    from histogan_lite.models import Generator
    from histogan_lite.plotting import image_grid
    from histogan_lite.protocol import generate_images

    real, _ = quality.unseen_real_patches(n, size=64)
    clf = quality.quality_classifier(64)
    rows = []
    for name in names or CONFIGS:
        path = OUT / f"{name}.pt"
        if not path.exists():
            continue
        ck = torch.load(path, weights_only=False)
        c = ck["config"]
        G = Generator(64, 0, c["latent_dim"], c["width"], upsample=c["upsample"], kernel_size=c["kernel_size"],
                      z_prior=c["z_prior"])
        G.load_state_dict(ck["G"])
        G.eval()
        for export in ("float32", "float16") if name == "paper" else ("float32",):
            if export == "float16":  # the shipped export: weights rounded to float16 and back
                G.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in ck["G"].items()})
            with torch.no_grad():
                gen = ((G(G.sample_z(n, seed=0)).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
            gen = gen.permute(0, 2, 3, 1).numpy()
            s = quality.gan_quality(gen, real, classifier=clf)["all"]
            rows.append({"config": name + ("" if export == "float32" else " (float16 export)"), "steps": ck["steps"],
                         "cpu_s": round(ck["cpu_seconds"]), "kid_clf": round(s.kid_classifier, 1),
                         "kid_tex": round(s.kid_texture, 1), "precision": round(s.precision, 2),
                         "recall": round(s.recall, 2), "coverage": round(s.coverage, 2),
                         "diversity": round(s.diversity, 2), "grid_energy": round(s.grid_energy, 2),
                         "d_real": round(ck["last"]["d_real"], 2), "d_fake": round(ck["last"]["d_fake"], 2)})
            print(json.dumps(rows[-1]), flush=True)
            if export == "float32":
                fig = image_grid(np.concatenate([gen[:8], gen[8:16], real[:8]]), nrow=3,
                                 row_titles=["generated", "generated", "real"], title=name)
                fig.savefig(OUT / f"{name}.png", dpi=80)
                import matplotlib.pyplot as plt

                plt.close(fig)
    for ref_name, imgs in () if not baselines else (("real vs real", quality.unseen_real_patches(n, size=64, seed=2)[0]),
                           ("real blurred 3x3", quality.box_blur(quality.unseen_real_patches(n, size=64, seed=2)[0]))):
        s = quality.gan_quality(imgs, real, classifier=clf)["all"]
        rows.append({"config": ref_name, "kid_clf": round(s.kid_classifier, 1), "kid_tex": round(s.kid_texture, 1),
                     "precision": round(s.precision, 2), "recall": round(s.recall, 2), "coverage": round(s.coverage, 2),
                     "diversity": round(s.diversity, 2), "grid_energy": round(s.grid_energy, 2)})
    df = pd.DataFrame(rows)
    df.to_csv(ROOT / "results" / csv, index=False)
    if csv == "gan_ablation.csv":  # the section of BENCHMARKS.md (run_all.py assembles results/*.md)
        from histogan_lite.synthetic import GENERATOR_VERSION

        budgets = sorted({int(c) for c in df["cpu_s"].dropna()}) if "cpu_s" in df else []
        text = ("## GAN recipe ablation (`benchmarks/bench_gan_ablation.py`, issue 11 point 1)\n\n"
                "DCGAN, 64 px, width from `--width` (64 by default), batch 64, "
                f"demo patches of renderer {GENERATOR_VERSION}, one torch thread; each configuration is one change "
                f"from the paper's recipe (`paper`), trained for {', '.join(map(str, budgets))} s of process CPU time "
                "with the package's own training step, then scored by `quality.gan_quality` on "
                f"{n} samples against {n} unseen real patches (KID x1000). Sample grids: "
                "`benchmarks/results/gan_ablation/<config>.png`. What the rows mean, and the long runs behind "
                "the shipped generators: Chapter 3, *Why the first shipped generators drew noise*.\n\n"
                + df.to_markdown(index=False, floatfmt="g") + "\n")
        (ROOT / "results" / "gan_ablation.md").write_text(text)
    return df


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["train", "score"])
    p.add_argument("--configs", default=",".join(CONFIGS))
    p.add_argument("--budget", type=float, default=180.0, help="CPU seconds of training per configuration")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--n-train", type=int, default=4000)
    p.add_argument("--n-score", type=int, default=300, help="generated and real patches per score")
    p.add_argument("--no-baselines", action="store_true", help="score without the real / blurred-real rows")
    p.add_argument("--csv", default="gan_ablation.csv", help="table file name in benchmarks/results/")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.what == "train":
        images, _ = _data(args.n_train, 64, 0)
        for name in args.configs.split(","):
            if name not in CONFIGS:
                p.error(f"unknown config {name!r}; choose from {sorted(CONFIGS)}")
            print(json.dumps(train_one(name, args.budget, args.width, images)), flush=True)
    else:
        names = args.configs.split(",") if args.configs != ",".join(CONFIGS) else None
        print(score(args.n_score, names, not args.no_baselines, args.csv).to_markdown(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
