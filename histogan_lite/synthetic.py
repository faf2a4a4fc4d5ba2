"""Synthetic H&E teaching data: patches with known ground truth, and demo whole-slide images.

**Synthetic teaching data, not patient data.** Every image made here is drawn by a program from the
distributions documented below. It stands in for CAMELYON16/17 (paper section 2) so that the book runs
offline, on a CPU, in CI. Because the renderer knows the truth of every patch, later chapters can
*measure* what the paper could only look at (did an edit add a lumen? did class inversion create
tumour morphology?).

What the two classes stand for (told apart by morphology, not by colour)
-----------------------------------------------------------------------
* **negative (label 0), lymph node**: dense, small (radius 2.9-3.5 um), round lymphocyte nuclei with
  even chromatin and scant cytoplasm on a pink parenchyma.
* **positive (label 1), metastatic breast carcinoma**: cohesive clusters of large (radius 4.5-6.5 um),
  irregular, pleomorphic nuclei, vesicular (chromatin along the nuclear rim) with a dark nucleolus,
  each inside abundant pink cytoplasm with faint cell borders; clusters separated from pink fibrous
  stroma by a thin retraction cleft; sparse lymphocytes and spindle-shaped fibroblast nuclei in the
  stroma; sometimes a gland lumen lined by tumour cells.

The stain amounts are balanced so that the two classes have about the same mean colour (renderer
version 10, 11 adds annotation overshoots): what separates them is nuclear size, shape, chromatin, nucleoli, cohesion and lumens
lined by tumour cells, while stain vectors, stain strengths, brightness, contrast and focus vary per
patch and per centre by more than the class colour difference (``tests/test_synthetic.py`` checks it;
``benchmarks/bench_demo_task.py`` measures that a colour-histogram classifier stays near chance).

Hard cases (column ``case``; a share ``0.6 * difficulty`` of each class, the kinds equally likely)
------------------------------------------------------------------------------------------------
* positive ``border``: a lesion border; a half-plane covering ``0.45 - 0.3 * difficulty * u`` of the
  field is tumour, the rest lymph node, so tumour cells are a minority (``tumour_fraction`` < 0.5).
  A share ``0.6 * difficulty`` of them are **annotation overshoots**: the loosely drawn lesion polygon
  covers the patch but the tumour does not reach it, so the patch is labelled positive and shows lymph
  node only (``tumour_fraction`` 0, no lumen). This is label noise no classifier can remove, as at the
  borders of real CAMELYON annotations drawn at low magnification; it is what keeps real-to-real
  accuracy below ~0.96 however much data a classifier sees (the paper's 0.85-0.91, Tables 2-3), about
  ``0.09 * difficulty**2`` of all patches (3 % at the default).
* positive ``itc``: isolated tumour cells; one to a few tumour cells (a disc of radius 10-14 um)
  among lymphocytes.
* negative ``histiocytes``: a sinus of large reactive histiocytes (oval or bean-shaped nuclei of radius
  3.8-4.8 um, fine pale chromatin, no prominent nucleolus, pale foamy cytoplasm) next to lymphocytes.
* negative ``fat``: adipocytes (empty polygonal cells about 30 um across with thin pink membranes)
  over 40-95 % of the field.
* negative ``capsule``: dense pink collagen with sparse spindle nuclei over 35-85 % of the field.
* negative ``glass``: the edge of the section; at most 30 % tissue, the rest empty glass.

``difficulty`` in [0, 1] (default ``DEFAULT_DIFFICULTY``) scales the share of hard cases, how small
the tumour share at a border gets, the colour variation (stain-vector jitter sd ``0.03 + 0.04 d``,
stain strengths x[1 - w, 1 + w] with ``w = 0.1 + 0.35 d``, brightness +-(12 + 18 d) grey levels,
contrast 1 +- (0.15 + 0.2 d)) and the blur (Gaussian sigma uniform in [0, 1.2 d] um). Difficulty 0
gives only typical patches with the mild colour variation of renderer version 9.

What it does **not** model: real tissue architecture (follicles, germinal centres, vessels with red
cells), mitoses, necrosis, tissue folds, pen marks, JPEG artefacts of real scanners, and the long tail
of real stain variation. A classifier that works here proves nothing about patients.

Geometry (a patch is a 64 x 64 um field of view at any pixel size), nucleus shapes and the Beer-Lambert
colour model are documented in :mod:`histogan_lite.render`, the renderer this module drives.

Attribute distributions (one independent draw per patch)
--------------------------------------------------------
* ``label``: given, or, with ``label=None``, interleaved: even indices negative, odd positive
  (``truth.label`` is authoritative).
* ``lumen``: Bernoulli(0.3), independent of the label. Centre uniform in [0.3, 0.7] of the patch side,
  radius uniform in [0.12, 0.22] of the patch side (7.7-14 um). In a negative it stands for a vessel or
  sinus (clear space with a thin pink wall); in a positive for a gland lumen (tubular formation) lined
  by a ring of tumour cells. Pixels inside are near-white.
* ``centre``: the "scanning centre", uniform in {0, ..., 4} (CAMELYON17 had five centres). Each centre
  has its own hematoxylin and eosin vectors (``CENTRE_STAINS``: Macenko et al.'s reference vectors
  rotated by a few degrees) and mean stain strengths; each patch adds Gaussian jitter (sd 0.03 per OD
  component at difficulty 0, then renormalised) and strength jitter (uniform x[0.9, 1.1] at
  difficulty 0; wider with difficulty, see above).
* ``brightness``: uniform in [-12, 12] grey levels; ``contrast``: uniform in [0.85, 1.15] (at
  difficulty 0; wider with difficulty). Applied last, white-preserving:
  ``I' = clip(255 - contrast * (255 - I) + brightness, 0, 255)``. Blur is applied to the stain
  concentrations before Beer-Lambert.
* Within a patch: lymphocyte radius ``r0`` uniform 2.9-3.5 um, elongation 1-1.15, present in 93 % of
  grid cells of a negative; tumour-cell ``r0`` uniform 4.5-6.5 um, elongation 1-1.3, harmonics
  ``a2`` up to 0.15 and ``a3c``, ``a3s`` up to +-0.11, present where the cluster field (smooth value
  noise on a 30 um lattice) exceeds its threshold (about 70 % of a positive patch).

Demo whole-slide images
-----------------------
:func:`make_demo_slide` draws slides with the same cells in one global plane (tiles are seamless; see
:mod:`histogan_lite.synthetic_slides` for the layout, the ASAP XML and the pyramid). :func:`demo_slides`
caches them under ``data_dir()/demo`` and regenerates them when ``GENERATOR_VERSION`` changes. One stain,
brightness and contrast per slide (one scanning centre).

Where things live: the pixels in :mod:`histogan_lite.render`, the slides in
:mod:`histogan_lite.synthetic_slides`; this module draws every attribute (``DEFAULT_DIFFICULTY`` is the
one knob), makes patches, slides and their cache, and re-exports the names chapters and tests use.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

# The renderer and the slides have their own modules; the names chapters and tests use stay importable here.
from .render import (  # noqa: F401 (re-exported; the private ones for the tests of the renderer)
    _GEOM_ALL, _GEOM_DISC, _GEOM_HALF, _GEOM_NONE, _LYMPH, _TUMOUR, CENTRE_STAINS, PATCH_FIELD_UM,
    REFERENCE_STAINS, _Cells, _patch_key, _region, _render, _value_noise, _value_noise_points, stain_od)
from .synthetic_slides import (  # noqa: F401 (re-exported)
    MASK_DOWNSAMPLE, MASK_GLASS, MASK_NORMAL, MASK_TUMOUR, SLIDE_DOWNSAMPLES, SLIDE_MPP, SLIDE_SIZES, SLIDE_TILE,
    DemoSlides, _demo_paths, _downsample2, _render_band, _upsample2, asap_xml, demo_data_dir, demo_slide_layout,
    label_mask, write_demo_slide)
from .utils import atomic_write_bytes, atomic_write_text

__all__ = [
    "GENERATOR_VERSION",
    "PATCH_FIELD_UM",
    "REFERENCE_STAINS",
    "CENTRE_STAINS",
    "SLIDE_MPP",
    "SLIDE_DOWNSAMPLES",
    "MASK_DOWNSAMPLE",
    "DemoSlides",
    "make_patches",
    "DEFAULT_DIFFICULTY",
    "CASES",
    "POSITIVE_CASES",
    "NEGATIVE_CASES",
    "stain_od",
    "demo_slide_layout",
    "asap_xml",
    "label_mask",
    "make_demo_slide",
    "make_demo_slides",
    "demo_data_dir",
    "demo_slides",
    "write_patch_set",
    "plot_class_cues",
]

#: Bumped whenever the renderer's output changes; cached demo data is regenerated when it differs.
GENERATOR_VERSION = "11"

# ---------------------------------------------------------------------------------------------
# Attribute distributions of a patch (the renderer's pixel-level parameters live in render.py).
_LUMEN_P = 0.3
_LUMEN_R = (0.12, 0.22)
_LUMEN_C = (0.3, 0.7)
_BRIGHTNESS = (-12.0, 12.0)  # at difficulty 0; the half-width grows by 18 grey levels at difficulty 1
_CONTRAST = (0.85, 1.15)  # at difficulty 0; the half-width grows by 0.2 at difficulty 1
#: Default of ``make_patches(difficulty=...)``, chosen with ``benchmarks/bench_demo_task.py``.
DEFAULT_DIFFICULTY = 0.6
#: The cases a patch can show (column ``case`` of the truth table); the first of each class is typical.
CASES = ("typical", "border", "itc", "typical", "histiocytes", "fat", "capsule", "glass")
POSITIVE_CASES = ("typical", "border", "itc")
NEGATIVE_CASES = ("typical", "histiocytes", "fat", "capsule", "glass")
_HARD_FRACTION = 0.6  # share of hard cases at difficulty 1 (times the difficulty)
_OVERSHOOT = 0.6  # share of border positives whose annotation overshoots the lesion (times the difficulty)
_STRENGTH_SPREAD = 0.35  # per-patch stain-strength jitter grows from +-10 % by this times difficulty
_BLUR_UM = 1.2  # Gaussian blur sigma drawn from [0, this * difficulty] um (focus varies per patch)

_ALLOWED_ATTRIBUTES = ("lumen", "centre", "brightness", "contrast", "case", "return_mask")


def _half_plane(rng: np.random.Generator, fraction: float) -> list:
    """A half-plane covering ``fraction`` of the 64 um field (measured on a 32 x 32 grid)."""
    ang = rng.uniform(0, 2 * np.pi)
    g = (np.arange(32) + 0.5) * 2.0 - 32.0
    proj = (g[None, :] * np.cos(ang) + g[:, None] * np.sin(ang)).ravel()
    return [_GEOM_HALF, np.cos(ang), np.sin(ang), float(np.quantile(proj, 1 - fraction))]


def _draw_case(rng: np.random.Generator, label: int, difficulty: float, case: str | None) -> dict:
    """The case of a patch (typical or one of the hard cases) and the geometry of its regions."""
    hard = POSITIVE_CASES[1:] if label == 1 else NEGATIVE_CASES[1:]
    u_hard, u_kind = rng.random(), rng.random()
    frac, disc = rng.random(), rng.uniform(size=3)
    if case is None:
        case = hard[int(u_kind * len(hard))] if u_hard < _HARD_FRACTION * difficulty else "typical"
    allowed = POSITIVE_CASES if label == 1 else NEGATIVE_CASES
    if case not in allowed:
        raise ValueError(f"case {case!r} is not a case of label {label}; allowed: {list(allowed)}")
    tumour = [_GEOM_ALL if label == 1 else _GEOM_NONE, 0, 0, 0]
    tissue, fat = [_GEOM_ALL, 0, 0, 0], [_GEOM_NONE, 0, 0, 0]
    # the harder, the smaller the tumour share at a lesion border
    if case == "border":
        # annotation overshoot: the loosely drawn polygon covers the patch, the lesion does not reach it
        overshoot = disc[0] < _OVERSHOOT * difficulty
        tumour = [_GEOM_NONE, 0, 0, 0] if overshoot else _half_plane(rng, 0.45 - 0.3 * difficulty * frac)
    elif case == "itc":
        tumour = [_GEOM_DISC, 18 + 28 * disc[0], 18 + 28 * disc[1], 10.0 + 4.0 * disc[2]]
    elif case in ("histiocytes", "capsule"):
        tumour = _half_plane(rng, 0.35 + 0.5 * frac)
    elif case == "fat":
        fat = _half_plane(rng, 0.4 + 0.55 * frac)
    elif case == "glass":
        tissue = _half_plane(rng, 0.3 * frac)
    return dict(case=case, tumour_geom=tumour, tissue_geom=tissue, fat_geom=fat)


def _draw_attributes(seed: int, index: int, label: int, fixed: dict, difficulty: float = DEFAULT_DIFFICULTY) -> dict:
    """Per-patch attributes from the distributions in the module docstring (one RNG per patch)."""
    d = float(difficulty)
    rng = np.random.default_rng([int(seed), int(index), 0x5EED])
    lumen = bool(rng.random() < _LUMEN_P)
    lumen_cx, lumen_cy = rng.uniform(*_LUMEN_C, size=2)
    lumen_r = rng.uniform(*_LUMEN_R)
    centre = int(rng.integers(0, len(CENTRE_STAINS)))
    jh, je = rng.normal(0, 0.03 + 0.04 * d, size=3), rng.normal(0, 0.03 + 0.04 * d, size=3)
    w = 0.1 + _STRENGTH_SPREAD * d
    sh, se = rng.uniform(1 - w, 1 + w, size=2)
    bw, cw = 12.0 + 18.0 * d, 0.15 + 0.2 * d
    brightness = rng.uniform(-bw, bw)
    contrast = rng.uniform(1 - cw, 1 + cw)
    blur = rng.uniform(0, _BLUR_UM * d)
    geometry = _draw_case(rng, label, d, fixed.get("case"))
    if label == 1 and geometry["tumour_geom"][0] == _GEOM_NONE:
        lumen = False  # an overshoot positive has no tumour, hence no gland lumen lined by tumour cells
    lumen = bool(fixed.get("lumen", lumen))
    centre = int(fixed.get("centre", centre))
    brightness = float(fixed.get("brightness", brightness))
    contrast = float(fixed.get("contrast", contrast))
    vh, ve, mh, me = CENTRE_STAINS[centre]
    vh = np.abs(vh + jh)
    ve = np.abs(ve + je)
    return dict(
        label=label,
        blur=blur,
        **geometry,
        lumen=lumen,
        lumen_cx=lumen_cx,
        lumen_cy=lumen_cy,
        lumen_r=lumen_r,
        centre=centre,
        h=vh / np.linalg.norm(vh),
        e=ve / np.linalg.norm(ve),
        h_scale=mh * sh,
        e_scale=me * se,
        brightness=brightness,
        contrast=contrast,
    )


def _check_attributes(attributes: dict) -> dict:
    unknown = sorted(set(attributes) - set(_ALLOWED_ATTRIBUTES))
    if unknown:
        raise TypeError(f"make_patches got unknown attribute(s) {unknown}; allowed: {list(_ALLOWED_ATTRIBUTES)}")
    fixed = dict(attributes)
    if "lumen" in fixed and not isinstance(fixed["lumen"], (bool, np.bool_)):
        raise ValueError(f"lumen must be True or False, got {fixed['lumen']!r}")
    if "centre" in fixed:
        c = fixed["centre"]
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c < len(CENTRE_STAINS):
            raise ValueError(f"centre must be an integer in [0, {len(CENTRE_STAINS) - 1}], got {c!r}")
    if "brightness" in fixed and not -64 <= float(fixed["brightness"]) <= 64:
        raise ValueError(f"brightness must be in [-64, 64] grey levels, got {fixed['brightness']!r}")
    if "contrast" in fixed and not 0.25 <= float(fixed["contrast"]) <= 2.0:
        raise ValueError(f"contrast must be in [0.25, 2.0], got {fixed['contrast']!r}")
    if "case" in fixed and fixed["case"] not in CASES:
        raise ValueError(f"case must be one of {sorted(set(CASES))}, got {fixed['case']!r}")
    return fixed


def make_patches(n: int, size: int = 64, label: int | None = None, seed: int = 0,
                 difficulty: float = DEFAULT_DIFFICULTY, **attributes):
    """Render synthetic H&E patches of lymph node (negative) and metastatic carcinoma (positive).

    Synthetic teaching data, not patient data (see the module docstring for what each class stands
    for, what is not modelled, and the distribution of every attribute). Patch ``i`` depends only on
    ``(seed, i, label, attributes)``, so ``make_patches(10)[0][:4]`` equals ``make_patches(4)[0]``; a
    patch's tissue is the same at every ``size`` (the field of view is always 64 x 64 um).

    Args:
        n: number of patches, ``n >= 0``.
        size: side in pixels, a multiple of 8 in [32, 512] (the task uses 64, 128 and 256).
        label: 0 (negative), 1 (positive), or None for both classes in equal numbers, interleaved:
            even indices negative, odd indices positive (``truth.label`` is authoritative).
        seed: integer in ``[0, 2**32)``; same seed, same bytes.
        difficulty: number in [0, 1] (default ``DEFAULT_DIFFICULTY``): share of hard cases, colour
            variation and blur, as documented in the module docstring.
        **attributes: fix an attribute for every patch instead of drawing it:
            ``lumen`` (bool), ``centre`` (scanning centre 0-4), ``brightness`` (grey levels),
            ``contrast``, ``case`` (one of ``POSITIVE_CASES`` / ``NEGATIVE_CASES`` of the patch's
            class; ``"typical"`` fits both); and ``return_mask=True`` to also return the
            tumour-cell nucleus mask.

    Returns:
        ``(images, truth)`` or, with ``return_mask=True``, ``(images, truth, masks)``:

        * images: ``uint8`` ``(n, size, size, 3)`` RGB in ``[0, 255]``.
        * truth: ``pandas.DataFrame``, one row per patch, columns ``index``, ``seed``, ``label``
          (0/1), ``lumen`` (bool), ``lumen_x``, ``lumen_y``, ``lumen_r`` (lumen centre and radius in
          pixels of this size; NaN without a lumen), ``centre``, ``stain_h_r``, ``stain_h_g``,
          ``stain_h_b`` and ``stain_e_r``, ``stain_e_g``, ``stain_e_b`` (unit hematoxylin and eosin OD
          vectors), ``stain_h_scale``, ``stain_e_scale`` (stain strengths), ``brightness``,
          ``contrast``, ``nucleus_count`` (nuclei whose centre lies in the patch), ``nucleus_area_mean``
          (their mean area in pixels of this size; 0 when none), ``tumour_nucleus_count``,
          ``histiocyte_count``, ``tumour_fraction`` (tumour-cell nuclei / all nuclei in the patch, in
          [0, 1], 0 for negatives), ``case``, ``blur_um`` (Gaussian sigma in um), ``difficulty``,
          ``size``, ``um_per_px``.
        * masks: ``bool`` ``(n, size, size)``, True on tumour-cell nuclei (all False for negatives).

    Raises:
        ValueError: for a bad ``n``, ``size``, ``label``, ``seed``, ``difficulty`` or attribute value
            (also a ``case`` that is not a case of the patch's class).
        TypeError: for an unknown attribute name.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 32 <= size <= 512 or size % 8:
        raise ValueError(f"size must be a multiple of 8 in [32, 512] pixels (e.g. 64, 128, 256), got {size!r}")
    if label is not None and (isinstance(label, bool) or label not in (0, 1)):
        raise ValueError(f"label must be 0 (negative), 1 (positive) or None (both), got {label!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    if isinstance(difficulty, bool) or not isinstance(difficulty, (int, float, np.integer, np.floating)) or not (
        0.0 <= float(difficulty) <= 1.0
    ):
        raise ValueError(f"difficulty must be a number in [0, 1], got {difficulty!r}")
    fixed = _check_attributes(attributes)
    return_mask = bool(fixed.pop("return_mask", False))
    n, size = int(n), int(size)
    labels = np.array([i % 2 if label is None else label for i in range(n)], dtype=np.int64)
    attrs = [_draw_attributes(seed, i, int(labels[i]), fixed, difficulty) for i in range(n)]
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.zeros((n, size, size), bool)
    stats = {k: np.zeros(n, np.int64) for k in ("nucleus_count", "tumour_nucleus_count", "histiocyte_count")}
    stats["nucleus_area_mean"] = np.zeros(n)
    batch = max(1, 2**16 // (size * size) * 4)
    for start in range(0, n, batch):
        sl = slice(start, min(n, start + batch))
        images[sl], masks[sl], st = _render_batch(seed, np.arange(sl.start, sl.stop), attrs[sl], size)
        for k, v in st.items():
            stats[k][sl] = v
    truth = _truth_table(seed, labels, attrs, stats, size, difficulty)
    if return_mask:
        masks &= labels[:, None, None].astype(bool)
        return images, truth, masks
    return images, truth


def _render_batch(seed: int, idx: np.ndarray, a: list, size: int):
    """Render the patches ``idx`` (attributes ``a``) in one call of :func:`~histogan_lite.render._render`.

    Returns ``(images, masks, stats)``: uint8 ``(B, size, size, 3)``, bool ``(B, size, size)`` and the
    per-patch nucleus counts and mean nucleus area (pixels of this size) of the truth table.
    """
    nb = len(a)
    px_per_um = size / PATCH_FIELD_UM
    pix = (np.arange(size) + 0.5) / px_per_um
    key = _patch_key(seed, idx)
    # lumen (has, centre x, centre y, radius) in um: the drawn fractions times the 64 um field
    lumen = np.array([[float(t["lumen"]), t["lumen_cx"], t["lumen_cy"], t["lumen_r"]] for t in a])
    lumen[:, 1:] *= PATCH_FIELD_UM
    stains = {
        "h": np.stack([t["h"] for t in a]),
        "e": np.stack([t["e"] for t in a]),
        "h_scale": np.array([t["h_scale"] for t in a]),
        "e_scale": np.array([t["e_scale"] for t in a]),
        "brightness": np.array([t["brightness"] for t in a]),
        "contrast": np.array([t["contrast"] for t in a]),
    }
    noise = np.stack(
        [
            np.random.default_rng([seed, int(i), 0xA015E]).standard_normal((2, size, size), dtype=np.float32)
            for i in idx
        ]
    )
    geo = {k: np.array([t[k] for t in a], np.float64) for k in ("tumour_geom", "tissue_geom", "fat_geom")}
    case = np.array([t["case"] for t in a])
    X, Y = pix[None, None, :], pix[None, :, None]
    tumour = _region(geo["tumour_geom"], np.broadcast_to(X, (nb, 1, size)), np.broadcast_to(Y, (nb, size, 1)))
    tissue = _region(geo["tissue_geom"], np.broadcast_to(X, (nb, 1, size)), np.broadcast_to(Y, (nb, size, 1)))
    cases = {
        "solid": (case == "itc") | (case == "histiocytes"),
        "histio": case == "histiocytes",
        "capsule": case == "capsule",
        "blur": np.array([t["blur"] for t in a]) * px_per_um,
    }
    if (case == "fat").any():
        cases["fat"] = _region(geo["fat_geom"], np.broadcast_to(X, (nb, 1, size)), np.broadcast_to(Y, (nb, size, 1)))
        cases["fat_site"] = lambda cx, cy, g=geo["fat_geom"]: _region(g, cx, cy)  # noqa: E731

    def site(cx, cy, g=geo):
        return _region(g["tumour_geom"], cx, cy), _region(g["tissue_geom"], cx, cy)

    zeros = np.zeros(nb)
    img, tm, st = _render(
        key, zeros, zeros, size, px_per_um, tumour, lumen, stains, noise,
        tissue=tissue if (case == "glass").any() else None, site=site, tumour_layer=bool(tumour.any()),
        cases=cases,
    )
    hc = st.get("histiocyte_count", np.zeros(nb, np.int64))
    c = st["lymph_count"] + st["tumour_count"] + hc
    area_px = (st["lymph_area_sum"] + st["tumour_area_sum"] + st.get("histiocyte_area_sum", 0.0)) * px_per_um**2
    return img, tm, {"nucleus_count": c, "tumour_nucleus_count": st["tumour_count"], "histiocyte_count": hc,
                     "nucleus_area_mean": np.where(c > 0, area_px / np.maximum(c, 1), 0.0)}


def _truth_table(seed: int, labels: np.ndarray, attrs: list, stats: dict, size: int, difficulty: float) -> pd.DataFrame:
    """The truth table of :func:`make_patches`, one row per patch (columns documented there)."""
    n = len(labels)
    counts, tcounts = stats["nucleus_count"], stats["tumour_nucleus_count"]
    s = size / PATCH_FIELD_UM
    return pd.DataFrame(
        {
            "index": np.arange(n),
            "seed": np.full(n, seed, dtype=np.int64),
            "label": labels,
            "lumen": np.array([t["lumen"] for t in attrs], dtype=bool),
            "lumen_x": [t["lumen_cx"] * size if t["lumen"] else np.nan for t in attrs],
            "lumen_y": [t["lumen_cy"] * size if t["lumen"] else np.nan for t in attrs],
            "lumen_r": [t["lumen_r"] * size if t["lumen"] else np.nan for t in attrs],
            "centre": np.array([t["centre"] for t in attrs], dtype=np.int64),
            **{f"stain_h_{ch}": [float(t["h"][i]) for t in attrs] for i, ch in enumerate("rgb")},
            **{f"stain_e_{ch}": [float(t["e"][i]) for t in attrs] for i, ch in enumerate("rgb")},
            "stain_h_scale": [float(t["h_scale"]) for t in attrs],
            "stain_e_scale": [float(t["e_scale"]) for t in attrs],
            "brightness": [float(t["brightness"]) for t in attrs],
            "contrast": [float(t["contrast"]) for t in attrs],
            "nucleus_count": counts,
            "nucleus_area_mean": stats["nucleus_area_mean"],
            "tumour_nucleus_count": tcounts,
            "histiocyte_count": stats["histiocyte_count"],
            "tumour_fraction": np.where(counts > 0, tcounts / np.maximum(counts, 1), 0.0),
            "case": [t["case"] for t in attrs],
            "blur_um": [float(t["blur"]) for t in attrs],
            "difficulty": np.full(n, float(difficulty)),
            "size": np.full(n, size, dtype=np.int64),
            "um_per_px": np.full(n, 1.0 / s),
        }
    )


# =============================================================================================
# Demo whole-slide images and their cache
# =============================================================================================
def _slide_stains(seed: int, kind: str) -> dict:
    """One scanning centre and stain, brightness, contrast per slide (drawn as for patches)."""
    a = _draw_attributes(seed, 1_000_003 if kind == "tumor" else 1_000_033, 0, {})
    return {
        "h": a["h"][None],
        "e": a["e"][None],
        "h_scale": np.array([a["h_scale"]]),
        "e_scale": np.array([a["e_scale"]]),
        "brightness": np.array([min(a["brightness"], 0.0)]),  # keep glass white
        "contrast": np.array([a["contrast"]]),
        "centre": a["centre"],
    }


def make_demo_slide(
    path, kind: str = "tumor", seed: int = 0, size: str = "default", overwrite: bool = False, show_progress: bool = True
) -> dict:
    """Write one demo whole-slide image (pyramidal tiled TIFF) and, for a tumour slide, its annotations.

    Synthetic teaching data, not patient data. The tissue is drawn by the same renderer as
    :func:`make_patches` (same cells, stains and scale: 0.25 um per level-0 pixel; rendered at
    0.5 um/px and bilinearly interpolated to level 0, like a scanner's optical blur), seamless across
    tiles. Normal tissue is lymph node; tumour fills the annotated metastases minus the ``_2`` hole.

    Files written (atomically; an existing file raises unless ``overwrite``):

    * ``path`` (``.tif``): 5 levels, downsamples 1, 2, 4, 8, 16 (``SLIDE_DOWNSAMPLES``), each a separate
      tiled page (256 x 256 tiles, JPEG quality 90, RGB), reduced levels with ``subfiletype=1``, so
      OpenSlide's generic-TIFF reader sees every level; resolution tags give 0.25 um/px.
    * for ``kind="tumor"``: ``<stem>.xml`` (ASAP / CAMELYON16 XML, see :func:`asap_xml`) and
      ``<stem>_mask.png``, the ground-truth label mask at level 4 (downsample 16, see :func:`label_mask`):
      0 glass, 1 normal tissue, 2 tumour.

    Args:
        path: output ``.tif`` path.
        kind: ``"tumor"`` or ``"normal"`` (no tumour, no annotation file, like CAMELYON's normals).
        seed: integer seed (outlines, cells, stain).
        size: ``"default"`` (tumour 16384 x 12288, normal 8192 x 6144 level-0 pixels) or ``"small"``
            (a quarter of each side, for tests).
        overwrite: replace existing files.
        show_progress: show a progress bar over the bands of rows.

    Returns:
        dict with ``slide``, ``xml`` and ``mask`` paths (None when not written), ``width``, ``height``,
        ``level_dimensions`` (list of (width, height)), ``centre``, ``seconds``.

    Raises:
        ValueError: for a bad ``kind``, ``size`` or a path not ending in ``.tif``/``.tiff``.
        FileExistsError: when an output exists and ``overwrite`` is False.
    """
    return write_demo_slide(path, kind, seed, size, stains=_slide_stains(seed, kind), renderer_version=GENERATOR_VERSION,
                            overwrite=overwrite, show_progress=show_progress)


def make_demo_slides(
    out_dir, seed: int = 0, size: str = "default", overwrite: bool = False, show_progress: bool = True
) -> DemoSlides:
    """Write the demo slides into ``out_dir``: ``demo_tumor.tif`` + ``.xml`` + ``_mask.png``, ``demo_normal.tif``.

    Synthetic teaching data, not patient data; see :func:`make_demo_slide` for the file formats.

    Args:
        out_dir: folder to write into (created if missing).
        seed: integer seed.
        size: ``"default"`` (tumour slide 16384 x 12288 level-0 pixels, normal 8192 x 6144) or
            ``"small"`` (a quarter of each side, for tests).
        overwrite: replace existing files.
        show_progress: show progress bars.

    Returns:
        :class:`DemoSlides` with the paths written.

    Raises:
        FileExistsError: when a file exists and ``overwrite`` is False.
        ValueError: for a bad ``size``.
    """
    paths = _demo_paths(Path(out_dir))
    paths.folder.mkdir(parents=True, exist_ok=True)
    make_demo_slide(paths.tumor, "tumor", seed, size, overwrite, show_progress)
    make_demo_slide(paths.normal, "normal", seed, size, overwrite, show_progress)
    return paths


def _stamp(size: str, seed: int) -> str:
    return json.dumps({"generator_version": GENERATOR_VERSION, "size": size, "seed": int(seed)}, sort_keys=True)


def demo_slides(size: str = "default", seed: int = 0, show_progress: bool = True, root=None) -> DemoSlides:
    """The demo slides, generated on first use and cached (synthetic teaching data, not patient data).

    The cache folder (:func:`demo_data_dir`) holds a ``VERSION.json`` stamp written after every file is
    complete; when the stamp is missing or names another ``GENERATOR_VERSION``, the slides are
    regenerated (each file is written atomically, so an interrupted run leaves no half-written file).
    A second call with the stamp in place reuses the files without touching them.

    Args:
        size: ``"default"`` (the book's slides; under a minute to generate on one core) or ``"small"``
            (a quarter of each side; a few seconds, for tests).
        seed: integer seed.
        show_progress: show progress bars while generating.
        root: data folder to use instead of :func:`histogan_lite.utils.data_dir` (tests pass a
            temporary folder); the slides go to ``root / "demo" / f"{size}-seed{seed}"``.

    Returns:
        :class:`DemoSlides`.

    Raises:
        ValueError: for an unknown ``size``.
    """
    folder = demo_data_dir(size, seed) if root is None else Path(root) / "demo" / f"{size}-seed{int(seed)}"
    paths = _demo_paths(folder)
    stamp = folder / "VERSION.json"
    files = (paths.tumor, paths.tumor_xml, paths.tumor_mask, paths.normal)
    if stamp.is_file() and stamp.read_text() == _stamp(size, seed) and all(p.is_file() for p in files):
        return paths
    if stamp.exists():
        stamp.unlink()
    make_demo_slides(folder, seed=seed, size=size, overwrite=True, show_progress=show_progress)
    atomic_write_text(stamp, _stamp(size, seed))
    return paths


def write_patch_set(out_dir, n: int = 2000, size: int = 64, seed: int = 0, overwrite: bool = False) -> dict:
    """Write a labelled set of synthetic patches: ``demo_patches_<size>.npz`` and ``.csv``.

    Synthetic teaching data, not patient data. The ``.npz`` holds ``images`` (uint8 ``(n, size, size,
    3)``), ``labels`` (int64 ``(n,)``, 0 negative, 1 positive) and ``masks`` (bool ``(n, size, size)``,
    tumour-cell nuclei); the ``.csv`` is the truth table of :func:`make_patches`.

    Args:
        out_dir: folder to write into.
        n, size, seed: as for :func:`make_patches` (both classes, interleaved).
        overwrite: replace existing files.

    Returns:
        dict with the ``npz`` and ``csv`` paths.

    Raises:
        FileExistsError: when a file exists and ``overwrite`` is False.
    """
    out = Path(out_dir)
    npz, csv = out / f"demo_patches_{size}.npz", out / f"demo_patches_{size}.csv"
    for p in (npz, csv):
        if p.exists() and not overwrite:
            raise FileExistsError(f"{p} already exists; pass overwrite=True to replace it")
    images, truth, masks = make_patches(n, size=size, seed=seed, return_mask=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, images=images, labels=truth["label"].to_numpy(), masks=masks)
    atomic_write_bytes(npz, buf.getvalue(), overwrite=overwrite)
    atomic_write_text(csv, truth.to_csv(index=False), overwrite=overwrite)
    return {"npz": npz, "csv": csv}


# =============================================================================================
# The figure of the Data chapter
# =============================================================================================
def plot_class_cues(seed: int = 0, size: int = 256):
    """Both classes side by side, labelled with the real morphology each visual cue stands for.

    Synthetic teaching data, not patient data. Typical cases at the reference centre (centre 0, no
    brightness or contrast change, difficulty 0). Top row: a negative (lymph node) and a positive
    (metastatic carcinoma with a gland lumen, outlined in dashes from the truth table) patch. Bottom
    row: 4x zooms on a lymphocyte field and on one tumour cell, the tumour-cell nucleus mask of the
    ground truth outlined in yellow.

    Args:
        seed: seed of the two patches.
        size: patch side in pixels (64, 128 or 256; the field of view is 64 um either way).

    Returns:
        The matplotlib ``Figure`` (2 x 2 axes).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle

    typical = dict(case="typical", centre=0, brightness=0.0, contrast=1.0, difficulty=0.0)
    neg, tn = make_patches(1, size=size, label=0, seed=seed, lumen=False, **typical)
    pos, tp, mask = make_patches(1, size=size, label=1, seed=seed + 1, lumen=True, return_mask=True, **typical)
    upp = PATCH_FIELD_UM / size
    fig, axes = plt.subplots(2, 2, figsize=(10, 10.5))
    extent = (0, PATCH_FIELD_UM, PATCH_FIELD_UM, 0)
    axes[0, 0].imshow(neg[0], extent=extent)
    axes[0, 0].set_title(
        "negative: lymph node\ndense, small, round lymphocyte nuclei;\nscant cytoplasm", fontsize=10
    )
    axes[0, 1].imshow(pos[0], extent=extent)
    axes[0, 1].set_title(
        "positive: metastatic breast carcinoma\ncohesive clusters, large pleomorphic nuclei,\n"
        "pink cytoplasm, gland lumen (dashed)",
        fontsize=10,
    )
    row = tp.iloc[0]
    axes[0, 1].add_patch(
        Circle((row.lumen_x * upp, row.lumen_y * upp), row.lumen_r * upp, fill=False, ls="--", color="k", lw=1.2)
    )
    # zoom: 3/8 of each side (24 um) around the largest tumour nucleus / the patch centre
    z = size * 3 // 8
    ys, xs = np.nonzero(mask[0])
    if len(ys):
        from scipy import ndimage

        lab, nlab = ndimage.label(mask[0])
        sizes = ndimage.sum(mask[0], lab, range(1, nlab + 1))
        cy, cx = ndimage.center_of_mass(mask[0], lab, int(np.argmax(sizes)) + 1)
    else:
        cy = cx = size / 2
    y0 = int(np.clip(round(cy) - z // 2, 0, size - z))
    x0 = int(np.clip(round(cx) - z // 2, 0, size - z))
    n0 = size // 2 - z // 2
    axes[1, 0].imshow(neg[0, n0 : n0 + z, n0 : n0 + z], extent=(n0 * upp, (n0 + z) * upp, (n0 + z) * upp, n0 * upp))
    axes[1, 0].set_title("zoom: lymphocytes, nucleus about 6-7 um across,\neven chromatin, no nucleolus", fontsize=10)
    axes[1, 1].imshow(pos[0, y0 : y0 + z, x0 : x0 + z], extent=(x0 * upp, (x0 + z) * upp, (y0 + z) * upp, y0 * upp))
    yy, xx = np.mgrid[y0 : y0 + z, x0 : x0 + z]
    axes[1, 1].contour(
        (xx + 0.5) * upp, (yy + 0.5) * upp, mask[0, y0 : y0 + z, x0 : x0 + z].astype(float), levels=[0.5],
        colors="yellow", linewidths=1.0,
    )
    axes[1, 1].set_title(
        "zoom: tumour cell, nucleus 9-13 um, irregular,\nvesicular (pale, dark rim) with a nucleolus;\n"
        "yellow: ground-truth nucleus mask",
        fontsize=10,
    )
    for ax in axes.ravel():
        ax.set_xlabel("x (um)")
        ax.set_ylabel("y (um)")
    fig.suptitle("Synthetic teaching data, not patient data: the visual cues of each class", fontsize=12)
    fig.tight_layout()
    return fig
