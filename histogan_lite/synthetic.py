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

Geometry and units
------------------
A patch is a field of view of 64 x 64 um whatever its pixel size: ``size=64`` gives 1 um/px,
``size=256`` gives 0.25 um/px (about the level-0 resolution of a CAMELYON slide scanned at 40x). The
same seed and index give the same tissue at every size. Nuclei sit on a jittered grid (spacing 7.5 um
for lymphocytes, 15 um for tumour cells); their shape is an ellipse (elongation ``e``) modulated by
angular harmonics, ``r(theta) = r0 * (1 + a2 cos 2theta + a3c cos 3theta + a3s sin 3theta)``, whose area
is exactly ``pi r0^2 (1 + (a2^2 + a3c^2 + a3s^2) / 2)``; this is the ``nucleus_area_mean`` of the truth
table (in pixels of the rendered size).

Colour: Beer-Lambert in optical density (OD) space, the model behind scikit-image's HED colour
deconvolution (Ruifrok & Johnston 2001): ``I = 255 * exp(-(c_H * s_H * v_H + c_E * s_E * v_E))`` per RGB
channel, with unit stain vectors ``v_H``, ``v_E`` and concentration maps ``c_H``, ``c_E``.
``skimage.color.rgb2hed`` recovers a high hematoxylin channel on the nuclei.

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
:func:`make_demo_slide` draws slides with the same cells in one global plane (tiles are seamless):
white glass, lymph-node tissue islands, irregular metastases (ASAP groups ``_0``, ``_1``) with a
non-tumour hole (``_2``). Level 0 is 0.25 um/px; pyramid downsamples 1, 2, 4, 8, 16; 256-px JPEG
tiles. :func:`demo_slides` caches them under ``data_dir()/demo`` and regenerates them when
``GENERATOR_VERSION`` changes. One stain, brightness and contrast per slide (one scanning centre).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

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

#: Side of a patch's field of view in micrometres (independent of its pixel size).
PATCH_FIELD_UM = 64.0

#: Reference unit stain vectors in optical density (rows: hematoxylin, eosin; columns: R, G, B),
#: Macenko et al. (2009) reference values used by many stain-normalisation tools.
REFERENCE_STAINS = np.array([[0.5626, 0.7201, 0.4062], [0.2159, 0.8012, 0.5581]])
REFERENCE_STAINS = REFERENCE_STAINS / np.linalg.norm(REFERENCE_STAINS, axis=1, keepdims=True)


def _rotate_toward(v: np.ndarray, target: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate unit vector ``v`` by ``degrees`` in the plane spanned with ``target`` (toward it)."""
    w = target - (target @ v) * v
    w = w / np.linalg.norm(w)
    a = np.deg2rad(degrees)
    return np.cos(a) * v + np.sin(a) * w


_BLUE = np.array([0.9, 0.6, 0.1])  # an OD direction absorbing red more (bluer hematoxylin)
_RED = np.array([0.1, 0.9, 0.9])  # an OD direction absorbing green/blue (purpler eosin)
#: Per scanning centre: (hematoxylin vector, eosin vector, hematoxylin strength, eosin strength).
CENTRE_STAINS = [
    (REFERENCE_STAINS[0], REFERENCE_STAINS[1], 1.00, 1.00),
    (_rotate_toward(REFERENCE_STAINS[0], _BLUE, 6.0), _rotate_toward(REFERENCE_STAINS[1], _RED, 5.0), 1.10, 0.85),
    (_rotate_toward(REFERENCE_STAINS[0], _RED, 5.0), _rotate_toward(REFERENCE_STAINS[1], _BLUE, -4.0), 0.85, 1.15),
    (_rotate_toward(REFERENCE_STAINS[0], _BLUE, -4.0), _rotate_toward(REFERENCE_STAINS[1], _RED, 8.0), 1.20, 1.20),
    (_rotate_toward(REFERENCE_STAINS[0], _RED, -6.0), _rotate_toward(REFERENCE_STAINS[1], _BLUE, 6.0), 0.80, 0.75),
]

# ---------------------------------------------------------------------------------------------
# Cell-layer parameters, in micrometres.
_LYMPH = dict(g=7.0, jitter=0.3, r0=(2.9, 3.5), e=(1.0, 1.15), a2=0.06, a3=0.0, h=(1.0, 1.3))
_SPINDLE = dict(r0=(1.9, 2.2), e=(2.0, 2.3))
_TUMOUR = dict(g=13.0, jitter=0.18, r0=(4.5, 6.5), e=(1.0, 1.3), a2=0.15, a3=0.11, h=(0.8, 1.1))
_CLUSTER_LATTICE_UM = 30.0  # lattice of the value noise that shapes tumour-cell clusters
_CLUSTER_THRESHOLD = 0.36  # cluster where the noise exceeds this (about 70 % of a positive patch)
_LUMEN_P = 0.3
_LUMEN_R = (0.12, 0.22)
_LUMEN_C = (0.3, 0.7)
_LUMEN_RING_UM = 12.0  # width of the ring of tumour cells lining a gland lumen
_BRIGHTNESS = (-12.0, 12.0)  # at difficulty 0; the half-width grows by 18 grey levels at difficulty 1
_CONTRAST = (0.85, 1.15)  # at difficulty 0; the half-width grows by 0.2 at difficulty 1
#: Default of ``make_patches(difficulty=...)``, chosen with ``benchmarks/bench_demo_task.py``.
DEFAULT_DIFFICULTY = 0.6
#: The cases a patch can show (column ``case`` of the truth table); the first of each class is typical.
CASES = ("typical", "border", "itc", "typical", "histiocytes", "fat", "capsule", "glass")
POSITIVE_CASES = ("typical", "border", "itc")
NEGATIVE_CASES = ("typical", "histiocytes", "fat", "capsule", "glass")
# histiocyte nuclei: oval / bean-shaped, fine pale chromatin, no prominent nucleolus (um)
_HISTIO = dict(r0=(3.8, 4.8), e=(1.1, 1.35), a2=0.08, a3=0.1, h=(0.75, 1.0))
_FAT_G = 30.0  # spacing of adipocytes (um)
_HARD_FRACTION = 0.6  # share of hard cases at difficulty 1 (times the difficulty)
_OVERSHOOT = 0.6  # share of border positives whose annotation overshoots the lesion (times the difficulty)
_STRENGTH_SPREAD = 0.35  # per-patch stain-strength jitter grows from +-10 % by this times difficulty
_BLUR_UM = 1.2  # Gaussian blur sigma drawn from [0, this * difficulty] um (focus varies per patch)
# background eosin (OD units before the stain strength): node parenchyma, stroma, tumour cytoplasm
_NODE_E, _STROMA_E, _CYTO_E = 0.42, 0.5, 0.42

_ALLOWED_ATTRIBUTES = ("lumen", "centre", "brightness", "contrast", "case", "return_mask")

# splitmix64 constants
_C1 = np.uint64(0x9E3779B97F4A7C15)
_C2 = np.uint64(0xBF58476D1CE4E5B9)
_C3 = np.uint64(0x94D049BB133111EB)
_C4 = np.uint64(0xD6E8FEB86659FD93)


def _mix64(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrap-around arithmetic)."""
    h = h ^ (h >> np.uint64(30))
    h = h * _C2
    h = h ^ (h >> np.uint64(27))
    h = h * _C3
    return h ^ (h >> np.uint64(31))


def _hash_u01(key: np.ndarray, iy: np.ndarray, ix: np.ndarray, k: int) -> np.ndarray:
    """Uniform [0, 1) float32 from a hash of (key, lattice row, lattice column, stream k)."""
    with np.errstate(over="ignore"):
        h = key + iy.astype(np.int64).astype(np.uint64) * _C1
        h = _mix64(h)
        h = h + ix.astype(np.int64).astype(np.uint64) * _C4 + np.uint64(k + 1) * _C1
        h = _mix64(h)
    return ((h >> np.uint64(40)).astype(np.float32)) * np.float32(1.0 / 2**24)


def _patch_key(seed: int, index: np.ndarray, salt: int = 0) -> np.ndarray:
    with np.errstate(over="ignore"):
        h = np.uint64(seed) * _C1 + np.uint64(salt) * _C4
        h = _mix64(np.asarray(h + index.astype(np.uint64) * _C3, dtype=np.uint64))
    return h


def stain_od(c_h: np.ndarray, c_e: np.ndarray, v_h: np.ndarray, v_e: np.ndarray) -> np.ndarray:
    """Optical density from stain concentrations (Beer-Lambert, as in colour deconvolution).

    Args:
        c_h, c_e: hematoxylin and eosin concentrations, float arrays ``(N, H, W)`` (OD units along
            the unit stain vector, already multiplied by the stain strength).
        v_h, v_e: unit stain vectors ``(N, 3)`` in OD space (columns R, G, B).

    Returns:
        float32 OD ``(N, H, W, 3)``; the RGB image is ``255 * exp(-OD)``.
    """
    return c_h[..., None] * v_h[:, None, None, :].astype(np.float32) + c_e[..., None] * v_e[:, None, None, :].astype(
        np.float32
    )


def _value_noise(key: np.ndarray, xs: np.ndarray, ys: np.ndarray, lattice: float, k: int) -> np.ndarray:
    """Smooth value noise in [0, 1): ``key`` (N,), ``xs`` (N, W) and ``ys`` (N, H) in micrometres."""
    fx, fy = xs / lattice, ys / lattice
    ix0, iy0 = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
    tx, ty = (fx - ix0).astype(np.float32), (fy - iy0).astype(np.float32)
    tx, ty = tx * tx * (3 - 2 * tx), ty * ty * (3 - 2 * ty)
    gx0, gy0 = ix0[:, :1], iy0[:, :1]
    gw, gh = int((ix0 - gx0).max()) + 2, int((iy0 - gy0).max()) + 2
    lat = _hash_u01(
        key[:, None, None],
        gy0[:, :, None] + np.arange(gh)[None, :, None],
        gx0[:, :, None] + np.arange(gw)[None, None, :],
        k,
    )
    n = np.arange(len(key))[:, None, None]
    ly, lx = (iy0 - gy0)[:, :, None], (ix0 - gx0)[:, None, :]
    ty, tx = ty[:, :, None], tx[:, None, :]
    top = lat[n, ly, lx] * (1 - tx) + lat[n, ly, lx + 1] * tx
    bot = lat[n, ly + 1, lx] * (1 - tx) + lat[n, ly + 1, lx + 1] * tx
    return top * (1 - ty) + bot * ty


def _value_noise_points(key: np.ndarray, x: np.ndarray, y: np.ndarray, lattice: float, k: int) -> np.ndarray:
    """The same value noise as :func:`_value_noise`, at arbitrary points ``x``, ``y`` (N, ...) in um."""
    kk = key.reshape((-1,) + (1,) * (x.ndim - 1))
    fx, fy = x / lattice, y / lattice
    ix, iy = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
    tx, ty = (fx - ix).astype(np.float32), (fy - iy).astype(np.float32)
    tx, ty = tx * tx * (3 - 2 * tx), ty * ty * (3 - 2 * ty)
    top = _hash_u01(kk, iy, ix, k) * (1 - tx) + _hash_u01(kk, iy, ix + 1, k) * tx
    bot = _hash_u01(kk, iy + 1, ix, k) * (1 - tx) + _hash_u01(kk, iy + 1, ix + 1, k) * tx
    return top * (1 - ty) + bot * ty


class _Cells:
    """Nuclei of one cell layer on a jittered grid: per-cell parameters, arrays (N, Gy, Gx)."""

    def __init__(self, key, layer, spec, xs, ys, spindle_angle=None):
        g, jit = spec["g"], spec["jitter"]
        self.g = g
        # candidate cells for a pixel at x: floor(x / g - 0.5) + {0, 1}
        bx = np.floor(xs / g - 0.5).astype(np.int64)
        by = np.floor(ys / g - 0.5).astype(np.int64)
        self.gx0, self.gy0 = bx[:, :1], by[:, :1]
        self.lx, self.ly = bx - self.gx0, by - self.gy0  # (N, W), (N, H) local indices
        gw, gh = int(self.lx.max()) + 2, int(self.ly.max()) + 2
        iy = self.gy0[:, :, None] + np.arange(gh)[None, :, None]
        ix = self.gx0[:, :, None] + np.arange(gw)[None, None, :]
        kk = key[:, None, None]
        u = lambda s: _hash_u01(kk, iy, ix, 16 * layer + s)  # noqa: E731
        self.iy, self.ix = iy, ix
        self.cx = (ix + 0.5 + (u(0) - 0.5) * 2 * jit) * g
        self.cy = (iy + 0.5 + (u(1) - 0.5) * 2 * jit) * g
        self.u_presence = u(2)
        r0 = spec["r0"][0] + (spec["r0"][1] - spec["r0"][0]) * u(3)
        e = spec["e"][0] + (spec["e"][1] - spec["e"][0]) * u(4)
        ang = np.pi * u(5)
        self.a2 = spec["a2"] * u(6)
        self.a3c = spec["a3"] * (2 * u(7) - 1)
        self.a3s = spec["a3"] * (2 * u(8) - 1)
        self.h = spec["h"][0] + (spec["h"][1] - spec["h"][0]) * u(9)
        self.nu = 0.35 * (2 * u(10) - 1)
        self.nv = 0.35 * (2 * u(11) - 1)
        if spindle_angle is not None:
            self.spindle_u = u(12)
            self.spindle_r0 = _SPINDLE["r0"][0] + (_SPINDLE["r0"][1] - _SPINDLE["r0"][0]) * u(13)
            self.spindle_e = _SPINDLE["e"][0] + (_SPINDLE["e"][1] - _SPINDLE["e"][0]) * u(13)
            self.spindle_jitter = u(14) - 0.5
            self.spindle_ang = spindle_angle[:, None, None]
        self.r0, self.e, self.ang = r0, e, ang

    def make_spindles(self, is_spindle: np.ndarray, aligned: np.ndarray) -> None:
        """Turn cells into spindle (fibroblast-like) nuclei; ``aligned`` in [0, 1]: 1 follows the
        stroma's fibres (+-7 degrees), 0 points anywhere."""
        spread = np.pi * (1 - aligned) + 0.25 * aligned
        self.spindle_ang = self.spindle_ang + spread * self.spindle_jitter
        self.r0 = np.where(is_spindle, self.spindle_r0, self.r0)
        self.e = np.where(is_spindle, self.spindle_e, self.e)
        self.ang = np.where(is_spindle, self.spindle_ang, self.ang)
        self.a2 = np.where(is_spindle, 0.0, self.a2)

    def area_um2(self) -> np.ndarray:
        return np.pi * self.r0**2 * (1 + (self.a2**2 + self.a3c**2 + self.a3s**2) / 2)

    def render(self, present, xs, ys, want_uv=False, want_border=False):
        """Per pixel: normalised radius rho of the nearest present nucleus (rho < 1 inside) and its params.

        ``rho = q / f(theta)``: ``q`` the distance to the nucleus centre in the frame where the ellipse is
        the unit circle, ``f`` the harmonic outline, so ``rho < 1`` exactly inside the outline.
        """
        nb, gh, gw = present.shape
        f32 = np.float32
        flat = lambda a: np.ascontiguousarray(a, dtype=f32).ravel()  # noqa: E731
        ia = flat(np.where(present, 1.0 / (self.r0 * self.e), 1e3))
        ib = flat(np.where(present, self.e / self.r0, 1e3))
        cx, cy = flat(self.cx), flat(self.cy)
        cos, sin = flat(np.cos(self.ang)), flat(np.sin(self.ang))
        a2, h = flat(self.a2), flat(self.h)
        harm3 = bool(np.any(self.a3c)) or bool(np.any(self.a3s))
        if harm3:
            a3c, a3s = flat(self.a3c), flat(self.a3s)
        if want_uv:
            nu, nv = flat(self.nu), flat(self.nv)
        if want_border:
            absent = flat(np.where(present, 0.0, 1e3))
        X = xs[:, None, :].astype(f32)
        Y = ys[:, :, None].astype(f32)
        base = (np.arange(nb) * (gh * gw))[:, None, None]
        best = None
        for oy in (0, 1):
            row = base + ((self.ly + oy) * gw)[:, :, None]
            for ox in (0, 1):
                idx = (row + (self.lx + ox)[:, None, :]).astype(np.intp)
                take = lambda a: np.take(a, idx)  # noqa: E731
                dx = X - take(cx)
                dy = Y - take(cy)
                c, s = take(cos), take(sin)
                u = (dx * c + dy * s) * take(ia)
                v = (dy * c - dx * s) * take(ib)
                q2 = u * u + v * v + f32(1e-12)
                q = np.sqrt(q2)
                f = 1 + take(a2) * ((u * u - v * v) / q2)  # cos 2theta
                if harm3:
                    cu, sv = u / q, v / q
                    f += take(a3c) * cu * (4 * cu * cu - 3) + take(a3s) * sv * (3 - 4 * sv * sv)
                rho = q / f
                vals = {"h": take(h)}
                if want_uv:
                    vals["u"], vals["v"] = u - take(nu), v - take(nv)
                if best is None:
                    best = {"rho": rho, **vals}
                else:
                    closer = rho < best["rho"]
                    best["rho"] = np.where(closer, rho, best["rho"])
                    for name, val in vals.items():
                        best[name] = np.where(closer, val, best[name])
                if want_border:
                    d = np.sqrt(dx * dx + dy * dy) + take(absent)
                    if "d1" not in best:
                        best["d1"], best["d2"] = d, np.full_like(d, 1e3)
                    else:
                        best["d2"] = np.where(d < best["d1"], best["d1"], np.minimum(best["d2"], d))
                        best["d1"] = np.minimum(best["d1"], d)
        return best

    def render_nearest(self, present, xs, ys):
        """Like :meth:`render` without ``u``/``v``/borders, about twice as fast: each pixel takes the
        candidate nucleus with the smallest ``distance / r0`` and evaluates only that one's outline
        (overlapping nuclei meet on a slightly different line). Used for the small round lymphocytes.
        """
        nb, gh, gw = present.shape
        f32 = np.float32
        flat = lambda a: np.ascontiguousarray(a, dtype=f32).ravel()  # noqa: E731
        cx, cy = flat(self.cx), flat(self.cy)
        ir2 = flat(np.where(present, 1.0 / self.r0**2, 1e6))
        X = xs[:, None, :].astype(f32)
        Y = ys[:, :, None].astype(f32)
        base = (np.arange(nb) * (gh * gw))[:, None, None]
        best_q = best_i = None
        for oy in (0, 1):
            row = base + ((self.ly + oy) * gw)[:, :, None]
            for ox in (0, 1):
                idx = (row + (self.lx + ox)[:, None, :]).astype(np.int32)
                dx = X - np.take(cx, idx)
                dy = Y - np.take(cy, idx)
                qn = (dx * dx + dy * dy) * np.take(ir2, idx)
                if best_q is None:
                    best_q, best_i = qn, idx
                else:
                    closer = qn < best_q
                    best_q = np.where(closer, qn, best_q)
                    best_i = np.where(closer, idx, best_i)
        take = lambda a: np.take(a, best_i)  # noqa: E731
        ia = flat(np.where(present, 1.0 / (self.r0 * self.e), 1e3))
        ib = flat(np.where(present, self.e / self.r0, 1e3))
        cos, sin = flat(np.cos(self.ang)), flat(np.sin(self.ang))
        dx = X - take(cx)
        dy = Y - take(cy)
        c, s = take(cos), take(sin)
        u = (dx * c + dy * s) * take(ia)
        v = (dy * c - dx * s) * take(ib)
        q2 = u * u + v * v + f32(1e-12)
        f = 1 + take(flat(self.a2)) * ((u * u - v * v) / q2)  # cos 2theta
        return {"rho": np.sqrt(q2) / f, "h": take(flat(self.h))}

    def sample(self, field: np.ndarray, x0: np.ndarray, y0: np.ndarray, px_per_um: float) -> np.ndarray:
        """Value of a per-pixel field (N, H, W) at each cell centre (nearest pixel, clipped)."""
        nn, hh, ww = field.shape
        px = np.clip(np.round((self.cx - x0[:, None, None]) * px_per_um - 0.5), 0, ww - 1).astype(np.int64)
        py = np.clip(np.round((self.cy - y0[:, None, None]) * px_per_um - 0.5), 0, hh - 1).astype(np.int64)
        n = np.arange(field.shape[0])[:, None, None]
        return field[n, py, px]

    def inside(self, x0, y0, field_um):
        """Cells whose centre lies inside the rendered field [x0, x0 + field) x [y0, y0 + field)."""
        x0, y0 = x0[:, None, None], y0[:, None, None]
        return (self.cx >= x0) & (self.cx < x0 + field_um) & (self.cy >= y0) & (self.cy < y0 + field_um)


def _cluster_at(key: np.ndarray, x: np.ndarray, y: np.ndarray, lumen: np.ndarray) -> np.ndarray:
    """Cluster field at points (N, ...) in um: value noise, forced to 1 on the ring lining a lumen."""
    field = _value_noise_points(key, x, y, _CLUSTER_LATTICE_UM, 101)
    sh = (-1,) + (1,) * (x.ndim - 1)
    dl = np.sqrt((x - lumen[:, 1].reshape(sh)) ** 2 + (y - lumen[:, 2].reshape(sh)) ** 2)
    r = lumen[:, 3].reshape(sh)
    ring = (lumen[:, 0].reshape(sh) > 0.5) & (dl >= r) & (dl < r + _LUMEN_RING_UM)
    return np.where(ring, np.float32(1.0), field)


def _smoothstep(a: float, b: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - a) / (b - a), 0, 1)
    return t * t * (3 - 2 * t)


def _render(
    key: np.ndarray,
    x0: np.ndarray,
    y0: np.ndarray,
    size: int,
    px_per_um: float,
    tumour: np.ndarray,
    lumen: np.ndarray,
    stains: dict,
    noise: np.ndarray,
    tissue: np.ndarray | None = None,
    site=None,
    tumour_layer: bool | None = None,
    cases: dict | None = None,
):
    """Render N fields of ``size`` px whose top-left corners are at (x0, y0) um in a global plane.

    ``tumour`` (N, H, W) or (N, 1, 1) in [0, 1]: where tumour tissue is; ``lumen`` (N, 4): has, centre
    x, centre y, radius, all in um of the global plane; ``noise`` (N, 2, H, W) standard normal;
    ``tissue`` (N, H, W) in [0, 1] or None (all tissue). Returns (uint8 images, tumour-nucleus mask,
    stats dict of per-field nucleus counts and areas in um^2). ``site(cx, cy)`` maps cell centres
    (N, Gy, Gx) in um to (tumour, tissue) values at those points, so that cells are chosen the same way
    in neighbouring tiles (seamless); default: the per-field value of ``tumour`` and all tissue.
    ``tumour_layer``: draw the tumour-cell layer (default: when any pixel is tumour; slides also ask
    for it next to tumour so that nuclei crossing a tile edge are not cut).
    ``cases`` (patches only; every entry optional): ``solid`` (N,) bool, the tumour region is one
    cohesive group (isolated tumour cells) instead of thresholded clusters; ``histio`` (N,) bool, the
    cluster cells are sinus histiocytes (benign) among lymphocytes; ``capsule`` (N,) bool, the tumour
    region is collagen without tumour cells; ``fat`` (N, H, W) float 0/1 where adipocytes are, with
    ``fat_site(cx, cy)`` the same at cell centres; ``blur`` (N,) Gaussian sigma in pixels.
    """
    nb = len(key)
    pix = (np.arange(size, dtype=np.float64) + 0.5) / px_per_um
    xs = x0[:, None] + pix[None, :]  # (N, W) um
    ys = y0[:, None] + pix[None, :]  # (N, H) um
    tumour = np.broadcast_to(np.asarray(tumour, dtype=np.float32), (nb, size, size)) if np.ndim(tumour) == 3 else tumour
    tumour = np.broadcast_to(tumour, (nb, size, size))
    any_tumour = bool(np.any(tumour > 0)) if tumour_layer is None else bool(tumour_layer)
    if site is None:
        t_field = tumour[:, :1, :1].astype(np.float32)
        site = lambda cx, cy: (np.broadcast_to(t_field, cx.shape), np.ones(cx.shape, np.float32))  # noqa: E731
    cases = cases or {}
    no = np.zeros(nb, bool)
    solid, histio, capsule = (np.asarray(cases.get(k, no), bool) for k in ("solid", "histio", "capsule"))
    solid3, histio3, capsule3 = solid[:, None, None], histio[:, None, None], capsule[:, None, None]
    fat = cases.get("fat")

    # lumen geometry (distance of each pixel to the lumen centre, in um)
    has_l = lumen[:, 0] > 0.5
    any_lumen = bool(has_l.any())
    lum_r = np.where(has_l, lumen[:, 3], 0.0).astype(np.float32)[:, None, None]
    if any_lumen:
        dlx = (xs - lumen[:, 1:2]).astype(np.float32)
        dly = (ys - lumen[:, 2:3]).astype(np.float32)
        dl = np.sqrt(dlx[:, None, :] ** 2 + dly[:, :, None] ** 2)
        dl = np.where(has_l[:, None, None], dl, np.float32(1e4))
        in_lumen = dl < lum_r

    # tumour-cell clusters: thresholded value noise; a ring of cells lines a lumen in tumour
    if any_tumour:
        cluster = _value_noise(key, xs, ys, _CLUSTER_LATTICE_UM, 101)
        if any_lumen:
            ring = (dl >= lum_r) & (dl < lum_r + _LUMEN_RING_UM)
            cluster = np.where(ring, np.float32(1.0), cluster)
    else:
        cluster = np.zeros((nb, size, size), np.float32)
    in_cluster = ((cluster > _CLUSTER_THRESHOLD) | solid3) & (tumour > 0.5) & ~capsule3

    fibre_angle = np.pi * _hash_u01(key, np.zeros(1), np.zeros(1), 7).astype(np.float64)
    stats = {}

    # --- lymphocyte / stromal-cell layer (everywhere) -----------------------------------------
    lym = _Cells(key, 0, _LYMPH, xs, ys, spindle_angle=fibre_angle)
    t_c, tis_c = site(lym.cx, lym.cy)
    cl_c = (t_c > 0.5) & ((_cluster_at(key, lym.cx, lym.cy, lumen) > _CLUSTER_THRESHOLD) | solid3) & ~capsule3
    dl_c = np.sqrt((lym.cx - lumen[:, 1, None, None]) ** 2 + (lym.cy - lumen[:, 2, None, None]) ** 2)
    out_of_lumen = ~has_l[:, None, None] | (dl_c > lumen[:, 3, None, None] + 2.0)
    # stroma (tumour stroma or capsule collagen): sparse lymphocytes; sinus (histiocytes): dense around
    stroma_c = np.where(histio3 | solid3, 0.0, t_c)
    p_lym = (1 - stroma_c) * 0.93 + stroma_c * (1 - cl_c) * 0.2
    p_lym = np.where((histio3 | solid3) & cl_c, 0.0, p_lym)
    lym_present = (lym.u_presence < p_lym) & out_of_lumen & (tis_c > 0.5)
    if fat is not None:
        lym_present &= cases["fat_site"](lym.cx, lym.cy) < 0.5
    spindle = lym.spindle_u < stroma_c * 0.45  # fibroblast-like spindle nuclei in stroma and capsule
    t_c = stroma_c
    lym.make_spindles(spindle, aligned=t_c)
    lr = lym.render_nearest(lym_present, xs, ys)
    counted = lym_present & lym.inside(x0, y0, size / px_per_um)
    stats["lymph_count"] = counted.sum(axis=(1, 2))
    stats["lymph_area_sum"] = (lym.area_um2() * counted).sum(axis=(1, 2))

    edge_l = np.float32(np.mean(_LYMPH["r0"]) * px_per_um)
    a_lym = np.clip((1 - lr["rho"]) * edge_l + 0.5, 0, 1)

    # background: pale node parenchyma / fibrous stroma / tumour cytoplasm
    ch = np.full((nb, size, size), 0.1, np.float32) + 0.03 * noise[:, 0]
    ce = _NODE_E + 0.06 * noise[:, 1]
    stroma_px = (tumour > 0.5) & ~(histio3 | solid3)
    if any_tumour:
        cos_f, sin_f = np.cos(fibre_angle)[:, None, None], np.sin(fibre_angle)[:, None, None]
        proj = xs[:, None, :] * cos_f + ys[:, :, None] * sin_f
        warp = _value_noise(key, xs, ys, 9.0, 102) + 0.5 * _value_noise(key, xs, ys, 3.0, 103)
        fib = 0.5 + 0.5 * np.sin(2 * np.pi * proj / 3.0 + 9.0 * warp)
        stroma_e = (_STROMA_E + 0.16 * fib + 0.2 * capsule3).astype(np.float32)
        ce = np.where(stroma_px, stroma_e + 0.04 * noise[:, 1], ce)
        # retraction cleft around clusters
        cleft = (cluster > _CLUSTER_THRESHOLD - 0.05) & (cluster <= _CLUSTER_THRESHOLD) & stroma_px & ~capsule3
        ce = np.where(cleft, ce * 0.25, ce)
        ch = np.where(cleft, ch * 0.3, ch)

    # --- tumour-cell layer (only where tumour) --------------------------------------------------
    tmask = np.zeros((nb, size, size), bool)
    stats["tumour_count"] = np.zeros(nb, np.int64)
    stats["tumour_area_sum"] = np.zeros(nb)
    if any_tumour:
        tum = _Cells(key, 1, _TUMOUR, xs, ys)
        if histio.any():  # sinus histiocytes take the tumour cells' places (own size, shape, chromatin)
            u = lambda s: _hash_u01(key[:, None, None], tum.iy, tum.ix, 48 + s)  # noqa: E731
            for s_, name in enumerate(("r0", "e", "h")):
                lo_hi = _HISTIO[name]
                val = lo_hi[0] + (lo_hi[1] - lo_hi[0]) * u(s_)
                setattr(tum, name, np.where(histio3, val, getattr(tum, name)))
            tum.a2 = np.where(histio3, _HISTIO["a2"] * u(7), tum.a2)
            tum.a3c = np.where(histio3, _HISTIO["a3"] * (2 * u(8) - 1), tum.a3c)
            tum.a3s = np.where(histio3, 0.0, tum.a3s)
        t_c, tis_c = site(tum.cx, tum.cy)
        cl_c = _cluster_at(key, tum.cx, tum.cy, lumen)
        dl_c = np.sqrt((tum.cx - lumen[:, 1, None, None]) ** 2 + (tum.cy - lumen[:, 2, None, None]) ** 2)
        out_of_lumen = ~has_l[:, None, None] | (dl_c > lumen[:, 3, None, None] + 4.0)
        in_cl = (cl_c > _CLUSTER_THRESHOLD + 0.03) | solid3
        tum_present = (t_c > 0.5) & in_cl & ((tum.u_presence < 0.97) | solid3) & out_of_lumen & ~capsule3
        tum_present &= tis_c > 0.5
        if fat is not None:
            tum_present &= cases["fat_site"](tum.cx, tum.cy) < 0.5
        tr = tum.render(tum_present, xs, ys, want_uv=True, want_border=True)
        counted = tum_present & tum.inside(x0, y0, size / px_per_um)
        stats["tumour_count"] = np.where(histio, 0, counted.sum(axis=(1, 2)))
        stats["tumour_area_sum"] = np.where(histio, 0.0, (tum.area_um2() * counted).sum(axis=(1, 2)))
        stats["histiocyte_count"] = np.where(histio, counted.sum(axis=(1, 2)), 0)
        stats["histiocyte_area_sum"] = np.where(histio, (tum.area_um2() * counted).sum(axis=(1, 2)), 0.0)
        # cytoplasm inside clusters, with faint cell borders (Voronoi edges)
        border = _smoothstep(1.2, 0.0, tr["d2"] - tr["d1"]) * (tr["d2"] < 1e2)
        # histiocytes: pale, finely vacuolated (foamy) cytoplasm, borders barely visible
        cyto_e = np.where(histio3, 0.24 + 0.08 * noise[:, 1], _CYTO_E + 0.05 * noise[:, 1] + 0.2 * border)
        ce = np.where(in_cluster, cyto_e, ce)
        ch = np.where(in_cluster, 0.2 + 0.03 * noise[:, 0] + 0.1 * border * ~histio3, ch)
        edge_t = np.float32(np.mean(_TUMOUR["r0"]) * px_per_um)
        a_t = np.clip((1 - tr["rho"]) * edge_t + 0.5, 0, 1)
        # tumour: vesicular chromatin (pale centre, dark rim, granular texture) and a dark nucleolus;
        # histiocytes: fine, even chromatin, a thin membrane, no prominent nucleolus
        rim = _smoothstep(0.62, 0.95, tr["rho"])
        nuc_h = tr["h"] + np.where(histio3, 0.25, 0.8) * rim + np.where(histio3, 0.05, 0.15) * noise[:, 0]
        nucleolus = (np.sqrt(tr["u"] ** 2 + tr["v"] ** 2) < 0.17) & ~histio3
        nuc_h = np.where(nucleolus, nuc_h + 0.9, nuc_h)
        nuc_e = np.where(nucleolus, 0.45, 0.12)
        ch = ch * (1 - a_t) + nuc_h * a_t
        ce = ce * (1 - a_t) + nuc_e * a_t
        tmask = (tr["rho"] < 1.0) & ~histio3

    # lymphocyte nuclei painted last (they sit on top of stroma, never inside tumour cells)
    lym_h = lr["h"] * (0.9 + 0.2 * _smoothstep(0.5, 1.0, lr["rho"])) + 0.08 * noise[:, 0]
    ch = ch * (1 - a_lym) + lym_h * a_lym
    ce = ce * (1 - a_lym) + 0.12 * a_lym
    tmask &= a_lym < 0.5

    # adipocytes (fat patches), then lumens on top
    if fat is not None and np.any(fat > 0.5):
        ch, ce = _paint_fat(key, xs, ys, fat, ch, ce, noise)
        tmask &= fat < 0.5
    # lumen: clear space; a thin pink wall (vessel) or apical edge (gland)
    if any_lumen:
        wall = (dl >= lum_r) & (dl < lum_r + 1.5)
        ce = np.where(wall, np.maximum(ce, 0.55), ce)
        ch = np.where(in_lumen, 0.01, ch)
        ce = np.where(in_lumen, 0.02, ce)
        tmask &= ~in_lumen
    if tissue is not None:
        ch, ce = ch * tissue, ce * tissue
        tmask &= tissue > 0.5
    blur = cases.get("blur")
    if blur is not None:
        from scipy.ndimage import gaussian_filter

        for i in np.flatnonzero(blur > 0.05):
            ch[i] = gaussian_filter(ch[i], float(blur[i]), mode="nearest", truncate=3.0)
            ce[i] = gaussian_filter(ce[i], float(blur[i]), mode="nearest", truncate=3.0)

    od = stain_od(
        np.maximum(ch, 0) * stains["h_scale"][:, None, None].astype(np.float32),
        np.maximum(ce, 0) * stains["e_scale"][:, None, None].astype(np.float32),
        stains["h"],
        stains["e"],
    )
    img = 255.0 * np.exp(-od)
    c = stains["contrast"][:, None, None, None].astype(np.float32)
    b = stains["brightness"][:, None, None, None].astype(np.float32)
    img = 255.0 - c * (255.0 - img) + b
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return img, tmask, stats


def _paint_fat(key, xs, ys, fat, ch, ce, noise):
    """Adipocytes where ``fat`` > 0.5: empty (white) polygonal cells, thin pink membranes, and now
    and then a flattened nucleus pressed against a membrane. Only the fat patches are rendered."""
    sel = np.flatnonzero(np.any(fat > 0.5, axis=(1, 2)))
    spec = dict(g=_FAT_G, jitter=0.35, r0=(1.0, 1.0), e=(1.0, 1.0), a2=0.0, a3=0.0, h=(0.0, 0.0))
    cells = _Cells(key[sel], 2, spec, xs[sel], ys[sel])
    r = cells.render(np.ones_like(cells.u_presence, bool), xs[sel], ys[sel], want_border=True)
    gap = r["d2"] - r["d1"]  # 0 on a membrane (Voronoi edge), in um
    membrane = _smoothstep(1.6, 0.3, gap)
    nucleus = (gap < 1.6) & (np.abs(r["d1"] - 0.6 * _FAT_G) < 2.5)
    f = fat[sel] > 0.5
    ch_f = 0.015 + 0.05 * membrane + 0.9 * nucleus * membrane
    ce_f = 0.02 + 0.5 * membrane + 0.03 * noise[sel, 1] * membrane
    ch, ce = ch.copy(), ce.copy()
    ch[sel] = np.where(f, ch_f, ch[sel])
    ce[sel] = np.where(f, ce_f, ce[sel])
    return ch, ce


_GEOM_ALL, _GEOM_HALF, _GEOM_DISC, _GEOM_NONE = 0, 1, 2, 3


def _region(geom: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1.0 inside a patch's region, 0.0 outside; ``geom`` (N, 5): kind, then (cos, sin, offset) of a
    half-plane or (centre x, centre y, radius) of a disc, in um of the 64 um field; x, y (N, ...) um."""
    sh = (-1,) + (1,) * (x.ndim - 1)
    kind = geom[:, 0].reshape(sh)
    a, b, c = (geom[:, k].reshape(sh) for k in (1, 2, 3))
    half = (x - 32.0) * a + (y - 32.0) * b > c
    disc = (x - a) ** 2 + (y - b) ** 2 < c * c
    out = np.where(kind == _GEOM_ALL, True, np.where(kind == _GEOM_HALF, half, (kind == _GEOM_DISC) & disc))
    return out.astype(np.float32)


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
    px_per_um = size / PATCH_FIELD_UM

    labels = np.array([i % 2 if label is None else label for i in range(n)], dtype=np.int64)
    attrs = [_draw_attributes(seed, i, int(labels[i]), fixed, difficulty) for i in range(n)]
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.zeros((n, size, size), bool)
    counts = np.zeros(n, np.int64)
    tcounts = np.zeros(n, np.int64)
    areas = np.zeros(n)
    hcounts = np.zeros(n, np.int64)
    pix = (np.arange(size) + 0.5) / px_per_um
    batch = max(1, 2**16 // (size * size) * 4)
    for start in range(0, n, batch):
        sl = slice(start, min(n, start + batch))
        a = attrs[sl]
        nb = len(a)
        idx = np.arange(sl.start, sl.stop)
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
        images[sl], masks[sl] = img, tm
        hc = st.get("histiocyte_count", np.zeros(nb, np.int64))
        c = st["lymph_count"] + st["tumour_count"] + hc
        counts[sl] = c
        tcounts[sl] = st["tumour_count"]
        hcounts[sl] = hc
        area_px = (st["lymph_area_sum"] + st["tumour_area_sum"] + st.get("histiocyte_area_sum", 0.0)) * px_per_um**2
        areas[sl] = np.where(c > 0, area_px / np.maximum(c, 1), 0.0)

    s = size / PATCH_FIELD_UM
    truth = pd.DataFrame(
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
            "nucleus_area_mean": areas,
            "tumour_nucleus_count": tcounts,
            "histiocyte_count": hcounts,
            "tumour_fraction": np.where(counts > 0, tcounts / np.maximum(counts, 1), 0.0),
            "case": [t["case"] for t in attrs],
            "blur_um": [float(t["blur"]) for t in attrs],
            "difficulty": np.full(n, float(difficulty)),
            "size": np.full(n, size, dtype=np.int64),
            "um_per_px": np.full(n, 1.0 / s),
        }
    )
    if return_mask:
        masks &= labels[:, None, None].astype(bool)
        return images, truth, masks
    return images, truth


# =============================================================================================
# Demo whole-slide images
# =============================================================================================
#: Level-0 resolution of the demo slides (um per pixel), about a 40x scan as in CAMELYON16.
SLIDE_MPP = 0.25
#: Downsample of each pyramid level of a demo slide (level 0 first).
SLIDE_DOWNSAMPLES = (1, 2, 4, 8, 16)
#: Pyramid tile size in pixels.
SLIDE_TILE = 256
#: Downsample (from level 0) of the ground-truth label masks written beside a demo slide (level 4).
MASK_DOWNSAMPLE = 16
#: Values of the ground-truth label mask.
MASK_GLASS, MASK_NORMAL, MASK_TUMOUR = 0, 1, 2
#: Level-0 sizes (width, height) of the demo slides: the default, and the ``small`` variant for tests.
SLIDE_SIZES = {
    "tumor": {"default": (16384, 12288), "small": (4096, 3072)},
    "normal": {"default": (8192, 6144), "small": (2048, 1536)},
}
_RENDER_DOWNSAMPLE = 2  # tissue is rendered at 0.5 um/px and interpolated to level 0 (optical blur)
_BAND = 512  # level-0 rows rendered at a time


def _blob(rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float, n: int = 96, wobble: float = 0.12):
    """An irregular closed outline: an ellipse whose radius is modulated by low angular harmonics.

    Returns a float64 array (n, 2) of (x, y) vertices, counter-clockwise in image coordinates.
    """
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = np.ones(n)
    for k in range(2, 7):
        r += wobble / k * rng.uniform(0.5, 1.0) * np.cos(k * t + rng.uniform(0, 2 * np.pi))
    rot = rng.uniform(-0.3, 0.3)
    x, y = rx * r * np.cos(t), ry * r * np.sin(t)
    return np.stack([cx + x * np.cos(rot) - y * np.sin(rot), cy + x * np.sin(rot) + y * np.cos(rot)], axis=1)


def demo_slide_layout(kind: str = "tumor", seed: int = 0, size: str = "default") -> dict:
    """Geometry of a demo slide: tissue islands and annotation polygons in level-0 pixels.

    The same fractions of the slide are used at every ``size``; the outlines are irregular closed
    polygons (see :func:`_blob`). A tumour slide has a large metastasis (group ``_0``) with a
    non-tumour hole inside it (group ``_2``, as CAMELYON16 annotates exclusions), and a second
    metastasis (group ``_1``) in the other tissue island. Everything stays inside the slide, and the
    right and the corners of the slide stay white glass.

    Args:
        kind: ``"tumor"`` or ``"normal"``.
        seed: integer seed of the outlines.
        size: ``"default"`` or ``"small"`` (see ``SLIDE_SIZES``).

    Returns:
        dict with ``width``, ``height`` (level-0 pixels), ``tissue`` (list of (n, 2) float arrays, x y
        in level-0 pixels) and ``annotations`` (list of ``(group, (n, 2) array)``; empty for normal).

    Raises:
        ValueError: for an unknown ``kind`` or ``size``.
    """
    if kind not in SLIDE_SIZES:
        raise ValueError(f"kind must be one of {sorted(SLIDE_SIZES)}, got {kind!r}")
    if size not in SLIDE_SIZES[kind]:
        raise ValueError(f"size must be one of {sorted(SLIDE_SIZES[kind])}, got {size!r}")
    w, h = SLIDE_SIZES[kind][size]
    rng = np.random.default_rng([int(seed), 0x51DE, 1 if kind == "tumor" else 0])
    clip = lambda p: np.clip(p, [0.02 * w, 0.02 * h], [0.98 * w, 0.98 * h])  # noqa: E731
    if kind == "tumor":
        tissue = [
            clip(_blob(rng, 0.35 * w, 0.5 * h, 0.33 * w, 0.45 * h)),
            clip(_blob(rng, 0.8 * w, 0.5 * h, 0.16 * w, 0.42 * h)),
        ]
        ann = [
            ("_0", _blob(rng, 0.38 * w, 0.46 * h, 0.17 * w, 0.19 * h, wobble=0.18)),
            ("_2", _blob(rng, 0.42 * w, 0.43 * h, 0.045 * w, 0.045 * h, n=48, wobble=0.1)),
            ("_1", _blob(rng, 0.80 * w, 0.62 * h, 0.075 * w, 0.13 * h, wobble=0.18)),
        ]
    else:
        tissue = [clip(_blob(rng, 0.45 * w, 0.5 * h, 0.36 * w, 0.40 * h))]
        ann = []
    return {"kind": kind, "width": w, "height": h, "tissue": tissue, "annotations": ann}


def asap_xml(annotations: list) -> str:
    """ASAP / CAMELYON16 annotation XML for polygons in level-0 pixels.

    Args:
        annotations: list of ``(group, vertices)``, ``vertices`` an (n, 2) array of (x, y) floats in
            level-0 pixels; groups ``_0`` / ``_1`` are tumour, ``_2`` non-tumour inside tumour.

    Returns:
        The XML text: ``ASAP_Annotations`` > ``Annotations`` > ``Annotation Type="Polygon"
        PartOfGroup=...`` > ``Coordinates`` > ``Coordinate Order X Y``, then the ``AnnotationGroups``
        block that ASAP writes (one ``Group`` per group used).
    """
    colors = {"_0": "#F4FA58", "_1": "#F4FA58", "_2": "#64FE2E"}
    group_colors = {"_0": "#FF0000", "_1": "#FF0000", "_2": "#00FF00"}
    lines = [
        '<?xml version="1.0"?>',
        "<!-- histogan-lite demo annotations: synthetic teaching data, not patient data -->",
        "<ASAP_Annotations>",
        "\t<Annotations>",
    ]
    for i, (group, verts) in enumerate(annotations):
        color = colors.get(group, "#F4FA58")
        lines.append(f'\t\t<Annotation Name="Annotation {i}" Type="Polygon" PartOfGroup="{group}" Color="{color}">')
        lines.append("\t\t\t<Coordinates>")
        for j, (x, y) in enumerate(np.asarray(verts, dtype=float)):
            lines.append(f'\t\t\t\t<Coordinate Order="{j}" X="{x:.4f}" Y="{y:.4f}" />')
        lines.append("\t\t\t</Coordinates>")
        lines.append("\t\t</Annotation>")
    lines.append("\t</Annotations>")
    lines.append("\t<AnnotationGroups>")
    for group in sorted({g for g, _ in annotations}):
        lines.append(f'\t\t<Group Name="{group}" PartOfGroup="None" Color="{group_colors.get(group, "#FF0000")}">')
        lines.append("\t\t\t<Attributes />")
        lines.append("\t\t</Group>")
    lines.append("\t</AnnotationGroups>")
    lines.append("</ASAP_Annotations>")
    return "\n".join(lines) + "\n"


def _fill_polygon(verts: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Even-odd scan-line fill: pixel (r, c) is set when its centre (c + 0.5, r + 0.5) is inside.

    ``verts`` (n, 2) are (x, y) in pixel units of the output (pixel c spans [c, c + 1)).
    """
    h, w = shape
    x0, y0 = verts[:, 0], verts[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    rows, xs = [], []
    for a, b, c, d in zip(x0, y0, x1, y1):
        if b == d:
            continue
        lo, hi = min(b, d), max(b, d)
        r = np.arange(max(0, int(np.ceil(lo - 0.5))), min(h, int(np.ceil(hi - 0.5))))  # lo <= r + 0.5 < hi
        if len(r):
            rows.append(r)
            xs.append(a + (r + 0.5 - b) * (c - a) / (d - b))
    out = np.zeros((h, w), bool)
    if not rows:
        return out
    rows, xs = np.concatenate(rows), np.concatenate(xs)
    order = np.lexsort((xs, rows))
    rows, xs = rows[order], xs[order]
    starts, ends = rows[0::2], rows[1::2]
    assert np.array_equal(starts, ends), "polygon edges must cross each row an even number of times"
    c0 = np.clip(np.ceil(xs[0::2] - 0.5), 0, w).astype(np.int64)  # first column whose centre >= x_in
    c1 = np.clip(np.ceil(xs[1::2] - 0.5), 0, w).astype(np.int64)  # first column whose centre >= x_out
    for r, a, b in zip(starts.tolist(), c0.tolist(), c1.tolist()):
        out[r, a:b] = True
    return out


def _raster(polys: list, shape: tuple[int, int], downsample: float) -> np.ndarray:
    """Union of polygons (level-0 vertices) rasterised at ``downsample`` into a bool (H, W) array.

    Pixel (r, c) covers level-0 ``[c * downsample, (c + 1) * downsample)`` horizontally (and likewise
    vertically); it is set when its centre is inside a polygon (even-odd rule).
    """
    out = np.zeros(shape, bool)
    for verts in polys:
        out |= _fill_polygon(np.asarray(verts, dtype=np.float64) / downsample, shape)
    return out


def label_mask(layout: dict, downsample: float = MASK_DOWNSAMPLE) -> np.ndarray:
    """Ground-truth label mask of a demo slide: 0 glass, 1 normal tissue, 2 tumour.

    Args:
        layout: from :func:`demo_slide_layout`.
        downsample: level-0 pixels per mask pixel (default 16, the slide's level 4).

    Returns:
        uint8 array ``(ceil(height / downsample), ceil(width / downsample))``; tumour is
        (``_0`` union ``_1``) minus ``_2``, restricted to tissue.
    """
    shape = (int(np.ceil(layout["height"] / downsample)), int(np.ceil(layout["width"] / downsample)))
    tissue = _raster(layout["tissue"], shape, downsample)
    tumour = _raster([v for g, v in layout["annotations"] if g in ("_0", "_1")], shape, downsample)
    tumour &= ~_raster([v for g, v in layout["annotations"] if g == "_2"], shape, downsample)
    mask = np.where(tissue, MASK_NORMAL, MASK_GLASS).astype(np.uint8)
    mask[tissue & tumour] = MASK_TUMOUR
    return mask


def _downsample2(img: np.ndarray) -> np.ndarray:
    """2 x 2 mean of a uint8 (H, W, 3) image with even H and W."""
    from PIL import Image

    return np.asarray(Image.fromarray(np.ascontiguousarray(img)).reduce(2))  # box filter, rounded


def _upsample2(img: np.ndarray) -> np.ndarray:
    """Bilinear 2x upsampling (half-pixel centres, edges clamped) of a uint8 (H, W, 3) image.

    torch's uint8 bilinear kernel (within one grey level of float interpolation, ~10x faster).
    """
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None]
    up = F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)
    return up[0].permute(1, 2, 0).numpy()


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


def _render_band(key, stains, tissue_r, tumour_r, y0_px, width, noise_bank, batch=2):
    """Render level-0 rows [y0_px, y0_px + _BAND) of a slide as a uint8 (_BAND, width, 3) image.

    Tiles of ``rs + 2`` rendered pixels (one pixel of overlap on every side) are drawn; the band keeps
    one rendered row above and below, so the 2x interpolation to level 0 sees true neighbours across
    band edges (columns are interpolated across the whole band).
    """
    ds = _RENDER_DOWNSAMPLE
    rs = _BAND // ds  # rendered super-tile side in pixels
    ppu = 1.0 / (SLIDE_MPP * ds)  # rendered pixels per um
    r0 = y0_px // ds
    hh, ww = tissue_r.shape
    glass = np.clip(255 + stains["brightness"][0], 0, 255).astype(np.uint8)
    band_r = np.full((rs + 2, ww, 3), glass, np.uint8)  # rendered rows r0 - 1 ... r0 + rs
    # masks padded by one pixel, so that tile (r, c) with overlap is pad[r : r + rs + 2, c : c + rs + 2]
    tis_p = np.pad(tissue_r[max(0, r0 - 1) : r0 + rs + 1], ((1 if r0 == 0 else 0, 0), (1, 1)))
    tum_p = np.pad(tumour_r[max(0, r0 - 1) : r0 + rs + 1], ((1 if r0 == 0 else 0, 0), (1, 1)))
    if tis_p.shape[0] < rs + 2:
        extra = rs + 2 - tis_p.shape[0]
        tis_p, tum_p = np.pad(tis_p, ((0, extra), (0, 0))), np.pad(tum_p, ((0, extra), (0, 0)))
    cols = [c for c in range(0, ww, rs) if tis_p[:, c : c + rs + 2].any()]

    def site(cx, cy):
        r = np.clip((cy * ppu).astype(np.int64), 0, hh - 1)
        c = np.clip((cx * ppu).astype(np.int64), 0, ww - 1)
        return tumour_r[r, c].astype(np.float32), tissue_r[r, c].astype(np.float32)

    m = 24  # rendered pixels (12 um): the farthest a tumour nucleus reaches from its cell centre
    with_tumour = [c for c in cols if tumour_r[max(0, r0 - m) : r0 + rs + m, max(0, c - m) : c + rs + m].any()]
    without = [c for c in cols if c not in with_tumour]
    groups = [without[i : i + batch] for i in range(0, len(without), batch)]
    groups += [with_tumour[i : i + batch] for i in range(0, len(with_tumour), batch)]
    for cs in groups:
        nb = len(cs)
        x0 = np.array([(c - 1) / ppu for c in cs])
        y0 = np.full(nb, (r0 - 1) / ppu)
        tis = np.stack([tis_p[:, c : c + rs + 2] for c in cs]).astype(np.float32)
        tum = np.stack([tum_p[:, c : c + rs + 2] for c in cs]).astype(np.float32)
        noise = noise_bank[[(r0 // rs * 7919 + c // rs * 104729) % len(noise_bank) for c in cs]]
        st = {k: np.repeat(v, nb, axis=0) for k, v in stains.items() if k != "centre"}
        img, _, _ = _render(
            np.full(nb, key, np.uint64), x0, y0, rs + 2, ppu, tum, np.zeros((nb, 4)), st, noise, tissue=tis,
            site=site, tumour_layer=cs[0] in with_tumour,
        )
        for c, im in zip(cs, img):
            w = min(rs, ww - c)
            band_r[:, c : c + w] = im[:, 1 : 1 + w]  # a skipped neighbour tile is glass up to its edge
    up = _upsample2(band_r)
    return np.ascontiguousarray(up[2 : 2 + 2 * rs])


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
    import time

    import tifffile
    from PIL import Image

    from .utils import atomic_path, atomic_write_text, progress

    t_start = time.perf_counter()
    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff"):
        raise ValueError(f"path must end in .tif or .tiff, got {str(path)!r}")
    layout = demo_slide_layout(kind, seed, size)
    xml_path = path.with_suffix(".xml") if kind == "tumor" else None
    mask_path = path.with_name(path.stem + "_mask.png") if kind == "tumor" else None
    for p in (path, xml_path, mask_path):
        if p is not None and p.exists() and not overwrite:
            raise FileExistsError(f"{p} already exists; pass overwrite=True to replace it")
    w, h = layout["width"], layout["height"]
    ds = _RENDER_DOWNSAMPLE
    tissue_r = label_mask(layout, ds)
    tumour_r = tissue_r == MASK_TUMOUR
    tissue_r = tissue_r != MASK_GLASS
    stains = _slide_stains(seed, kind)
    key = int(_patch_key(seed, np.array([7 if kind == "tumor" else 8]), salt=0x511DE)[0])
    levels = [np.empty((h // d, w // d, 3), np.uint8) for d in SLIDE_DOWNSAMPLES[1:]]
    rs = _BAND // ds
    # pixel noise of the rendered tiles: a bank of 16 fields, picked per tile (cells stay unique)
    noise_bank = np.random.default_rng([seed, 0xB10C]).standard_normal((16, 2, rs + 2, rs + 2), dtype=np.float32)
    bands = range(0, h, _BAND)
    bar = progress(total=len(bands), desc=f"demo slide {path.name}", disable=not show_progress)

    def tiles():
        for y0 in bands:
            band = _render_band(key, stains, tissue_r, tumour_r, y0, w, noise_bank)
            lv1 = _downsample2(band)
            levels[0][y0 // 2 : y0 // 2 + lv1.shape[0]] = lv1
            for ty in range(0, band.shape[0], SLIDE_TILE):
                for tx in range(0, w, SLIDE_TILE):
                    yield band[ty : ty + SLIDE_TILE, tx : tx + SLIDE_TILE]
            bar.update(1)

    res = 1e4 / SLIDE_MPP  # pixels per centimetre
    desc = (
        f"histogan-lite synthetic demo slide ({kind}); synthetic teaching data, not patient data; "
        f"generator {GENERATOR_VERSION}; seed {seed}; mpp {SLIDE_MPP}"
    )
    common = dict(
        tile=(SLIDE_TILE, SLIDE_TILE), photometric="rgb", compression="jpeg", compressionargs={"level": 90},
        resolutionunit="CENTIMETER", metadata=None, software="histogan-lite",
    )
    with atomic_path(path, overwrite=overwrite) as tmp:
        with tifffile.TiffWriter(tmp, bigtiff=False) as tif:
            tif.write(tiles(), shape=(h, w, 3), dtype=np.uint8, description=desc, resolution=(res, res), **common)
            for k in range(1, len(levels)):
                levels[k] = _downsample2(levels[k - 1])
            for d, lv in zip(SLIDE_DOWNSAMPLES[1:], levels):
                tif.write(lv, subfiletype=1, resolution=(res / d, res / d), **common)
    bar.close()
    if kind == "tumor":
        atomic_write_text(xml_path, asap_xml(layout["annotations"]), overwrite=overwrite)
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("downsample", str(MASK_DOWNSAMPLE))
        info.add_text("values", "0 glass, 1 normal tissue, 2 tumour")
        info.add_text("Description", desc)
        with atomic_path(mask_path, overwrite=overwrite) as tmp:
            Image.fromarray(label_mask(layout, MASK_DOWNSAMPLE)).save(tmp, format="PNG", pnginfo=info)
    return {
        "slide": path,
        "xml": xml_path,
        "mask": mask_path,
        "width": w,
        "height": h,
        "level_dimensions": [(w // d, h // d) for d in SLIDE_DOWNSAMPLES],
        "centre": stains["centre"],
        "seconds": time.perf_counter() - t_start,
    }


# =============================================================================================
# The demo data set: cached slides and a patch set
# =============================================================================================


@dataclass(frozen=True)
class DemoSlides:
    """Paths of the demo slides (synthetic teaching data, not patient data).

    Attributes:
        folder: the folder that holds them.
        tumor: ``demo_tumor.tif``, a pyramidal TIFF with metastases.
        tumor_xml: ``demo_tumor.xml``, its ASAP / CAMELYON16 annotations (groups ``_0``, ``_1``, ``_2``).
        tumor_mask: ``demo_tumor_mask.png``, uint8 label mask at downsample 16 (0 glass, 1 normal,
            2 tumour).
        normal: ``demo_normal.tif``, a slide without tumour and without annotation file.
    """

    folder: Path
    tumor: Path
    tumor_xml: Path
    tumor_mask: Path
    normal: Path

    @property
    def slides(self) -> list[Path]:
        """Both slide paths, tumour slide first."""
        return [self.tumor, self.normal]

    @property
    def annotations(self) -> dict[Path, Path | None]:
        """Slide path -> annotation XML path (None for the normal slide)."""
        return {self.tumor: self.tumor_xml, self.normal: None}


def _demo_paths(folder: Path) -> DemoSlides:
    folder = Path(folder)
    return DemoSlides(
        folder=folder,
        tumor=folder / "demo_tumor.tif",
        tumor_xml=folder / "demo_tumor.xml",
        tumor_mask=folder / "demo_tumor_mask.png",
        normal=folder / "demo_normal.tif",
    )


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


def demo_data_dir(size: str = "default", seed: int = 0) -> Path:
    """The cache folder of the demo slides: ``data_dir() / "demo" / f"{size}-seed{seed}"``.

    ``data_dir()`` is ``$HISTOGAN_DATA`` or a per-user cache folder (:func:`histogan_lite.utils.data_dir`).

    Args:
        size: ``"default"`` or ``"small"``.
        seed: integer seed.

    Returns:
        The folder path (its parent is created; the folder itself may not exist yet).

    Raises:
        ValueError: for an unknown ``size``.
    """
    from .utils import data_dir

    if size not in ("default", "small"):
        raise ValueError(f"size must be 'default' or 'small', got {size!r}")
    return data_dir() / "demo" / f"{size}-seed{int(seed)}"


def _stamp(size: str, seed: int) -> str:
    import json

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
    from .utils import atomic_write_text

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
    import io

    from .utils import atomic_write_bytes, atomic_write_text

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
