"""The reference DCGAN of the quality benchmark: the pytorch/examples recipe, trained on the demo patches.

Issue 11 asks every shipped generator to beat "a plain tutorial DCGAN" at equal CPU time. This file is
that tutorial DCGAN, written after https://github.com/pytorch/examples/tree/main/dcgan (Radford et al.
2016, as the PyTorch example implements it), with nothing of this project's recipe:

* G: z ``(N, 100)`` drawn from **N(0, 1)** -> ``ConvTranspose2d(100, 8g, 4, 1, 0)`` -> 4x4, then four
  ``ConvTranspose2d(., ., 4, 2, 1)`` (**4x4 kernels**, stride 2: the kernel is a multiple of the stride,
  so no checkerboard from uneven overlap) to 64x64; batch norm + ReLU between, tanh at the end.
* D: four ``Conv2d(., ., 4, 2, 1)`` (no batch norm after the first; LeakyReLU 0.2) and a
  ``Conv2d(8d, 1, 4, 1, 0)`` logit.
* weights N(0, 0.02), batch-norm scales N(1, 0.02); **plain BCE** (labels 1 / 0, no smoothing, no
  instance noise); one D step (real batch and fake batch through D separately, as in the example)
  then one G step with the non-saturating loss; **Adam lr 2e-4, betas (0.5, 0.999)** for both; batch 64.
* same width as the shipped generators: ``g = d = width / 8`` so the widest layer has ``width`` (128)
  channels, like :class:`histogan_lite.models.Generator` (``C, C/2, C/4, C/8``); 64 px.
* at 128 px (``image_size=128``, for the 128-px generators) the example's usual extension: one more
  ``ConvTranspose2d(g, g, 4, 2, 1)`` + batch norm + ReLU before G's last layer, and one more
  ``Conv2d(d, d, 4, 2, 1)`` + batch norm + LeakyReLU after D's first; the 64-px nets are unchanged.
* same data: the demo patches of :func:`histogan_lite.training.load_data` (``"demo"``, 8,000 patches,
  renderer seed 0, half per class) rendered by the current renderer
  (:data:`histogan_lite.synthetic.GENERATOR_VERSION`).

Training stops after a budget of **CPU seconds of this process** (``time.process_time``, fair on the
shared machine; one torch thread). The default budget is the shipped checkpoint's recorded training
CPU seconds (``cpu_seconds`` in ``histogan_lite/checkpoints/dcgan-64.json``) if it has one, else its
wall seconds. The run is cached under ``histogan_lite.utils.data_dir() / "reference_dcgan"`` keyed by
renderer version, size, width and seed (safetensors weights + JSON record, written atomically). A larger
budget resumes the cached run (the state holds both nets and both optimisers); every finished budget
leaves a generator export ``G_cpu<budget>.safetensors`` + ``.json`` so a benchmark can load it without
retraining.

Usage:
    .venv/bin/python benchmarks/reference_dcgan.py --cpu-seconds 600      # train (or resume) and export
    .venv/bin/python benchmarks/reference_dcgan.py --list                 # what is cached

Python: ``load_reference(cpu_seconds)`` -> ``(G, record)``; ``generate(G, n, seed)`` -> float32
``(n, 3, S, S)`` in [-1, 1] with z ~ N(0, 1) (S = 64 or 128, ``--image-size``).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LATENT_DIM = 100
BATCH_SIZE = 64
LR, BETAS = 2e-4, (0.5, 0.999)
RECIPE = ("pytorch/examples dcgan: 4x4 kernels, z ~ N(0,1), plain BCE (labels 1/0), 1 D step : 1 G step, "
          "Adam lr 2e-4 betas (0.5, 0.999), batch 64")


def _extra_layers(image_size: int) -> int:
    """Stride-2 layers added to the example's 64-px nets: 0 at 64 px, 1 at 128 px."""
    if image_size not in (64, 128):
        raise ValueError(f"image_size must be 64 or 128, got {image_size}")
    return {64: 0, 128: 1}[image_size]


class RefGenerator(nn.Module):
    """pytorch/examples DCGAN generator: z ``(N, 100)`` ~ N(0, 1) -> ``(N, 3, S, S)`` in [-1, 1], S = 64 or 128."""

    n_classes = 0

    def __init__(self, width: int = 128, latent_dim: int = LATENT_DIM, image_size: int = 64):
        super().__init__()
        if width % 8 or width < 8:
            raise ValueError(f"width must be a positive multiple of 8, got {width}")
        g = width // 8
        self.width, self.latent_dim, self.image_size = width, latent_dim, image_size
        extra = [m for _ in range(_extra_layers(image_size))
                 for m in (nn.ConvTranspose2d(g, g, 4, 2, 1, bias=False), nn.BatchNorm2d(g), nn.ReLU(True))]
        self.main = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, 8 * g, 4, 1, 0, bias=False), nn.BatchNorm2d(8 * g), nn.ReLU(True),
            nn.ConvTranspose2d(8 * g, 4 * g, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * g), nn.ReLU(True),
            nn.ConvTranspose2d(4 * g, 2 * g, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * g), nn.ReLU(True),
            nn.ConvTranspose2d(2 * g, g, 4, 2, 1, bias=False), nn.BatchNorm2d(g), nn.ReLU(True),
            *extra,
            nn.ConvTranspose2d(g, 3, 4, 2, 1, bias=False), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        return self.main(z[:, :, None, None])


class RefDiscriminator(nn.Module):
    """pytorch/examples DCGAN discriminator: images ``(N, 3, S, S)`` in [-1, 1] -> logits ``(N,)``, S = 64 or 128."""

    def __init__(self, width: int = 128, image_size: int = 64):
        super().__init__()
        d = width // 8
        extra = [m for _ in range(_extra_layers(image_size))
                 for m in (nn.Conv2d(d, d, 4, 2, 1, bias=False), nn.BatchNorm2d(d), nn.LeakyReLU(0.2, inplace=True))]
        self.main = nn.Sequential(
            nn.Conv2d(3, d, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            *extra,
            nn.Conv2d(d, 2 * d, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * d), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * d, 4 * d, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * d), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(4 * d, 8 * d, 4, 2, 1, bias=False), nn.BatchNorm2d(8 * d), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(8 * d, 1, 4, 1, 0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1)


def weights_init(m: nn.Module) -> None:
    """The example's initialisation: conv weights N(0, 0.02); batch-norm scale N(1, 0.02), shift 0."""
    name = type(m).__name__
    if "Conv" in name:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif "BatchNorm" in name:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def generate(G: RefGenerator, n: int, seed: int = 0, batch_size: int = 256) -> torch.Tensor:
    """``n`` images of ``G`` in eval mode: float32 CPU ``(n, 3, S, S)`` in [-1, 1]; z ~ N(0, 1) seeded by ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.latent_dim, generator=gen)
    was = G.training
    G.eval()
    try:
        with torch.no_grad():
            return torch.cat([G(z[i:i + batch_size]).float() for i in range(0, n, batch_size)])
    finally:
        G.train(was)


# ----------------------------------------------------------------------------------------------------
# cache
# ----------------------------------------------------------------------------------------------------
def cache_dir(width: int = 128, seed: int = 0, renderer: str | None = None, image_size: int = 64) -> Path:
    """``data_dir()/reference_dcgan/renderer<V>_<S>px_w<width>_seed<seed>``: one folder per renderer version and size.

    ``renderer`` defaults to the current :data:`histogan_lite.synthetic.GENERATOR_VERSION`; another version
    reads an older run (only :func:`load_reference` / :func:`list_cached` should use that).
    """
    from histogan_lite.synthetic import GENERATOR_VERSION
    from histogan_lite.utils import data_dir

    return data_dir() / "reference_dcgan" / f"renderer{renderer or GENERATOR_VERSION}_{image_size}px_w{width}_seed{seed}"


#: The reference's budget is rounded up to whole multiples of this many CPU seconds (5 minutes), so a
#: retrained shipped checkpoint a few seconds longer or shorter does not ask for a new reference run.
BUDGET_QUANTUM = 300


def shipped_budget(names: tuple[str, ...] | None = None, image_size: int = 64) -> tuple[float, str]:
    """The reference's training budget as ``(CPU seconds, why)``: at least every shipped generator's of that size.

    The largest recorded training time (CPU seconds if recorded, else wall) of the shipped
    ``image_size``-px generators ``names`` (default: all of that size that are installed), rounded up to a multiple of
    :data:`BUDGET_QUANTUM`: so each shipped generator is compared with a reference that trained at least
    as long as it did.

    Raises:
        ValueError: when a checkpoint records neither CPU nor wall seconds, or none is installed.
    """
    from histogan_lite import pretrained

    names = tuple(n for n in pretrained.available() if pretrained.image_size(n) == image_size) if names is None else names
    times = {}
    for name in names:
        info = pretrained.checkpoint_info(name)
        for key in ("cpu_seconds", "training_cpu_seconds", "train_cpu_seconds", "wall_seconds"):
            if isinstance(info.get(key), (int, float)):
                times[name] = (float(info[key]), key)
                break
        else:
            raise ValueError(f"{name}.json records neither cpu_seconds nor wall_seconds; pass --cpu-seconds")
    if not times:
        raise ValueError(f"no shipped {image_size}-px generator is installed; pass --cpu-seconds")
    name, (seconds, key) = max(times.items(), key=lambda kv: kv[1][0])
    budget = math.ceil(seconds / BUDGET_QUANTUM) * BUDGET_QUANTUM
    return float(budget), f"{name} JSON {key} {seconds:.0f}, rounded up to {BUDGET_QUANTUM} s steps"


def _save_tensors(path: Path, tensors: dict, meta: dict) -> None:
    from safetensors.torch import save_file

    from histogan_lite.utils import atomic_path, atomic_write_text

    with atomic_path(path) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
    atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")


def _opt_tensors(opt: torch.optim.Adam, prefix: str) -> dict:
    out = {}
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            out[f"{prefix}.{i}.{k}"] = v if isinstance(v, torch.Tensor) else torch.tensor(v)
    return out


def _load_opt(opt: torch.optim.Adam, tensors: dict, prefix: str) -> None:
    sd = opt.state_dict()
    state: dict = {}
    for key, v in tensors.items():
        if key.startswith(prefix + "."):
            _, i, k = key.split(".", 2)
            state.setdefault(int(i), {})[k] = v
    sd["state"] = state
    opt.load_state_dict(sd)


def list_cached(width: int = 128, seed: int = 0, renderer: str | None = None, image_size: int = 64) -> list[dict]:
    """Records (JSON) of the generator exports in the cache, smallest budget first."""
    folder = cache_dir(width, seed, renderer, image_size)
    recs = [json.loads(p.read_text()) for p in sorted(folder.glob("G_cpu*.json"))] if folder.exists() else []
    return sorted(recs, key=lambda r: r["cpu_budget"])


def load_reference(cpu_seconds: float, width: int = 128, seed: int = 0,
                   renderer: str | None = None, image_size: int = 64) -> tuple[RefGenerator, dict]:
    """The cached reference generator trained for ``cpu_seconds`` (eval mode) and its JSON record.

    Raises:
        FileNotFoundError: when no run with that budget is cached (train it with this script).
    """
    from safetensors.torch import load_file

    path = cache_dir(width, seed, renderer, image_size) / f"G_cpu{int(round(cpu_seconds))}.safetensors"
    if not path.exists():
        have = [r["cpu_budget"] for r in list_cached(width, seed, renderer, image_size)]
        raise FileNotFoundError(
            f"no reference DCGAN trained for {int(round(cpu_seconds))} CPU-s in {path.parent} (cached budgets: {have}); "
            f"train it: .venv/bin/python benchmarks/reference_dcgan.py --cpu-seconds {int(round(cpu_seconds))}"
            + (f" --image-size {image_size}" if image_size != 64 else ""))
    G = RefGenerator(width, image_size=image_size)
    G.load_state_dict(load_file(str(path)))
    return G.eval(), json.loads(path.with_suffix(".json").read_text())


# ----------------------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------------------
def train(cpu_seconds: float, width: int = 128, seed: int = 0, n_demo: int = 8000, save_every_cpu: float = 120.0,
          show_progress: bool = True, image_size: int = 64) -> tuple[RefGenerator, dict]:
    """Train (or resume) the reference DCGAN until ``cpu_seconds`` CPU seconds of training in total.

    CPU seconds count only the training steps (not data rendering or saving), summed over resumed runs.
    Returns the generator (eval mode) and its record; also exported to ``G_cpu<budget>.safetensors``.
    """
    from safetensors.torch import load_file

    from histogan_lite.synthetic import GENERATOR_VERSION
    from histogan_lite.training import load_data
    from histogan_lite.utils import progress

    if cpu_seconds <= 0:
        raise ValueError(f"cpu_seconds must be positive, got {cpu_seconds}")
    budget = int(round(cpu_seconds))
    folder = cache_dir(width, seed, image_size=image_size)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    G, D = RefGenerator(width, image_size=image_size), RefDiscriminator(width, image_size=image_size)
    G.apply(weights_init)
    D.apply(weights_init)
    optG = torch.optim.Adam(G.parameters(), lr=LR, betas=BETAS)
    optD = torch.optim.Adam(D.parameters(), lr=LR, betas=BETAS)
    state_path = folder / "state.safetensors"
    rec = {"step": 0, "cpu_seconds": 0.0, "wall_seconds": 0.0, "history": []}
    if state_path.exists():
        t = load_file(str(state_path))
        G.load_state_dict({k[2:]: v for k, v in t.items() if k.startswith("G.")})
        D.load_state_dict({k[2:]: v for k, v in t.items() if k.startswith("D.")})
        _load_opt(optG, t, "optG")
        _load_opt(optD, t, "optD")
        rec = json.loads(state_path.with_suffix(".json").read_text())
        torch.set_rng_state(t["rng"])
        print(f"resuming the reference DCGAN at step {rec['step']} ({rec['cpu_seconds']:.0f} CPU-s)", flush=True)
    if rec["cpu_seconds"] >= budget + 1.0:  # budgets are whole CPU seconds: a state within 1 s of it is that budget
        raise ValueError(f"the cached run in {folder} already used {rec['cpu_seconds']:.0f} CPU-s > {budget}; "
                         f"delete {state_path} to train a smaller budget from scratch")
    if rec["cpu_seconds"] < budget:  # render the data only when a step is left to train
        images, _ = load_data("demo", image_size, n_demo=n_demo, seed=0, cache=False)
        data = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)  # uint8 NHWC -> [-1, 1] NCHW
    rng = np.random.default_rng(seed + rec["step"])
    G.train()
    D.train()

    def save_state():
        tensors = {**{f"G.{k}": v for k, v in G.state_dict().items()}, **{f"D.{k}": v for k, v in D.state_dict().items()},
                   **_opt_tensors(optG, "optG"), **_opt_tensors(optD, "optD"), "rng": torch.get_rng_state()}
        _save_tensors(state_path, tensors, rec)

    bar = progress(total=budget, desc="reference DCGAN (CPU-s)", initial=int(rec["cpu_seconds"])) if show_progress else None
    last_save = rec["cpu_seconds"]
    while rec["cpu_seconds"] < budget:
        c0, w0 = time.process_time(), time.perf_counter()
        real = data[torch.from_numpy(rng.integers(0, len(data), BATCH_SIZE))]
        z = torch.randn(BATCH_SIZE, LATENT_DIM)
        fake = G(z)
        # D: real batch, then fake batch, each through D on its own (batch norm sees one kind at a time)
        optD.zero_grad()
        out_r = D(real)
        loss_r = F.binary_cross_entropy_with_logits(out_r, torch.ones_like(out_r))
        loss_r.backward()
        out_f = D(fake.detach())
        loss_f = F.binary_cross_entropy_with_logits(out_f, torch.zeros_like(out_f))
        loss_f.backward()
        optD.step()
        # G: non-saturating, labels 1 for the same fakes
        optG.zero_grad()
        out_g = D(fake)
        loss_g = F.binary_cross_entropy_with_logits(out_g, torch.ones_like(out_g))
        loss_g.backward()
        optG.step()
        dc = time.process_time() - c0
        rec["cpu_seconds"] += dc
        rec["wall_seconds"] += time.perf_counter() - w0
        rec["step"] += 1
        if rec["step"] % 100 == 0:
            rec["history"].append({"step": rec["step"], "cpu_seconds": round(rec["cpu_seconds"], 1),
                                   "loss_d": round((loss_r + loss_f).item(), 4), "loss_g": round(loss_g.item(), 4),
                                   "d_real": round(torch.sigmoid(out_r).mean().item(), 4),
                                   "d_fake": round(torch.sigmoid(out_f).mean().item(), 4)})
        if bar is not None:
            bar.update(min(budget, rec["cpu_seconds"]) - bar.n)
        if not torch.isfinite(loss_g) or not torch.isfinite(loss_r + loss_f):
            raise RuntimeError(f"reference DCGAN diverged at step {rec['step']} (non-finite loss)")
        if rec["cpu_seconds"] - last_save >= save_every_cpu:
            save_state()
            last_save = rec["cpu_seconds"]
    if bar is not None:
        bar.close()
    save_state()
    meta = {"recipe": RECIPE, "width": width, "image_size": image_size, "latent_dim": LATENT_DIM, "z_prior": "normal(0, 1)",
            "seed": seed, "cpu_budget": budget, "steps": rec["step"], "cpu_seconds": round(rec["cpu_seconds"], 1),
            "wall_seconds": round(rec["wall_seconds"], 1), "renderer_version": GENERATOR_VERSION,
            "data": f"demo: load_data('demo', {image_size}, n_demo={n_demo}, seed=0), renderer version {GENERATOR_VERSION}",
            "torch_threads": torch.get_num_threads(), "last": rec["history"][-1] if rec["history"] else None}
    _save_tensors(folder / f"G_cpu{budget}.safetensors", G.state_dict(), meta)
    return G.eval(), meta


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-seconds", type=float, default=None,
                        help="training budget in CPU seconds (default: the longest recorded training time of the shipped "
                             "generators of --image-size)")
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=64, choices=[64, 128])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--list", action="store_true", help="list the cached runs and exit")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.list:
        for r in list_cached(args.width, args.seed, image_size=args.image_size):
            print(json.dumps({k: r[k] for k in ("cpu_budget", "steps", "cpu_seconds", "wall_seconds", "renderer_version")}))
        return 0
    budget, why = (args.cpu_seconds, "--cpu-seconds") if args.cpu_seconds else shipped_budget(image_size=args.image_size)
    print(f"reference DCGAN budget {budget:.0f} CPU-s ({why}); cache {cache_dir(args.width, args.seed, image_size=args.image_size)}",
          flush=True)
    _, meta = train(budget, args.width, args.seed, image_size=args.image_size)
    print(json.dumps({k: v for k, v in meta.items() if k != "last"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
