"""Command line: train the paper's DCGAN / cDCGAN (``python -m histogan_lite.train`` or ``histogan-train``).

Examples::

    # CPU default (64 px, quarter width) on the synthetic demo patches
    python -m histogan_lite.train --model cdcgan --data demo --steps 2000 --out runs/cdcgan
    # continue it exactly where it stopped
    python -m histogan_lite.train --model cdcgan --data demo --steps 4000 --out runs/cdcgan --resume
    # PatchCamelyon (downloaded once, then streamed from the cache), 4 reader processes
    python -m histogan_lite.train --model cdcgan --data pcam --image-size 64 --workers 4 --out runs/pcam
    # the paper's configuration: 256x256 patches, 512-256-128-64 filters, batch 64 (needs a GPU)
    python -m histogan_lite.train --preset paper --model dcgan --data patches.csv --out runs/paper
    # several GPUs or nodes
    torchrun --nproc_per_node 2 -m histogan_lite.train --preset paper --data patches.csv --out runs/ddp
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch

from .datasets import open_data
from .downloads import DownloadError
from .training import TrainingDiverged, preset, train

__all__ = ["build_parser", "config_from_args", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="histogan-train",
        description="Train the paper's DCGAN or cDCGAN (Fernandez et al., section 3.1).",
        epilog=__doc__.split("Examples::", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", choices=["dcgan", "cdcgan"], default="dcgan", help="unconditional or class-conditional")
    p.add_argument("--data", default="demo",
                   help="data spec: 'demo' (synthetic teaching patches), 'pcam' (PatchCamelyon, downloaded once; "
                        "'pcam:valid', 'pcam:test' for the small splits), a patch manifest .csv, or a folder of "
                        "images (class subfolders negative/ and positive/ for the cDCGAN); streamed from disk")
    p.add_argument("--preset", choices=["cpu", "paper", "tiny"], default="cpu",
                   help="cpu: 64 px, width 128 (default); paper: 256 px, width 512, batch 64; tiny: 64 px, width 32")
    p.add_argument("--image-size", type=int, choices=[64, 128, 256], help="override the preset's image size (pixels)")
    p.add_argument("--width", type=int, help="channels of the widest layer (paper: 512); override the preset")
    p.add_argument("--batch-size", type=int, help="images per step and per process (paper: 64)")
    p.add_argument("--steps", type=int, default=1000, help="training steps (1 D update + g-steps G updates each)")
    p.add_argument("--out", required=True, type=Path, help="output folder: checkpoint, log.csv, samples/")
    p.add_argument("--resume", action="store_true", help="continue exactly from OUT/checkpoint")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--g-steps", type=int, default=2, help="generator updates per discriminator update (paper: 2)")
    p.add_argument("--real-label", type=float, default=0.9, help="one-sided label smoothing target (1.0: off)")
    p.add_argument("--instance-noise", type=float, default=0.1, help="std of the noise on D's inputs at step 0 (0: off)")
    p.add_argument("--noise-anneal-steps", type=int,
                   help="step at which the instance noise reaches 0 (default: --steps); with --resume it "
                        "replaces the checkpoint's schedule from the resumed step on")
    p.add_argument("--upsample", choices=["transposed", "resize-conv"], default="transposed",
                   help="G's upsampling: transposed convolutions (paper) or nearest x2 + 3x3 convolution")
    p.add_argument("--kernel-size", type=int, choices=[4, 5], default=5, help="convolution kernel (paper: 5)")
    p.add_argument("--z-prior", choices=["uniform", "normal"], default="uniform", help="latent prior (paper: uniform)")
    p.add_argument("--d-spectral-norm", action="store_true", help="spectral normalisation in D (not in the paper)")
    p.add_argument("--d-label-in", choices=["first-conv", "input", "projection"], default="first-conv",
                   help="where the class enters the cDCGAN's D (paper: first-conv)")
    p.add_argument("--lr-d", type=float, help="D's learning rate (two time-scale updates; default --lr)")
    p.add_argument("--lr-g", type=float, help="G's learning rate (default --lr)")
    p.add_argument("--g-ema", type=float, default=0.0,
                   help="decay of a moving average of G's weights, e.g. 0.999 (0: off; not in the paper)")
    p.add_argument("--r1-gamma", type=float, default=0.0,
                   help="weight of the R1 gradient penalty on real images in D's loss, e.g. 1 (0: off; not in the paper)")
    p.add_argument("--sample-every", type=int, default=500, help="save a fixed-z sample grid every N steps")
    p.add_argument("--checkpoint-every", type=int, default=500, help="write a checkpoint every N steps")
    p.add_argument("--keep-checkpoints", action="store_true",
                   help="also keep every checkpoint as OUT/checkpoints/step_XXXXXX (to choose the best one)")
    p.add_argument("--n-demo", type=int, default=8000, help="number of demo patches (--data demo)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader reader processes (0: read in the main process)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 or mps")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    p.add_argument("--speed", default="auto",
                   help="auto (per device: AMP float16 on CUDA, the measured fastest sane setting on the CPU), "
                        "plain (float32, eager) or a '+'-joined subset of channels_last, bf16, compile")
    p.add_argument("--max-minutes", type=float,
                   help="stop after this much wall time, at a step boundary, with a checkpoint (resume later)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def config_from_args(args: argparse.Namespace):
    """The :class:`~histogan_lite.training.TrainConfig` that the parsed arguments describe."""
    overrides = dict(
        model=args.model, steps=args.steps, seed=args.seed, lr=args.lr, g_steps=args.g_steps,
        real_label=args.real_label, instance_noise=args.instance_noise,
        noise_anneal_steps=args.noise_anneal_steps, sample_every=args.sample_every,
        checkpoint_every=args.checkpoint_every, amp=not args.no_amp, upsample=args.upsample,
        kernel_size=args.kernel_size, z_prior=args.z_prior, d_spectral_norm=args.d_spectral_norm,
        d_label_in=args.d_label_in, lr_d=args.lr_d, lr_g=args.lr_g, g_ema=args.g_ema, speed=args.speed,
        r1_gamma=args.r1_gamma,
    )
    for name in ("image_size", "width", "batch_size"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    return preset(args.preset, **overrides)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 success, 1 bad input, 2 divergence)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        config = config_from_args(args)
        dataset = open_data(args.data, config.image_size, n_demo=args.n_demo, seed=args.seed,
                            show_progress=not args.quiet)
        t0 = time.perf_counter()
        result = train(config, dataset, out=args.out, resume=args.resume, device=args.device,
                       show_progress=not args.quiet, source=str(args.data), num_workers=args.workers,
                       max_seconds=args.max_minutes * 60 if args.max_minutes else None,
                       keep_checkpoints=args.keep_checkpoints)
    except TrainingDiverged as exc:
        print(f"histogan-train: {exc}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError, FileExistsError, DownloadError) as exc:
        print(f"histogan-train: error: {exc}", file=sys.stderr)
        return 1
    steps_done = int(result.history["step"].iloc[-1]) + 1 if len(result.history) else 0
    summary = {
        "checkpoint": str(result.checkpoint) if result.checkpoint else None,
        "steps": steps_done,
        "seconds_this_run": round(time.perf_counter() - t0, 1),
        "command": "python -m histogan_lite.train " + shlex.join(argv),
    }
    if len(result.history):
        summary.update(result.history.iloc[-1][["loss_d", "loss_g", "d_real", "d_fake"]].round(4).to_dict())
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
