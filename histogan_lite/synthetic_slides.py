"""Demo whole-slide images: layout, ground truth, ASAP annotations and the pyramidal TIFF writer.

**Synthetic teaching data, not patient data.** A demo slide is drawn by the patch renderer
(:mod:`histogan_lite.render`) in one global plane (tiles are seamless): white glass, lymph-node tissue
islands, irregular metastases (ASAP groups ``_0``, ``_1``) with a non-tumour hole (``_2``). Level 0 is
0.25 um/px; pyramid downsamples 1, 2, 4, 8, 16; 256-px JPEG tiles. One stain, brightness and contrast per
slide (one scanning centre), drawn by :mod:`histogan_lite.synthetic`, which is the public face of the demo
data (``synthetic.make_demo_slide``, ``synthetic.demo_slides`` with its cache).

The outlines are written with :func:`histogan_lite.annotations.write_asap_xml` and drawn into the label
mask with :func:`histogan_lite.annotations.rasterize`, the same reader / rasterizer the patch pipeline
uses for CAMELYON's XML. Coordinates are level-0 pixels (x right, y down) unless a name says otherwise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from shapely.geometry import MultiPolygon, Polygon

from .annotations import asap_xml_text, rasterize, write_asap_xml
from .render import _patch_key, _render
from .utils import atomic_path, data_dir, progress

__all__ = [
    "SLIDE_MPP",
    "SLIDE_DOWNSAMPLES",
    "SLIDE_TILE",
    "MASK_DOWNSAMPLE",
    "SLIDE_SIZES",
    "DemoSlides",
    "demo_slide_layout",
    "asap_xml",
    "label_mask",
    "write_demo_slide",
    "demo_data_dir",
]

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
    """ASAP / CAMELYON16 annotation XML for the polygons of a demo slide, in level-0 pixels.

    :func:`histogan_lite.annotations.asap_xml_text` with the demo's comment and ASAP's colours.

    Args:
        annotations: list of ``(group, vertices)``, ``vertices`` an (n, 2) array of (x, y) floats in
            level-0 pixels; groups ``_0`` / ``_1`` are tumour, ``_2`` non-tumour inside tumour.

    Returns:
        The XML text: ``ASAP_Annotations`` > ``Annotations`` > ``Annotation Type="Polygon"
        PartOfGroup=...`` > ``Coordinates`` > ``Coordinate Order X Y``, then the ``AnnotationGroups``
        block that ASAP writes (one ``Group`` per group used).
    """
    return asap_xml_text(_as_polygons(annotations), **_DEMO_XML)


# the demo's XML: a comment saying what it is, ASAP's annotation and group colours
_DEMO_XML = dict(
    comment="histogan-lite demo annotations: synthetic teaching data, not patient data",
    colors={"_0": "#F4FA58", "_1": "#F4FA58", "_2": "#64FE2E"},
    group_colors={"_0": "#FF0000", "_1": "#FF0000", "_2": "#00FF00"},
)


def _as_polygons(annotations: list) -> list:
    return [(group, np.asarray(verts, dtype=float)) for group, verts in annotations]


def _raster(polys: list, shape: tuple[int, int], downsample: float) -> np.ndarray:
    """Union of polygons (level-0 vertices) drawn by :func:`histogan_lite.annotations.rasterize` into a bool
    (H, W) array: each outline filled on its own (even-odd rule, pixel centres), then united."""
    return rasterize(MultiPolygon([Polygon(np.asarray(v, dtype=np.float64)) for v in polys]), shape, downsample)


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
    return np.asarray(Image.fromarray(np.ascontiguousarray(img)).reduce(2))  # box filter, rounded


def _upsample2(img: np.ndarray) -> np.ndarray:
    """Bilinear 2x upsampling (half-pixel centres, edges clamped) of a uint8 (H, W, 3) image.

    torch's uint8 bilinear kernel (within one grey level of float interpolation, ~10x faster).
    """
    import torch  # lazy: torch is heavy, and only slide writing needs it here
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None]
    up = F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)
    return up[0].permute(1, 2, 0).numpy()


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


def write_demo_slide(path, kind: str, seed: int, size: str, *, stains: dict, renderer_version: str,
                     overwrite: bool = False, show_progress: bool = True) -> dict:
    """Write one demo slide with the given slide stains; :func:`histogan_lite.synthetic.make_demo_slide`
    (which draws the stains) documents the files, arguments and errors.

    Args:
        stains: ``h``, ``e`` (1, 3) unit OD vectors, ``h_scale``, ``e_scale``, ``brightness``, ``contrast``
            (1,) arrays and ``centre`` (int), as :func:`histogan_lite.synthetic._slide_stains` draws them.
        renderer_version: recorded in the TIFF description and the mask's PNG text.
    """
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
    desc = (
        f"histogan-lite synthetic demo slide ({kind}); synthetic teaching data, not patient data; "
        f"generator {renderer_version}; seed {seed}; mpp {SLIDE_MPP}"
    )
    _write_pyramid(path, layout, kind, seed, stains, desc, overwrite, show_progress)
    if kind == "tumor":
        write_asap_xml(xml_path, _as_polygons(layout["annotations"]), overwrite=overwrite, **_DEMO_XML)
        info = PngInfo()
        info.add_text("downsample", str(MASK_DOWNSAMPLE))
        info.add_text("values", "0 glass, 1 normal tissue, 2 tumour")
        info.add_text("Description", desc)
        with atomic_path(mask_path, overwrite=overwrite) as tmp:
            Image.fromarray(label_mask(layout, MASK_DOWNSAMPLE)).save(tmp, format="PNG", pnginfo=info)
    w, h = layout["width"], layout["height"]
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


def _write_pyramid(path: Path, layout: dict, kind: str, seed: int, stains: dict, desc: str, overwrite: bool,
                   show_progress: bool) -> None:
    """Render the slide band by band into level 0 of a tiled TIFF, then its reduced levels (2x2 means)."""
    import tifffile  # lazy: only slide writing needs it

    w, h = layout["width"], layout["height"]
    ds = _RENDER_DOWNSAMPLE
    tissue_r = label_mask(layout, ds)
    tumour_r = tissue_r == MASK_TUMOUR
    tissue_r = tissue_r != MASK_GLASS
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


# ---------------------------------------------------------------------------------------------
# Where the demo slides live


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
    if size not in ("default", "small"):
        raise ValueError(f"size must be 'default' or 'small', got {size!r}")
    return data_dir() / "demo" / f"{size}-seed{int(seed)}"
