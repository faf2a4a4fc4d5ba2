"""Quality of the shipped generators against unseen real demo patches, beside a reference DCGAN (issue 11).

One section per image size (64 and 128 px): each has its own real sets, feature classifier, references
and sample grid, since KID, coverage and the blurred-real bar are only comparable within one size.

Every number comes from the package function :func:`histogan_lite.quality.gan_quality` (through
:func:`~histogan_lite.quality.evaluate_generator` for the shipped generators); this script only chooses
the sets and writes the table. Rows:

* every generator of :data:`histogan_lite.pretrained.NAMES` that is present (per class for a cDCGAN),
  ``n`` samples per group, z uniform in [-1, 1] (the project's prior);
* **real vs real**: a second set of unseen real patches (renderer seed 2) scored like a generator:
  the best a generator can reach at this sample size (KID near 0, coverage near 1);
* **real, 3x3 box blur**: the same real set blurred (the issue's "closer to real than blurred real" bar);
* **reference DCGAN** (``benchmarks/reference_dcgan.py``: the pytorch/examples recipe, same width,
  same image size, same demo data, z ~ N(0, 1)), one per training budget used, loaded from its cache; its per-class
  rows are its samples that the feature classifier assigns to that class (an unconditional GAN has no
  label of its own).

Real patches: ``quality.unseen_real_patches`` (renderer seed 1, never seen in training; half per
class); the memorisation ratio searches the first ``--n-train`` training patches (``make_patches(.,
seed=0)`` is a prefix of the training set of ``load_data("demo")``). Pass/fail columns are
:func:`histogan_lite.quality.check_floors` against issue 11 point 3: KID below the reference's and below
blurred real's (both feature spaces), coverage above the reference's, coverage >= 0.6, precision >= 0.5,
diversity >= 85 % of real, class agreement >= 95 % of the feature classifier's recall on real patches of the class (cDCGAN; see `histogan_lite.quality`), grid energy 0.8-1.25x real. A group is
compared with the reference and blurred rows of the same group (``all`` for a DCGAN, the class for a
cDCGAN).

Writes ``results/gan_quality.md`` (the table), ``results/gan_quality.json`` (all scores) and
``results/gan_quality.png`` (samples of every generator beside real patches).

Usage: ``.venv/bin/python benchmarks/bench_gan_quality.py [--n 500] [--reference-cpu-seconds S]
[--train-reference]``. Each shipped generator is compared with a reference trained for its own recorded
training time (CPU seconds; wall seconds when none are recorded), rounded up to whole 5 minutes
(``reference_dcgan.BUDGET_QUANTUM``): equal CPU time. When that budget is not cached, the smallest cached
budget above it is used (a stricter comparison), else the largest, and the table says so, unless
``--train-reference`` trains it first; ``--reference-cpu-seconds`` compares every generator with one budget.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FLOOR_COLUMNS = [
    ("kid_below_reference", "KID < ref"), ("coverage_above_reference", "cov > ref"),
    ("kid_below_blurred", "KID < blur"), ("coverage", "cov >= 0.6"), ("precision", "prec >= 0.5"),
    ("diversity", "div >= 85 %"), ("class_agreement", "agree >= 95 % of real"), ("grid_energy", "grid 0.8-1.25x"),
]


def _fmt(x, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def _mark(ok) -> str:
    return "-" if ok is None else ("pass" if ok else "**FAIL**")


def reference_generator(cpu_seconds: float | None, train: bool, renderer: str | None = None, image_size: int = 64):
    """The cached reference DCGAN: ``(G, record, note)``; ``note`` says when the budget is not the shipped one."""
    import reference_dcgan as ref

    size = dict(image_size=image_size)
    shipped, why = ref.shipped_budget(image_size=image_size)
    want = cpu_seconds if cpu_seconds else shipped
    if renderer:  # an older run, on another renderer version's demo data: load only, never train
        G, rec = ref.load_reference(want, renderer=renderer, **size)
        return G, rec, ""
    try:
        G, rec = ref.load_reference(want, **size)
        note = ""
    except FileNotFoundError:
        if train:
            G, rec = ref.train(want, **size)
            note = ""
        else:
            cached = ref.list_cached(**size)
            if not cached:  # a fresh machine: train the full budget once (cached for the next run)
                print(f"no reference DCGAN cached: training it for {want:.0f} CPU-s ({why if not cpu_seconds else '--reference-cpu-seconds'})",
                      flush=True)
                G, rec = ref.train(want, **size)
                return G, rec, ""
            rec0 = cached[-1]
            G, rec = ref.load_reference(rec0["cpu_budget"], **size)
            note = (f"the reference was trained for {rec['cpu_seconds']:.0f} CPU-s, not the {want:.0f} s asked "
                    f"for ({'--reference-cpu-seconds' if cpu_seconds else why}); "
                    f"`--train-reference` trains the full budget (resumes the cached run)")
    return G, rec, note


def generator_seconds(name: str) -> float:
    """A shipped generator's recorded training time: CPU seconds, else wall seconds."""
    from histogan_lite import pretrained

    info = pretrained.checkpoint_info(name)
    for key in ("cpu_seconds", "train_cpu_seconds", "wall_seconds"):
        if isinstance(info.get(key), (int, float)):
            return float(info[key])
    raise ValueError(f"{name}.json records neither cpu_seconds nor wall_seconds")


def reference_for(seconds: float, train: bool, image_size: int = 64):
    """The reference DCGAN of ``image_size`` px for a generator trained ``seconds``: ``(G, record, note)``.

    Its budget is ``seconds`` rounded up to ``reference_dcgan.BUDGET_QUANTUM``: equal CPU time, or a few
    minutes more. Uncached, it is trained when ``train`` (or when nothing is cached at all); otherwise the
    smallest cached budget above it is used (a stricter comparison), else the largest, and ``note`` says so.
    """
    import reference_dcgan as ref

    want = math.ceil(seconds / ref.BUDGET_QUANTUM) * ref.BUDGET_QUANTUM
    size = dict(image_size=image_size)
    cached = [r["cpu_budget"] for r in ref.list_cached(**size)]
    if want in cached:
        return (*ref.load_reference(want, **size), "")
    if train or not cached:
        return (*ref.train(want, **size), "")
    above = [b for b in cached if b > want]
    budget = min(above) if above else max(cached)
    G, rec = ref.load_reference(budget, **size)
    how = "more: a stricter comparison" if above else "**less: not equal CPU time**"
    return G, rec, (f"trained {budget} CPU-s, the cached budget nearest to the {want} asked for ({how}; "
                    "`--train-reference` trains the exact budget)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500, help="generated patches per group (and real patches per class)")
    parser.add_argument("--n-train", type=int, default=2000, help="training patches searched for memorisation")
    parser.add_argument("--reference-cpu-seconds", type=float, default=None,
                        help="one budget for every reference DCGAN (default: each generator's own training time)")
    parser.add_argument("--train-reference", action="store_true", help="train the reference when its budget is not cached")
    parser.add_argument("--reference-renderer", default=None,
                        help="load a reference cached for another renderer version (default: the current one)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from histogan_lite import pretrained
    from histogan_lite.synthetic import GENERATOR_VERSION

    t_wall, t_cpu = time.perf_counter(), time.process_time()
    names = pretrained.available()
    sizes = sorted({pretrained.image_size(name) for name in names}) or [64]
    sections = [score_size(size, [nm for nm in names if pretrained.image_size(nm) == size], args) for size in sizes]
    wall, cpu = time.perf_counter() - t_wall, time.process_time() - t_cpu
    text = "\n".join([
        "## GAN sample quality (issue 11)",
        "",
        f"Shipped generators against {2 * args.n} unseen real demo patches of their own size (renderer "
        f"v{GENERATOR_VERSION}, seed 1, half per class), {args.n} samples per group; KID x1000 (mean ± std over 20 subsets of 100) and FID in the book "
        "classifier's penultimate features (`cls`, a classifier trained at that patch size) and in hand-crafted H&E colour + texture features (`tex`); "
        "precision / recall (Kynkaanniemi et al. 2019) and density / coverage (Naeem et al. 2020) with k = 5 "
        "in the classifier space (`prec. tex`, `cov. tex`: the same in the texture space); diversity, grid (period-2/4 spectral energy) and high-pass energy as ratios to real; "
        "class agreement of the feature classifier with the conditioning label, beside its recall on the real "
        "patches of that class (the floor is 95 % of that recall; a real row's own agreement is that recall); memorisation = median distance to the "
        f"nearest of {args.n_train} training patches over the same for unseen real patches. All scores from "
        "`histogan_lite.quality.gan_quality`. Pass/fail: issue 11 point 3 (`quality.check_floors`, whose docstring "
        "says which feature space each floor uses); a class row "
        "is compared with the reference and blurred rows of the same class (reference classes: its samples the "
        "classifier assigns to that class).",
        "",
        "Each shipped generator is compared with a reference DCGAN of its own patch size trained for its own CPU time, rounded up to "
        "whole 5 minutes (`--reference-cpu-seconds` sets one budget for all).",
        "",
        *[sec["text"] for sec in sections],
        "Verdict (every floor, every group): " + ", ".join(f"`{k}` {'passes' if v else '**fails**'}"
                                                           for sec in sections for k, v in sec["verdicts"].items())
        + ". Samples: " + ", ".join(f"`benchmarks/results/{sec['png']}`" for sec in sections) + ". "
        f"`benchmarks/bench_gan_quality.py`, "
        f"{time.strftime('%Y-%m-%d')}, {wall:.0f} s wall / {cpu:.0f} CPU-s, single thread, {platform.machine()}.",
        "",
    ])
    print(text)
    from histogan_lite.utils import atomic_write_text

    atomic_write_text(RESULTS / "gan_quality.md", text)
    atomic_write_text(RESULTS / "gan_quality.json", json.dumps(
        {"n": args.n, "renderer_version": GENERATOR_VERSION, **{f"{sec['size']}px": sec["json"] for sec in sections},
         "verdicts": {k: v for sec in sections for k, v in sec["verdicts"].items()}}, indent=2, default=float) + "\n")
    return 0


def score_size(size: int, names: list[str], args) -> dict:
    """Score the shipped generators ``names`` of ``size`` px against real, blurred real and references.

    Returns ``{"size", "text" (markdown: reference notes + table), "json", "verdicts", "png"}``; writes the
    sample grid ``results/gan_quality.png`` (64 px) or ``results/gan_quality_<size>px.png``.
    """
    import numpy as np

    from histogan_lite import pretrained, quality
    from histogan_lite.classifier import predict
    from histogan_lite.synthetic import GENERATOR_VERSION, make_patches
    from histogan_lite.utils import as_uint8_images

    n = args.n
    real, real_labels = quality.unseen_real_patches(2 * n, size=size, seed=1)
    real2, real2_labels = quality.unseen_real_patches(2 * n, size=size, seed=2)
    train, _ = make_patches(args.n_train, size=size, seed=0)
    clf = quality.quality_classifier(size)
    common = dict(train=train, classifier=clf, seed=args.seed)
    reports: dict[str, object] = {}  # row name -> QualityReport
    samples: dict[str, np.ndarray] = {}

    def both(name, gen, gen_labels):
        """Score a labelled set twice: as one group ("all") and per class."""
        reports[name] = quality.gan_quality(gen, real, **common)
        reports[name + " per class"] = quality.gan_quality(gen, real, generated_labels=gen_labels,
                                                           real_labels=real_labels, **common)

    both("real vs real", real2, real2_labels)
    blurred = quality.box_blur(real2, 3)
    both("real, 3x3 box blur", blurred, real2_labels)
    samples["real"] = real[:8]  # seed 1: the set every row is scored against
    samples["real (seed 2), 3x3 box blur"] = as_uint8_images(blurred[:8])

    import reference_dcgan as ref

    refs: dict[str, dict] = {}  # reference row name -> {"rec", "note", "counts"}
    ref_of: dict[str, str] = {}  # shipped generator -> the reference row it is compared with

    def add_reference(G_ref, rec, note) -> str:
        row = f"reference DCGAN {size} px, {rec['cpu_budget']} CPU-s"
        if row in refs:
            return row
        gen_ref = ref.generate(G_ref, 2 * n, seed=args.seed)
        ref_pred = predict(clf, gen_ref)
        keep = np.isin(ref_pred, [c for c in range(2) if (ref_pred == c).sum() > 5])  # a class needs > k samples
        reports[row] = quality.gan_quality(gen_ref, real, **common)
        if keep.any():
            reports[row + " per class"] = quality.gan_quality(
                gen_ref[keep], real, generated_labels=ref_pred[keep], real_labels=real_labels, **common)
        refs[row] = {"rec": rec, "note": note, "counts": np.bincount(ref_pred, minlength=2)}
        samples[row] = as_uint8_images(gen_ref[:8])
        return row

    if args.reference_cpu_seconds or args.reference_renderer:  # one reference for every generator
        fixed = add_reference(*reference_generator(args.reference_cpu_seconds, args.train_reference,
                                                   args.reference_renderer, image_size=size))
        ref_of = {name: fixed for name in names}
    else:  # each generator against a reference trained for its own CPU time (issue 11: "at equal CPU time")
        ref_of = {name: add_reference(*reference_for(generator_seconds(name), args.train_reference, image_size=size))
                  for name in names}

    shipped = []
    for name in names:
        G = pretrained.load_generator(name)
        rep = quality.evaluate_generator(G, real if G.n_classes else real,
                                         real_labels if G.n_classes else None, n=n, keep_images=True, **common)
        reports[name] = rep
        shipped.append(name)
        if G.n_classes:
            gen = rep.generated
            half = len(gen) // G.n_classes
            for c in range(G.n_classes):
                samples[f"{name} {['negative', 'positive'][c]}"] = gen[c * half:c * half + 8]
        else:
            samples[name] = rep.generated[:8]

    def row_for(name, group):
        """The row of ``name`` for ``group``; the reference's "all" row when it has too few of that class."""
        if group in [s.group for s in reports[name].scores]:
            return reports[name][group]
        if name + " per class" in reports:
            rep = reports[name + " per class"]
            if group in [s.group for s in rep.scores]:
                return rep[group]
        return reports[name]["all"]

    header = ["generator", "group", "n", "KID cls", "FID cls", "KID tex", "FID tex", "precision", "recall",
              "density", "coverage", "prec. tex", "cov. tex", "diversity", "grid", "high-pass", "class agr.", "memor."]
    lines = ["| " + " | ".join(header + [c for _, c in FLOOR_COLUMNS]) + " |",
             "|" + "---|" * (len(header) + len(FLOOR_COLUMNS))]
    record = {}
    order = ["real vs real", "real, 3x3 box blur", *sorted(refs), *shipped]
    for name in order:
        rep = reports[name]
        groups = [s.group for s in rep.scores]
        if name in ("real vs real", "real, 3x3 box blur", *refs):
            groups = ["all"] + ([s.group for s in reports[name + " per class"].scores] if name + " per class" in reports else [])
        for group in groups:
            s = row_for(name, group)
            is_gen = name not in ("real vs real", "real, 3x3 box blur")
            floors = quality.check_floors(s, reference=row_for(ref_of[name], group) if name in shipped else None,
                                          blurred=row_for("real, 3x3 box blur", group) if is_gen else None)
            if name in refs or group == "all":
                floors.pop("class_agreement", None)  # the classifier assigned these labels itself
            record[f"{name} / {group}"] = {**s.as_dict(), "floors": floors}
            cells = [name, group, str(s.n_generated),
                     f"{s.kid_classifier:.1f} ± {s.kid_classifier_std:.1f}", _fmt(s.fid_classifier, ".1f"),
                     f"{s.kid_texture:.1f} ± {s.kid_texture_std:.1f}", _fmt(s.fid_texture, ".1f"),
                     _fmt(s.precision), _fmt(s.recall), _fmt(s.density), _fmt(s.coverage),
                     _fmt(getattr(s, "precision_texture", None)), _fmt(getattr(s, "coverage_texture", None)), _fmt(s.diversity),
                     _fmt(s.grid_energy), _fmt(s.highpass),
                     (f"{s.class_agreement:.3f} (real {s.class_agreement_real:.3f})" if "class_agreement" in floors
                      and s.class_agreement_real is not None else "-"), _fmt(s.memorisation)]
            lines.append("| " + " | ".join(cells + [_mark(floors.get(k)) for k, _ in FLOOR_COLUMNS]) + " |")

    verdicts = {}
    for name in shipped:
        fl = [v for k, v in record.items() if k.startswith(name + " / ")]
        verdicts[name] = all(all(r["floors"].values()) for r in fl)

    # sample grid: 8 patches per row, every generator beside real
    from histogan_lite.plotting import image_grid

    grid_rows = ["real", "real (seed 2), 3x3 box blur", *sorted(refs), *[k for k in samples if k.split(" ")[0] in shipped]]
    fig = image_grid(np.concatenate([np.asarray(samples[k]) for k in grid_rows]), nrow=len(grid_rows),
                     row_titles=grid_rows, title=f"generated vs unseen real demo patches ({size} px, renderer v{GENERATOR_VERSION})")
    RESULTS.mkdir(exist_ok=True)
    from histogan_lite.utils import atomic_path

    png = "gan_quality.png" if size == 64 else f"gan_quality_{size}px.png"
    with atomic_path(RESULTS / png) as tmp:
        fig.savefig(tmp, dpi=80 if size == 64 else 60, bbox_inches="tight")

    ref_lines = []
    for row, r in sorted(refs.items()):
        rec, counts = r["rec"], r["counts"]
        ref_lines.append(
            f"{row}: {rec['recipe']}; width {rec['width']}, {rec['steps']:,} steps in "
            f"{rec['cpu_seconds']:.0f} CPU-s ({rec['wall_seconds']:.0f} s wall), renderer v{rec['renderer_version']}"
            + (f" (**not** the v{GENERATOR_VERSION} of the real patches: `--reference-renderer`)"
               if str(rec['renderer_version']) != str(GENERATOR_VERSION) else "") + "; "
            f"the classifier calls {counts[0]} of its {2 * n} samples negative and {counts[1]} positive"
            + ("" if (counts > 5).all() else " (a class with 5 or fewer is compared with its `all` row)") + "; "
            f"compared with {', '.join(f'`{k}`' for k, v in ref_of.items() if v == row)}"
            + (f" ({r['note']})" if r["note"] else "") + ".")
    shipped_info = []
    for name in shipped:
        info = pretrained.checkpoint_info(name)
        t = generator_seconds(name)
        kind = "CPU" if "cpu_seconds" in info or "train_cpu_seconds" in info else "wall"
        shipped_info.append(f"`{name}`: {info.get('steps', '?')} steps, {_fmt(t, '.0f')} {kind} s, "
                            f"renderer v{info.get('renderer_version', info.get('generator_version', '3 (not recorded)'))}")
    text = "\n".join([
        f"### {size} px",
        "",
        *[f"- {line}" for line in ref_lines],
        "",
        "Shipped: " + "; ".join(shipped_info) + ".",
        "",
        *lines,
        "",
    ])
    return {"size": size, "text": text, "verdicts": verdicts, "png": png,
            "json": {"references": {row: {"record": r["rec"], "note": r["note"]} for row, r in refs.items()},
                     "compared_with": ref_of, "rows": record}}


if __name__ == "__main__":
    raise SystemExit(main())
