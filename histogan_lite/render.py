"""The demo H&E renderer: cells, stains and pixels of a synthetic field of view.

**Synthetic teaching data, not patient data.** :func:`_render` draws N fields of tissue in one global
plane (micrometres) from attributes already drawn: where tumour, tissue, fat and lumens are, the
stain vectors and strengths, brightness, contrast, blur and a per-pixel noise field. It knows no
distribution of those attributes and no default difficulty: :mod:`histogan_lite.synthetic` draws them
(``make_patches``), and :mod:`histogan_lite.synthetic_slides` tiles the same renderer into demo slides.
Every random choice is a hash of (key, lattice cell, stream), so a cell is the same in every tile and
at every pixel size.

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
"""

from __future__ import annotations

import numpy as np

__all__ = ["PATCH_FIELD_UM", "REFERENCE_STAINS", "CENTRE_STAINS", "stain_od"]

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
_LUMEN_RING_UM = 12.0  # width of the ring of tumour cells lining a gland lumen
# histiocyte nuclei: oval / bean-shaped, fine pale chromatin, no prominent nucleolus (um)
_HISTIO = dict(r0=(3.8, 4.8), e=(1.1, 1.35), a2=0.08, a3=0.1, h=(0.75, 1.0))
_FAT_G = 30.0  # spacing of adipocytes (um)
# background eosin (OD units before the stain strength): node parenchyma, stroma, tumour cytoplasm
_NODE_E, _STROMA_E, _CYTO_E = 0.42, 0.5, 0.42

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

    Long because it paints one field's layers in the order they lie on the glass (clusters and lumens,
    lymphocytes and spindle cells, stroma and clefts, tumour cells or histiocytes, lymphocyte nuclei, fat,
    lumens, tissue edge, blur, Beer-Lambert), each layer reading and writing the same per-pixel
    hematoxylin / eosin maps; pieces would pass a dozen arrays back and forth.
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
        from scipy.ndimage import gaussian_filter  # lazy: scipy.ndimage is slow to import, few patches blur

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
