"""Synthetic H&E teaching data: patches with known ground truth, and demo whole-slide images.

**Synthetic teaching data, not patient data.** Every image made here is drawn by a program from the
distributions documented below. It stands in for CAMELYON16/17 (paper section 2) so that the book runs
offline, on a CPU, in CI. Because the renderer knows the truth of every patch, later chapters can
*measure* what the paper could only look at (did an edit add a lumen? did class inversion create
tumour morphology?).

What the two classes stand for
------------------------------
* **negative (label 0), lymph node**: dense, small (radius 2.8-3.6 um), round, uniformly dark
  lymphocyte nuclei with scant cytoplasm on a pale eosin background; a few spindle-shaped nuclei.
* **positive (label 1), metastatic breast carcinoma**: cohesive clusters of large (radius 4.5-6.5 um),
  irregular, pleomorphic nuclei, pale and vesicular (chromatin along the nuclear rim) with a dark
  nucleolus, each inside abundant pink cytoplasm with faint cell borders; clusters separated from pink
  fibrous stroma by a thin retraction cleft; sparse lymphocytes and spindle-shaped fibroblast nuclei in
  the stroma; sometimes a gland lumen lined by tumour cells.

What it does **not** model: real tissue architecture (follicles, sinuses, capsule, fat, vessels with
red cells), mitoses, necrosis, isolated tumour cells, micrometastases at the border of detection,
out-of-focus regions, tissue folds, pen marks, JPEG artefacts of real scanners, and the long tail of
real stain variation. A classifier that works here proves nothing about patients.

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
  component, then renormalised) and strength jitter (uniform x[0.9, 1.1]).
* ``brightness``: uniform in [-12, 12] grey levels; ``contrast``: uniform in [0.85, 1.15]. Applied last,
  white-preserving: ``I' = clip(255 - contrast * (255 - I) + brightness, 0, 255)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "GENERATOR_VERSION",
    "PATCH_FIELD_UM",
    "REFERENCE_STAINS",
    "CENTRE_STAINS",
    "make_patches",
    "stain_od",
]

#: Bumped whenever the renderer's output changes; cached demo data is regenerated when it differs.
GENERATOR_VERSION = "1"

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
_LYMPH = dict(g=7.0, jitter=0.3, r0=(2.9, 3.5), e=(1.0, 1.15), a2=0.06, a3=0.04, h=(1.9, 2.4))
_SPINDLE = dict(r0=(1.9, 2.2), e=(2.0, 2.3))
_TUMOUR = dict(g=13.0, jitter=0.18, r0=(4.5, 6.5), e=(1.0, 1.3), a2=0.15, a3=0.11, h=(0.5, 0.75))
_CLUSTER_LATTICE_UM = 30.0  # lattice of the value noise that shapes tumour-cell clusters
_CLUSTER_THRESHOLD = 0.36  # cluster where the noise exceeds this (about 70 % of a positive patch)
_LUMEN_P = 0.3
_LUMEN_R = (0.12, 0.22)
_LUMEN_C = (0.3, 0.7)
_BRIGHTNESS = (-12.0, 12.0)
_CONTRAST = (0.85, 1.15)

_ALLOWED_ATTRIBUTES = ("lumen", "centre", "brightness", "contrast", "return_mask")

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
        key[:, None, None], gy0[:, :, None] + np.arange(gh)[None, :, None], gx0[:, :, None] + np.arange(gw)[None, None, :], k
    )
    n = np.arange(len(key))[:, None, None]
    ly, lx = (iy0 - gy0)[:, :, None], (ix0 - gx0)[:, None, :]
    ty, tx = ty[:, :, None], tx[:, None, :]
    top = lat[n, ly, lx] * (1 - tx) + lat[n, ly, lx + 1] * tx
    bot = lat[n, ly + 1, lx] * (1 - tx) + lat[n, ly + 1, lx + 1] * tx
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
            self.spindle_ang = spindle_angle[:, None, None] + 0.25 * (u(14) - 0.5)
        self.r0, self.e, self.ang = r0, e, ang

    def make_spindles(self, is_spindle: np.ndarray) -> None:
        self.r0 = np.where(is_spindle, self.spindle_r0, self.r0)
        self.e = np.where(is_spindle, self.spindle_e, self.e)
        self.ang = np.where(is_spindle, self.spindle_ang, self.ang)
        self.a2 = np.where(is_spindle, 0.0, self.a2)

    def area_um2(self) -> np.ndarray:
        return np.pi * self.r0**2 * (1 + (self.a2**2 + self.a3c**2 + self.a3s**2) / 2)

    def render(self, present, xs, ys, want_uv=False, want_border=False):
        """Per pixel: normalised radius rho of the nearest present nucleus (rho < 1 inside) and its params."""
        n = np.arange(present.shape[0])[:, None, None]
        ia = np.where(present, 1.0 / (self.r0 * self.e), 1e3).astype(np.float32)
        ib = np.where(present, self.e / self.r0, 1e3).astype(np.float32)
        cos, sin = np.cos(self.ang).astype(np.float32), np.sin(self.ang).astype(np.float32)
        X = xs[:, None, :].astype(np.float32)
        Y = ys[:, :, None].astype(np.float32)
        best = None
        for oy in (0, 1):
            ly = (self.ly + oy)[:, :, None]
            for ox in (0, 1):
                lx = (self.lx + ox)[:, None, :]
                idx = (n, ly, lx)
                dx = X - self.cx[idx].astype(np.float32)
                dy = Y - self.cy[idx].astype(np.float32)
                c, s = cos[idx], sin[idx]
                u = (dx * c + dy * s) * ia[idx]
                v = (dy * c - dx * s) * ib[idx]
                q = np.sqrt(u * u + v * v) + np.float32(1e-6)
                cu, sv = u / q, v / q
                f = 1 + self.a2[idx] * (cu * cu - sv * sv)
                f += self.a3c[idx] * cu * (4 * cu * cu - 3) + self.a3s[idx] * sv * (3 - 4 * sv * sv)
                rho = q / f
                vals = {"h": self.h[idx]}
                if want_uv:
                    vals["u"], vals["v"] = u - self.nu[idx], v - self.nv[idx]
                if best is None:
                    best = {"rho": rho, **vals}
                else:
                    closer = rho < best["rho"]
                    best["rho"] = np.where(closer, rho, best["rho"])
                    for name, val in vals.items():
                        best[name] = np.where(closer, val, best[name])
                if want_border:
                    d = np.sqrt(dx * dx + dy * dy)
                    d = np.where(present[idx], d, np.float32(1e3))
                    if "d1" not in best:
                        best["d1"], best["d2"] = d, np.full_like(d, 1e3)
                    else:
                        best["d2"] = np.where(d < best["d1"], best["d1"], np.minimum(best["d2"], d))
                        best["d1"] = np.minimum(best["d1"], d)
        return best

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
):
    """Render N fields of ``size`` px whose top-left corners are at (x0, y0) um in a global plane.

    ``tumour`` (N, H, W) or (N, 1, 1) in [0, 1]: where tumour tissue is; ``lumen`` (N, 4): has, centre
    x, centre y, radius, all in um of the global plane; ``noise`` (N, 2, H, W) standard normal;
    ``tissue`` (N, H, W) in [0, 1] or None (all tissue). Returns (uint8 images, tumour-nucleus mask,
    stats dict of per-field nucleus counts and areas in um^2).
    """
    nb = len(key)
    pix = (np.arange(size, dtype=np.float64) + 0.5) / px_per_um
    xs = x0[:, None] + pix[None, :]  # (N, W) um
    ys = y0[:, None] + pix[None, :]  # (N, H) um
    tumour = np.broadcast_to(np.asarray(tumour, dtype=np.float32), (nb, size, size)) if np.ndim(tumour) == 3 else tumour
    tumour = np.broadcast_to(tumour, (nb, size, size))
    any_tumour = bool(np.any(tumour > 0))

    # lumen geometry (distance of each pixel to the lumen centre, in um)
    has_l = lumen[:, 0] > 0.5
    dlx = xs - lumen[:, 1:2]
    dly = ys - lumen[:, 2:3]
    dl = np.sqrt(dlx[:, None, :] ** 2 + dly[:, :, None] ** 2).astype(np.float32)
    dl = np.where(has_l[:, None, None], dl, np.float32(1e4))
    lum_r = np.where(has_l, lumen[:, 3], 0.0).astype(np.float32)[:, None, None]
    in_lumen = dl < lum_r

    # tumour-cell clusters: thresholded value noise; a ring of cells lines a lumen in tumour
    if any_tumour:
        cluster = _value_noise(key, xs, ys, _CLUSTER_LATTICE_UM, 101)
        ring = (dl >= lum_r) & (dl < lum_r + 0.9 * _TUMOUR["g"])
        cluster = np.where(ring & (tumour > 0.5), np.float32(1.0), cluster)
    else:
        cluster = np.zeros((nb, size, size), np.float32)
    in_cluster = (cluster > _CLUSTER_THRESHOLD) & (tumour > 0.5)

    fibre_angle = np.pi * _hash_u01(key, np.zeros(1), np.zeros(1), 7).astype(np.float64)
    stats = {}

    # --- lymphocyte / stromal-cell layer (everywhere) -----------------------------------------
    lym = _Cells(key, 0, _LYMPH, xs, ys, spindle_angle=fibre_angle)
    t_c = lym.sample(tumour, x0, y0, px_per_um)
    cl_c = lym.sample(in_cluster.astype(np.float32), x0, y0, px_per_um)
    dl_c = np.sqrt((lym.cx - lumen[:, 1, None, None]) ** 2 + (lym.cy - lumen[:, 2, None, None]) ** 2)
    out_of_lumen = ~has_l[:, None, None] | (dl_c > lumen[:, 3, None, None] + 2.0)
    p_lym = (1 - t_c) * 0.93 + t_c * (1 - cl_c) * 0.2
    lym_present = (lym.u_presence < p_lym) & out_of_lumen
    spindle = lym.spindle_u < (1 - t_c) * 0.04 + t_c * 0.45
    lym.make_spindles(spindle)
    if tissue is not None:
        lym_present &= lym.sample(tissue, x0, y0, px_per_um) > 0.5
    lr = lym.render(lym_present, xs, ys)
    counted = lym_present & lym.inside(x0, y0, size / px_per_um)
    stats["lymph_count"] = counted.sum(axis=(1, 2))
    stats["lymph_area_sum"] = (lym.area_um2() * counted).sum(axis=(1, 2))

    edge_l = np.float32(np.mean(_LYMPH["r0"]) * px_per_um)
    a_lym = np.clip((1 - lr["rho"]) * edge_l + 0.5, 0, 1)

    # background: pale node parenchyma / fibrous stroma / tumour cytoplasm
    ch = np.full((nb, size, size), 0.1, np.float32) + 0.03 * noise[:, 0]
    ce = 0.3 + 0.06 * noise[:, 1]
    if any_tumour:
        proj = (xs[:, None, :] * np.cos(fibre_angle)[:, None, None] + ys[:, :, None] * np.sin(fibre_angle)[:, None, None])
        warp = _value_noise(key, xs, ys, 9.0, 102) + 0.5 * _value_noise(key, xs, ys, 3.0, 103)
        fib = 0.5 + 0.5 * np.sin(2 * np.pi * proj / 3.0 + 9.0 * warp)
        stroma_e = (0.5 + 0.16 * fib).astype(np.float32)
        ce = np.where(tumour > 0.5, stroma_e + 0.04 * noise[:, 1], ce)
        # retraction cleft around clusters
        cleft = (cluster > _CLUSTER_THRESHOLD - 0.05) & (cluster <= _CLUSTER_THRESHOLD) & (tumour > 0.5)
        ce = np.where(cleft, ce * 0.25, ce)
        ch = np.where(cleft, ch * 0.3, ch)

    # --- tumour-cell layer (only where tumour) --------------------------------------------------
    tmask = np.zeros((nb, size, size), bool)
    stats["tumour_count"] = np.zeros(nb, np.int64)
    stats["tumour_area_sum"] = np.zeros(nb)
    if any_tumour:
        tum = _Cells(key, 1, _TUMOUR, xs, ys)
        t_c = tum.sample(tumour, x0, y0, px_per_um)
        cl_c = tum.sample(cluster, x0, y0, px_per_um)
        dl_c = np.sqrt((tum.cx - lumen[:, 1, None, None]) ** 2 + (tum.cy - lumen[:, 2, None, None]) ** 2)
        out_of_lumen = ~has_l[:, None, None] | (dl_c > lumen[:, 3, None, None] + 4.0)
        tum_present = (t_c > 0.5) & (cl_c > _CLUSTER_THRESHOLD + 0.03) & (tum.u_presence < 0.97) & out_of_lumen
        if tissue is not None:
            tum_present &= tum.sample(tissue, x0, y0, px_per_um) > 0.5
        tr = tum.render(tum_present, xs, ys, want_uv=True, want_border=True)
        counted = tum_present & tum.inside(x0, y0, size / px_per_um)
        stats["tumour_count"] = counted.sum(axis=(1, 2))
        stats["tumour_area_sum"] = (tum.area_um2() * counted).sum(axis=(1, 2))
        # cytoplasm inside clusters, with faint cell borders (Voronoi edges)
        border = _smoothstep(1.2, 0.0, tr["d2"] - tr["d1"]) * (tr["d2"] < 1e2)
        cyto_e = 0.36 + 0.05 * noise[:, 1] + 0.2 * border
        ce = np.where(in_cluster, cyto_e, ce)
        ch = np.where(in_cluster, 0.16 + 0.03 * noise[:, 0] + 0.1 * border, ch)
        edge_t = np.float32(np.mean(_TUMOUR["r0"]) * px_per_um)
        a_t = np.clip((1 - tr["rho"]) * edge_t + 0.5, 0, 1)
        # vesicular chromatin: pale centre, dark rim, granular texture; a dark nucleolus
        rim = _smoothstep(0.62, 0.95, tr["rho"])
        nuc_h = tr["h"] + 0.7 * rim + 0.15 * noise[:, 0]
        nucleolus = np.sqrt(tr["u"] ** 2 + tr["v"] ** 2) < 0.17
        nuc_h = np.where(nucleolus, nuc_h + 0.9, nuc_h)
        nuc_e = np.where(nucleolus, 0.45, 0.12)
        ch = ch * (1 - a_t) + nuc_h * a_t
        ce = ce * (1 - a_t) + nuc_e * a_t
        tmask = tr["rho"] < 1.0

    # lymphocyte nuclei painted last (they sit on top of stroma, never inside tumour cells)
    lym_h = lr["h"] + 0.06 * noise[:, 0]
    ch = ch * (1 - a_lym) + lym_h * a_lym
    ce = ce * (1 - a_lym) + 0.12 * a_lym
    tmask &= a_lym < 0.5

    # lumen: clear space; a thin pink wall (vessel) or apical edge (gland)
    wall = (dl >= lum_r) & (dl < lum_r + 1.5)
    ce = np.where(wall, np.maximum(ce, 0.55), ce)
    ch = np.where(in_lumen, 0.01, ch)
    ce = np.where(in_lumen, 0.02, ce)
    tmask &= ~in_lumen
    if tissue is not None:
        ch, ce = ch * tissue, ce * tissue
        tmask &= tissue > 0.5

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


def _draw_attributes(seed: int, index: int, label: int, fixed: dict) -> dict:
    """Per-patch attributes from the distributions in the module docstring (one RNG per patch)."""
    rng = np.random.default_rng([int(seed), int(index), 0x5EED])
    lumen = bool(rng.random() < _LUMEN_P)
    lumen_cx, lumen_cy = rng.uniform(*_LUMEN_C, size=2)
    lumen_r = rng.uniform(*_LUMEN_R)
    centre = int(rng.integers(0, len(CENTRE_STAINS)))
    jh, je = rng.normal(0, 0.03, size=3), rng.normal(0, 0.03, size=3)
    sh, se = rng.uniform(0.9, 1.1, size=2)
    brightness = rng.uniform(*_BRIGHTNESS)
    contrast = rng.uniform(*_CONTRAST)
    lumen = bool(fixed.get("lumen", lumen))
    centre = int(fixed.get("centre", centre))
    brightness = float(fixed.get("brightness", brightness))
    contrast = float(fixed.get("contrast", contrast))
    vh, ve, mh, me = CENTRE_STAINS[centre]
    vh = np.abs(vh + jh)
    ve = np.abs(ve + je)
    return dict(
        label=label,
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
    return fixed


def make_patches(n: int, size: int = 64, label: int | None = None, seed: int = 0, **attributes):
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
        **attributes: fix an attribute for every patch instead of drawing it:
            ``lumen`` (bool), ``centre`` (scanning centre 0-4), ``brightness`` (grey levels, drawn
            from [-12, 12]), ``contrast`` (drawn from [0.85, 1.15]); and ``return_mask=True`` to also
            return the tumour-cell nucleus mask.

    Returns:
        ``(images, truth)`` or, with ``return_mask=True``, ``(images, truth, masks)``:

        * images: ``uint8`` ``(n, size, size, 3)`` RGB in ``[0, 255]``.
        * truth: ``pandas.DataFrame``, one row per patch, columns ``index``, ``seed``, ``label``
          (0/1), ``lumen`` (bool), ``lumen_x``, ``lumen_y``, ``lumen_r`` (lumen centre and radius in
          pixels of this size; NaN without a lumen), ``centre``, ``stain_h`` and ``stain_e`` (unit OD
          vectors as 3-tuples R, G, B), ``stain_h_scale``, ``stain_e_scale``, ``brightness``,
          ``contrast``, ``nucleus_count`` (nuclei whose centre lies in the patch), ``nucleus_area_mean``
          (their mean area in pixels of this size; 0 when none), ``tumour_nucleus_count``, ``size``,
          ``um_per_px``.
        * masks: ``bool`` ``(n, size, size)``, True on tumour-cell nuclei (all False for negatives).

    Raises:
        ValueError: for a bad ``n``, ``size``, ``label``, ``seed`` or attribute value.
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
    fixed = _check_attributes(attributes)
    return_mask = bool(fixed.pop("return_mask", False))
    n, size = int(n), int(size)
    px_per_um = size / PATCH_FIELD_UM

    labels = np.array([i % 2 if label is None else label for i in range(n)], dtype=np.int64)
    attrs = [_draw_attributes(seed, i, int(labels[i]), fixed) for i in range(n)]
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.zeros((n, size, size), bool)
    counts = np.zeros(n, np.int64)
    tcounts = np.zeros(n, np.int64)
    areas = np.zeros(n)
    batch = max(1, 2**16 // (size * size) * 4)
    for start in range(0, n, batch):
        sl = slice(start, min(n, start + batch))
        a = attrs[sl]
        nb = len(a)
        idx = np.arange(sl.start, sl.stop)
        key = _patch_key(seed, idx)
        lumen = np.array(
            [[float(t["lumen"]), t["lumen_cx"] * PATCH_FIELD_UM, t["lumen_cy"] * PATCH_FIELD_UM, t["lumen_r"] * PATCH_FIELD_UM] for t in a]
        )
        stains = {
            "h": np.stack([t["h"] for t in a]),
            "e": np.stack([t["e"] for t in a]),
            "h_scale": np.array([t["h_scale"] for t in a]),
            "e_scale": np.array([t["e_scale"] for t in a]),
            "brightness": np.array([t["brightness"] for t in a]),
            "contrast": np.array([t["contrast"] for t in a]),
        }
        noise = np.stack(
            [np.random.default_rng([seed, int(i), 0xA015E]).standard_normal((2, size, size), dtype=np.float32) for i in idx]
        )
        tumour = labels[sl].astype(np.float32)[:, None, None]
        zeros = np.zeros(nb)
        img, tm, st = _render(key, zeros, zeros, size, px_per_um, tumour, lumen, stains, noise)
        images[sl], masks[sl] = img, tm
        c = st["lymph_count"] + st["tumour_count"]
        counts[sl] = c
        tcounts[sl] = st["tumour_count"]
        area_px = (st["lymph_area_sum"] + st["tumour_area_sum"]) * px_per_um**2
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
            "stain_h": [tuple(float(v) for v in t["h"]) for t in attrs],
            "stain_e": [tuple(float(v) for v in t["e"]) for t in attrs],
            "stain_h_scale": [float(t["h_scale"]) for t in attrs],
            "stain_e_scale": [float(t["e_scale"]) for t in attrs],
            "brightness": [float(t["brightness"]) for t in attrs],
            "contrast": [float(t["contrast"]) for t in attrs],
            "nucleus_count": counts,
            "nucleus_area_mean": areas,
            "tumour_nucleus_count": tcounts,
            "size": np.full(n, size, dtype=np.int64),
            "um_per_px": np.full(n, 1.0 / s),
        }
    )
    if return_mask:
        masks &= labels[:, None, None].astype(bool)
        return images, truth, masks
    return images, truth
