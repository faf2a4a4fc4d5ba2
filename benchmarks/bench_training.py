"""Benchmark: the package's training step against a plain loop of the same architecture; generation latency.

For each configuration both loops start from the same weights and draw the same random numbers, so
their losses must be identical; they run interleaved (package, plain, package, ...) so that a shared,
busy CPU slows both alike. Throughput counts real training images per second (batch 64 per step, each
step = one D update + two G updates, paper 3.1.1).

Usage::

    python benchmarks/bench_training.py            # writes benchmarks/results/training.md
    python benchmarks/bench_training.py --quick    # fewer steps, for a smoke test
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from histogan_lite.training import (CPU_AUTO, TrainConfig, apply_speed, build_models, make_optimizers, resolve_speed,
                                   step_generator, train_step)

RESULTS = Path(__file__).resolve().parent / "results" / "training.md"


def plain_step(G, D, opt_g, opt_d, real, config: TrainConfig, step: int, gen: torch.Generator):
    """A straightforward DCGAN step in the style of the PyTorch tutorial, with the paper's tricks.

    Same random draws in the same order as :func:`histogan_lite.training.train_step` (z, then the noise
    on the real batch, then the noise on the generated batch, then z and noise for each G update).
    """
    n = real.shape[0]
    sigma = config.instance_noise * max(0.0, 1.0 - step / config.noise_anneal_steps)
    z = torch.rand(n, config.latent_dim, generator=gen) * 2.0 - 1.0
    fake = G(z)
    real_in = real + sigma * torch.randn(real.shape, generator=gen)
    fake_in = fake.detach() + sigma * torch.randn(fake.shape, generator=gen)
    out_real = D(real_in)
    out_fake = D(fake_in)
    loss_d = F.binary_cross_entropy_with_logits(out_real, torch.full((n,), config.real_label)) + \
        F.binary_cross_entropy_with_logits(out_fake, torch.zeros(n))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    losses_g = []
    for _ in range(config.g_steps):
        z = torch.rand(n, config.latent_dim, generator=gen) * 2.0 - 1.0
        fake = G(z)
        out = D(fake + sigma * torch.randn(fake.shape, generator=gen))
        loss_g = F.binary_cross_entropy_with_logits(out, torch.ones(n))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        losses_g.append(loss_g.item())
    return loss_d.item(), sum(losses_g) / len(losses_g)


def run_pair(config: TrainConfig, steps: int, warmup: int = 1) -> dict:
    """Time ``steps`` steps of each loop (after ``warmup`` untimed steps each); check the losses agree."""
    real_all = torch.rand(256, 3, config.image_size, config.image_size) * 2 - 1
    models = {name: build_models(config) for name in ("package", "plain")}
    opts = {name: make_optimizers(*models[name], config) for name in models}
    times = {"package": [], "plain": []}
    losses = {"package": [], "plain": []}
    for step in range(steps + warmup):
        real = real_all[(step * 64) % 256:(step * 64) % 256 + config.batch_size]
        for name in ("package", "plain") if step % 2 == 0 else ("plain", "package"):
            G, D = models[name]
            opt_g, opt_d = opts[name]
            gen = step_generator(config.seed, step)
            t = time.perf_counter()
            if name == "package":
                m = train_step(G, D, opt_g, opt_d, real, None, config, step, gen)
                pair = (m["loss_d"], m["loss_g"])
            else:
                pair = plain_step(G, D, opt_g, opt_d, real, config, step, gen)
            dt = time.perf_counter() - t
            if step >= warmup:
                times[name].append(dt)
            losses[name].append(pair)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "package_img_s": config.batch_size / med["package"],
        "plain_img_s": config.batch_size / med["plain"],
        "speedup": med["plain"] / med["package"],
        "identical": losses["package"] == losses["plain"],
        "max_abs_diff": max(abs(a - b) for p, q in zip(losses["package"], losses["plain"]) for a, b in zip(p, q)),
        "steps": steps,
    }



# a speed setting is "sane" when every loss of the timed steps stays within this relative distance of
# the float32 step's loss on the same draws from the same weights (bfloat16 keeps 8 bits of mantissa,
# about 0.4 % per rounding; a few steps of Adam on top stay well inside 2 %)
LOSS_TOLERANCE = 0.02
SPEED_SETTINGS = ("plain", "channels_last", "bf16", "channels_last+bf16", "compile", "compile+channels_last",
                  "compile+channels_last+bf16")


def run_speeds(config: TrainConfig, settings, steps: int, warmup: int = 1) -> list[dict]:
    """Time ``steps`` package steps per speed setting, interleaved, from the same weights and draws.

    The first ``warmup`` steps are untimed (for ``compile`` they include the compilation, reported as
    ``first_step_s``). Returns per setting: images/s (CPU time), ratio to plain, max relative loss
    difference to plain over all steps, sanity against :data:`LOSS_TOLERANCE`.
    """
    real_all = torch.rand(256, 3, config.image_size, config.image_size) * 2 - 1
    state = {}
    for name in settings:
        G, D = build_models(config)
        speed = resolve_speed(dataclasses.replace(config, speed=name), "cpu")
        Gm, Dm = apply_speed(G, D, speed)
        state[name] = (Gm, Dm, *make_optimizers(G, D, config), speed)
    times = {n: [] for n in settings}
    losses = {n: [] for n in settings}
    first = {}
    for step in range(steps + warmup):
        real = real_all[(step * 64) % 256:(step * 64) % 256 + config.batch_size]
        order = list(settings) if step % 2 == 0 else list(reversed(settings))
        for name in order:
            Gm, Dm, opt_g, opt_d, speed = state[name]
            x = real.contiguous(memory_format=torch.channels_last) if speed.channels_last else real
            t = time.process_time()
            m = train_step(Gm, Dm, opt_g, opt_d, x, None, config, step, step_generator(config.seed, step), speed=speed)
            dt = time.process_time() - t
            (times[name] if step >= warmup else first.setdefault(name, [])).append(dt)
            losses[name].append((m["loss_d"], m["loss_g"]))
    ref = statistics.median(times["plain"])
    rows = []
    for name in settings:
        med = statistics.median(times[name])
        rel = max(abs(a - b) / abs(b) for p, q in zip(losses[name], losses["plain"]) for a, b in zip(p, q))
        rows.append({"speed": name, "img_s": config.batch_size / med, "ratio": ref / med, "max_rel_diff": rel,
                     "sane": rel <= LOSS_TOLERANCE, "first_step_s": sum(first[name]), "step_s": med,
                     "break_even": (sum(first[name]) - warmup * med) / max(ref - med, 1e-9) if med < ref else None})
    return rows


def latency(image_size: int, width: int | None, repeats: int) -> float:
    """Median seconds to generate one image in eval mode (batch of 1, no gradients)."""
    torch.manual_seed(0)
    from histogan_lite.models import Generator

    G = Generator(image_size, width=width).eval()
    z = torch.rand(1, 100) * 2 - 1
    with torch.no_grad():
        G(z)
        ts = []
        for _ in range(repeats):
            t = time.perf_counter()
            G(z)
            ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def cpu_flags() -> str:
    """The CPU features that decide whether bfloat16 can be fast (AVX512-BF16, AMX) or is emulated."""
    try:
        flags = next(line.split(":", 1)[1].split() for line in open("/proc/cpuinfo") if line.startswith("flags"))
    except (OSError, StopIteration):  # no /proc (macOS, Windows)
        return "unknown"
    wanted = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags]
    return ", ".join(wanted) or "none of avx2 / avx512 / amx"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 timed step per configuration, small repeats")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--speed-steps", type=int, default=4, help="timed steps per speed setting")
    parser.add_argument("--no-compile", action="store_true", help="leave out the torch.compile settings")
    parser.add_argument("--skip-plain-loop", action="store_true", help="only the speed settings and latency")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    configs = [
        ("64 px, cpu preset (width 128)", TrainConfig(image_size=64, width=128, steps=100), 1 if args.quick else 6, 1),
        ("64 px, paper width (512)", TrainConfig(image_size=64, width=None, steps=100), 1 if args.quick else 4, 1),
        ("256 px, cpu width (128)", TrainConfig(image_size=256, width=128, steps=100), 1 if args.quick else 2, 1),
        ("256 px, paper preset (width 512)", TrainConfig(image_size=256, width=None, steps=100), 1 if args.quick else 2, 1),
    ]
    if args.quick:
        configs = configs[:1]
    for _, c, _, _ in configs:
        c.noise_anneal_steps = c.steps
    rows = ["| configuration | package step (images/s) | plain loop (images/s) | package / plain | identical losses | timed steps (median) |",
            "|---|---|---|---|---|---|"]
    for label, config, steps, warmup in [] if args.skip_plain_loop else configs:
        r = run_pair(config, steps, warmup)
        rows.append(f"| {label}, batch 64 | {r['package_img_s']:.2f} | {r['plain_img_s']:.2f} | {r['speedup']:.2f}x | "
                    f"{'yes' if r['identical'] else 'no (max diff %.2e)' % r['max_abs_diff']} | {r['steps']} |")
        print(rows[-1], flush=True)
    speed_rows = ["| configuration | speed | images/s (CPU time) | vs plain float32 | max relative loss difference | sane (<= %.0f %%) | first step incl. compile (s) | break-even (steps) |" % (100 * LOSS_TOLERANCE),
                  "|---|---|---|---|---|---|---|---|"]
    speed_configs = [("64 px, cpu preset (width 128), dcgan", TrainConfig(image_size=64, width=128, steps=100, noise_anneal_steps=100)),
                     ("64 px, cpu preset (width 128), cdcgan", TrainConfig(model="cdcgan", image_size=64, width=128, steps=100, noise_anneal_steps=100)),
                     ("128 px, width 128, dcgan", TrainConfig(image_size=128, width=128, steps=100, noise_anneal_steps=100))]
    settings = SPEED_SETTINGS if not args.no_compile else tuple(x for x in SPEED_SETTINGS if "compile" not in x)
    for label, config in speed_configs[:1] if args.quick else speed_configs:
        for r in run_speeds(config, settings, steps=1 if args.quick else args.speed_steps):
            be = "-" if r["break_even"] is None or "compile" not in r["speed"] else f"{r['break_even']:.0f}"
            speed_rows.append(f"| {label}, batch 64 | `{r['speed']}` | {r['img_s']:.2f} | {r['ratio']:.2f}x | "
                              f"{r['max_rel_diff']:.1e} | {'yes' if r['sane'] else 'NO'} | {r['first_step_s']:.1f} | {be} |")
            print(speed_rows[-1], flush=True)
    lat_rows = ["| generator | one image, eval mode (ms) |", "|---|---|"]
    for label, size, width in [("64 px, width 128 (shipped checkpoints)", 64, 128), ("64 px, width 512", 64, None),
                               ("256 px, width 512 (paper)", 256, None)]:
        lat_rows.append(f"| {label} | {1000 * latency(size, width, 5 if args.quick else 20):.1f} |")
        print(lat_rows[-1], flush=True)
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    text = (
        "## Training step and generation (CPU)\n\n"
        f"Machine: {cpu}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}; shared with other "
        "jobs, so absolute numbers vary between runs; the two loops run interleaved, so their ratio is fair.\n"
        "One step = one D update (eq. 1, label smoothing, instance noise) + two G updates (eq. 4). "
        "Images/s = 64 real images per step / median step time. The plain loop is a straightforward "
        "tutorial-style loop over the same models; it computes the same losses from the same random draws.\n\n"
        + ("\n".join(rows) + "\n\n" if len(rows) > 2 else "")
        + "### Speed settings of the package step (`TrainConfig.speed`)\n\n"
        f"CPU flags: {cpu_flags()}. Each setting starts from the same weights and draws the same random numbers as "
        "`plain` (float32, NCHW, eager); the settings run interleaved and are timed in process CPU time (median "
        f"of {args.speed_steps} steps after one untimed first step, which for `compile` includes compiling). "
        f"Sane: every loss within {100 * LOSS_TOLERANCE:.0f} % (relative) of plain's on the same step. "
        "Break-even: steps after which the compile time is paid back. "
        f"`speed=\"auto\"` picks `{CPU_AUTO}` on the CPU (float16 AMP + GradScaler on CUDA).\n\n"
        + "\n".join(speed_rows) + "\n\n" + "\n".join(lat_rows) + "\n\n"
        "What the package step saves over the plain loop, with bit-identical losses: it generates the "
        "discriminator's fake batch under `torch.no_grad()` (no autograd graph through G that `detach()` "
        "would discard), and it freezes D's weights during the G updates, so their backward pass computes "
        "only the gradient through D's inputs, not D's weight gradients. The gain is a few percent, within "
        "the noise of a shared CPU for two timed steps. The 256 px paper preset needs a GPU for real "
        "training (`--preset paper`, AMP on CUDA).\n"
    )
    print(text)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        from histogan_lite.utils import atomic_write_text

        atomic_write_text(RESULTS, text)


if __name__ == "__main__":
    main()
