"""Latent editing speed: reverse search from random starts versus an encoder's start, and slider latency.

Reverse search (paper 3.2.1) on the shipped 64-px DCGAN: 16 *generated* targets (their true z is
known, so a perfect search exists) and 16 *real* demo patches (synthetic teaching data). Three starts:

* random: ``restarts`` draws from the prior, best kept (the paper's method);
* encoder: one start at ``E(x)`` (:func:`histogan_lite.latent.train_encoder`, trained on generated pairs);
* encoder + random: restart 0 at ``E(x)`` and ``restarts - 1`` random ones.

All run the same maximum number of Adam steps with the plateau stop. Reported: wall-clock seconds, mean
and minimum PSNR (dB, images mapped to [0, 1]) and the median number of steps to reach 30 dB (generated
targets; "-" when fewer than half of them did). The encoder's training time is reported on its own row.

Slider latency: one 64-px image regenerated and encoded as PNG, which is what the live ipywidgets slider
does at each move (:meth:`histogan_lite.widgets.LatentSlider.update`); median and 95th percentile of 50
moves. Goal: under 50 ms. Also the time to pre-render an 11-frame static slider.

Usage: ``.venv/bin/python benchmarks/bench_latent.py [--threads 2] [--steps 400] [--restarts 4]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--steps", type=int, default=400, help="maximum reverse-search steps")
    parser.add_argument("--restarts", type=int, default=4, help="random restarts")
    parser.add_argument("--encoder-steps", type=int, default=600, help="encoder training steps")
    parser.add_argument("--n", type=int, default=16, help="targets per kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", help="a training checkpoint (.safetensors) instead of the shipped dcgan-64")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from histogan_lite import latent as L
    from histogan_lite import pretrained, widgets
    from histogan_lite.synthetic import make_patches
    from histogan_lite.utils import images_to_tensor

    try:
        if args.checkpoint:
            from histogan_lite.training import load_generator_checkpoint

            generator = load_generator_checkpoint(args.checkpoint, device="cpu")
            which = f"DCGAN checkpoint `{Path(args.checkpoint).name}`"
        else:
            generator = pretrained.load_generator("dcgan-64", device="cpu")
            step = pretrained.checkpoint_info("dcgan-64").get("steps")
            which = f"shipped `dcgan-64` ({step} training steps)" if isinstance(step, int) else "shipped `dcgan-64`"
    except FileNotFoundError:
        from histogan_lite.models import Generator

        torch.manual_seed(args.seed)
        generator = Generator(64, 0, width=128).eval()
        which = "randomly initialised width-128 DCGAN (shipped checkpoint missing)"

    targets = {
        "generated": L.generate(generator, L.sample_z(args.n, seed=args.seed + 1)),
        "real (demo)": images_to_tensor(make_patches(args.n, size=64, seed=args.seed + 2)[0]),
    }
    t0 = time.perf_counter()
    encoder = L.train_encoder(generator, steps=args.encoder_steps, seed=args.seed, progress=False)
    t_encoder = time.perf_counter() - t0

    rows = [f"| encoder training ({args.encoder_steps} steps x 64 pairs) | - | - | {t_encoder:.1f} | - | - | - |"]
    for kind, x in targets.items():
        z_enc = L.encode(encoder, x)
        starts = {
            f"random ({args.restarts} restarts)": dict(restarts=args.restarts),
            "encoder (1 start)": dict(restarts=1, init=z_enc),
            f"encoder + random ({args.restarts} starts)": dict(restarts=args.restarts, init=z_enc),
        }
        for name, kw in starts.items():
            res = L.reverse_search(generator, x, steps=args.steps, seed=args.seed, progress=False, **kw)
            reach = res.steps_to(30.0)
            med = f"{int(np.median(reach[reach >= 0]))}" if (reach >= 0).sum() * 2 >= len(reach) else "-"
            start_psnr = float(res.psnr_history[0].mean())
            rows.append(
                f"| {kind}, {name} | {start_psnr:.1f} | {res.steps} | {res.seconds:.1f} | {float(res.psnr.mean()):.1f} | "
                f"{float(res.psnr.min()):.1f} | {med} |"
            )
            print(rows[-1], flush=True)

    # slider latency: regenerate one image and encode it (the live slider's work per move)
    z1, z2 = L.sample_z(2, seed=args.seed + 3)
    slider = widgets.interpolation_slider(generator, z1, z2, n_frames=11, live=False)
    times = []
    for k in range(50):
        t0 = time.perf_counter()
        slider.update((k % 25) / 24)
        times.append(time.perf_counter() - t0)
    times_ms = np.array(times) * 1000
    t0 = time.perf_counter()
    widgets.interpolation_slider(generator, z1, z2, n_frames=11, live=False)
    t_static = time.perf_counter() - t0

    lines = [
        "## Latent editing (`benchmarks/bench_latent.py`)",
        "",
        f"Reverse search (paper 3.2.1) with the {which}, {args.n} targets per kind, at most {args.steps} Adam "
        f"steps (lr 0.1, plateau stop: no 0.1 % gain in 40 steps), z clamped to [-1, 1]. PSNR in dB with "
        f"images mapped to [0, 1]; \"start\" is the mean PSNR of the best start before any step. Real targets are "
        f"demo patches (synthetic teaching data). {args.threads} torch threads.",
        "",
        "| targets, start | start PSNR (dB) | steps run | seconds | mean PSNR (dB) | min PSNR (dB) | median steps to 30 dB |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Slider latency (one 64-px image regenerated and PNG-encoded, as the live slider does per move): "
        f"median {np.median(times_ms):.1f} ms, 95th percentile {np.percentile(times_ms, 95):.1f} ms "
        f"(goal: under 50 ms). Pre-rendering an 11-frame static slider: {t_static * 1000:.0f} ms.",
        "",
        f"Measured with Python {platform.python_version()} on {torch.get_num_threads()} torch thread(s) "
        f"({platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at the end: other jobs shared the machine when it is above the CPU count).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    out = HERE / "results" / "latent.md"
    from histogan_lite.utils import atomic_write_text

    atomic_write_text(out, text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
