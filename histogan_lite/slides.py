"""Whole-slide images (WSI): open with OpenSlide, read regions, thumbnails (paper section 2).

A WSI is a pyramid: level 0 is the full scan (CAMELYON: about 0.24 micrometre per pixel, 40x), and
each level ``k > 0`` is a smaller copy, ``level_downsamples[k]`` times coarser. The paper cuts its
256x256 patches at levels 0 and 1.

Coordinate frames, as in OpenSlide's own API:

* a **location** is always in level-0 pixels ``(x, y)`` (x to the right, y down);
* a **size** is in pixels of the level being read ``(width, height)``.

Downsamples are read from the slide (``level_downsamples``), never assumed to be ``2**level``: in real
pyramids a level's size is rounded, so level 2 of a 300x250 slide is 75x62 and its downsample is
4.016, not 4.

Transparent pixels (outside the scanned area, or past the slide's edge; OpenSlide returns RGBA
``(0, 0, 0, 0)`` there) are composited onto white, so glass and "no data" look the same: white, never
black.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = [
    "SlideError",
    "SlideNotFoundError",
    "SlideFormatError",
    "SlideReadError",
    "LevelError",
    "Slide",
    "open_slide",
    "composite_on_white",
]


class SlideError(OSError):
    """Base class for every error about a slide file; the message names the file."""


class SlideNotFoundError(SlideError, FileNotFoundError):
    """The slide file does not exist."""


class SlideFormatError(SlideError, ValueError):
    """The file exists but OpenSlide cannot open it (not a slide, or an unsupported encoding)."""


class SlideReadError(SlideError):
    """The slide opens, but decoding its pixels fails (a corrupt or truncated file)."""


class LevelError(ValueError):
    """A pyramid level that the slide does not have; the message lists the levels it has."""


def composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """Composite RGBA pixels onto a white background.

    Args:
        rgba: ``uint8`` array ``(H, W, 4)``, straight (not premultiplied) alpha, as returned by
            OpenSlide's ``read_region``.

    Returns:
        ``uint8`` array ``(H, W, 3)``: ``rgb * a / 255 + 255 * (1 - a / 255)``, rounded. Fully
        transparent pixels become ``(255, 255, 255)``; opaque pixels keep their colour exactly.
    """
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[-1] != 4 or rgba.dtype != np.uint8:
        raise ValueError(f"rgba must be a uint8 array (H, W, 4), got {rgba.dtype} {rgba.shape}")
    alpha = rgba[..., 3:4]
    rgb = rgba[..., :3]
    if alpha.min() == 255:  # the common case: every pixel opaque
        return np.ascontiguousarray(rgb)
    a = alpha.astype(np.uint32)
    out = (rgb.astype(np.uint32) * a + 255 * (255 - a) + 127) // 255
    return out.astype(np.uint8)


class _TiffTiles:
    """Direct tile access to the pyramid levels of a TIFF-based slide (generic TIFF, Aperio SVS).

    Decodes tiles with tifffile/imagecodecs (which release the GIL and skip OpenSlide's cairo
    compositing), keeps a small cache of decoded tiles, and assembles level-aligned regions. Used
    only for levels whose page matches OpenSlide's level size and only after a self-check that a
    decoded tile equals OpenSlide's pixels.
    """

    CACHE_TILES = 128

    def __init__(self, path: Path, level_dimensions):
        import tifffile

        self.tif = tifffile.TiffFile(str(path))
        self.pages = {}
        for k, (w, h) in enumerate(level_dimensions):
            for page in self.tif.pages:
                if (
                    page.is_tiled and page.imagewidth == w and page.imagelength == h and page.imagedepth == 1
                    and page.samplesperpixel in (3, 4) and page.bitspersample == 8 and page.planarconfig == 1
                    and page.dtype == np.uint8
                ):  # fmt: skip
                    self.pages[k] = page
                    break
        self.cache: dict = {}
        self.checked: set[int] = set()

    def close(self):
        self.tif.close()

    def tile(self, level: int, index: int) -> np.ndarray | None:
        key = (level, index)
        if key in self.cache:
            return self.cache[key]
        page = self.pages[level]
        count = page.databytecounts[index]
        if count == 0:  # sparse TIFF: a missing tile is "no data" (white)
            image = None
        else:
            fh = self.tif.filehandle
            fh.seek(page.dataoffsets[index])
            data = fh.read(count)
            segment, _, _ = page.decode(data, index, jpegtables=getattr(page, "jpegtables", None))
            image = np.asarray(segment).reshape(segment.shape[-3:])[..., :3]
        if len(self.cache) >= self.CACHE_TILES:
            self.cache.pop(next(iter(self.cache)))
        self.cache[key] = image
        return image

    def read(self, level: int, u: int, v: int, w: int, h: int) -> np.ndarray:
        """Level-k pixels ``[v, v+h) x [u, u+w)`` as ``uint8 (h, w, 3)``; outside the level is white."""
        page = self.pages[level]
        tw, th = page.tilewidth, page.tilelength
        width, height = page.imagewidth, page.imagelength
        across = -(-width // tw)
        out = np.full((h, w, 3), 255, dtype=np.uint8)
        x0, y0 = max(u, 0), max(v, 0)
        x1, y1 = min(u + w, width), min(v + h, height)
        if x0 >= x1 or y0 >= y1:
            return out
        for ty in range(y0 // th, (y1 - 1) // th + 1):
            for tx in range(x0 // tw, (x1 - 1) // tw + 1):
                tile = self.tile(level, ty * across + tx)
                if tile is None:
                    continue
                # overlap of this tile with the request, in level-k pixels
                ax0, ay0 = max(x0, tx * tw), max(y0, ty * th)
                ax1, ay1 = min(x1, (tx + 1) * tw, width), min(y1, (ty + 1) * th, height)
                out[ay0 - v : ay1 - v, ax0 - u : ax1 - u] = tile[ay0 - ty * th : ay1 - ty * th, ax0 - tx * tw : ax1 - tx * tw]
        return out


class Slide:
    """A whole-slide image opened with OpenSlide, read in level-0 locations and level-k sizes.

    The object is picklable: it stores the path and the pyramid geometry, and opens the OpenSlide
    handle lazily on first pixel access, so each ``torch`` DataLoader worker or process-pool worker
    opens its own handle (OpenSlide handles cannot cross processes).

    Args:
        path: a slide file OpenSlide can read (Aperio ``.svs``, generic tiled ``.tif``/``.tiff``,
            Hamamatsu, MIRAX, ...).

    Raises:
        SlideNotFoundError: ``path`` does not exist.
        SlideFormatError: the file is not a slide OpenSlide can open (message names the file and
            OpenSlide's reason).

    Attributes:
        path: absolute ``Path`` of the file.
        name: file name without its extension (used as the slide id in manifests).
        level_count: number of pyramid levels.
        level_dimensions: tuple of ``(width, height)`` per level, in that level's pixels.
        level_downsamples: tuple of floats, level-0 pixels per level-k pixel (1.0 for level 0).
        properties: dict of the slide's metadata (``openslide.mpp-x`` etc.).
    """

    def __init__(self, path: str | os.PathLike):
        path = Path(path).expanduser()
        if not path.exists():
            raise SlideNotFoundError(f"slide file {str(path)!r} does not exist")
        if path.is_dir():
            raise SlideFormatError(f"slide path {str(path)!r} is a folder, expected a slide file")
        self.path = path.resolve()
        self.name = self.path.stem
        self._handle = None
        self._tiles = None  # None: not yet tried; False: unavailable; else a _TiffTiles
        handle = self._open()
        self.level_count = int(handle.level_count)
        self.level_dimensions = tuple((int(w), int(h)) for w, h in handle.level_dimensions)
        self.level_downsamples = tuple(float(d) for d in handle.level_downsamples)
        self.properties = dict(handle.properties)

    # -- handle management: open lazily, never pickle the handle ------------------------------
    def _open(self):
        if self._handle is None:
            import openslide

            try:
                self._handle = openslide.OpenSlide(str(self.path))
            except openslide.OpenSlideUnsupportedFormatError as exc:
                raise SlideFormatError(
                    f"{str(self.path)!r} is not a slide OpenSlide can read (unsupported or missing image format)"
                ) from exc
            except openslide.OpenSlideError as exc:
                raise SlideFormatError(f"{str(self.path)!r} cannot be opened as a slide: {exc}") from exc
        return self._handle

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_handle"] = None
        state["_tiles"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)

    def close(self) -> None:
        """Close the OpenSlide handle (it reopens on the next read)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._tiles:
            self._tiles.close()
        self._tiles = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"Slide({str(self.path)!r}, levels={self.level_dimensions})"

    # -- geometry -----------------------------------------------------------------------------
    @property
    def dimensions(self) -> tuple[int, int]:
        """Level-0 ``(width, height)`` in pixels."""
        return self.level_dimensions[0]

    @property
    def mpp(self) -> float | None:
        """Micrometres per level-0 pixel (``openslide.mpp-x``), or None when the file does not say."""
        value = self.properties.get("openslide.mpp-x")
        return float(value) if value else None

    def check_level(self, level: int) -> int:
        """Return ``level`` as an int if the slide has it.

        Raises:
            LevelError: naming the file and listing the levels with their sizes and downsamples.
        """
        if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or not 0 <= level < self.level_count:
            have = ", ".join(
                f"{k}: {w}x{h} (downsample {d:g})"
                for k, ((w, h), d) in enumerate(zip(self.level_dimensions, self.level_downsamples))
            )
            raise LevelError(f"level {level!r} does not exist in {self.path.name}; its levels are {have}")
        return int(level)

    def get_best_level_for_downsample(self, downsample: float) -> int:
        """The coarsest level whose downsample is at most ``downsample`` (OpenSlide's rule)."""
        if downsample <= 0:
            raise ValueError(f"downsample must be positive, got {downsample}")
        best = 0
        for k, d in enumerate(self.level_downsamples):
            if d <= downsample + 1e-9:
                best = k
        return best

    # -- pixels -------------------------------------------------------------------------------
    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
        """Read a rectangle of pixels at a pyramid level.

        Args:
            location: ``(x, y)`` of the top-left corner in **level-0** pixels (integers; may lie
                outside the slide: what is outside reads as white).
            level: pyramid level to read from, ``0 <= level < level_count``.
            size: ``(width, height)`` in **level-k** pixels, both positive.

        Returns:
            ``uint8`` array ``(height, width, 3)``, RGB, transparent pixels composited onto white.
            At levels whose downsample is an integer, a read at ``x = u * downsample`` returns
            exactly the level's pixels from column ``u``; at non-integer downsamples OpenSlide
            renders the fractional offset ``x / downsample`` (sub-pixel resampling).

        Raises:
            LevelError: the level does not exist.
            ValueError: ``size`` is not two positive integers.
            SlideReadError: the pixels cannot be decoded (message names the file, level and region).
        """
        level = self.check_level(level)
        w, h = (int(v) for v in size)
        if w <= 0 or h <= 0:
            raise ValueError(f"size must be two positive integers (width, height) in level-{level} pixels, got {size}")
        x, y = (int(v) for v in location)
        import openslide

        handle = self._open()
        try:
            region = handle.read_region((x, y), level, (w, h))
        except openslide.OpenSlideError as exc:
            self.close()  # an OpenSlide handle in error state cannot be used again
            raise SlideReadError(
                f"cannot decode pixels of {str(self.path)!r} (level {level}, location {x},{y}, size {w}x{h}): {exc}"
            ) from exc
        return composite_on_white(np.asarray(region))

    def _tile_reader(self, level: int):
        """The direct TIFF tile reader for ``level`` when it is safe to use, else None."""
        if self._tiles is None:
            self._tiles = False
            if self.properties.get("openslide.vendor") in ("generic-tiff", "aperio"):
                try:
                    self._tiles = _TiffTiles(self.path, self.level_dimensions)
                except Exception:  # not readable by tifffile: OpenSlide only
                    self._tiles = False
        tiles = self._tiles
        if not tiles or level not in tiles.pages:
            return None
        if level not in tiles.checked:
            # self-check, once per level: the first tile decodes to OpenSlide's exact pixels
            page = tiles.pages[level]
            w, h = min(page.tilewidth, page.imagewidth), min(page.tilelength, page.imagelength)
            try:
                ok = np.array_equal(tiles.read(level, 0, 0, w, h), self.read_region((0, 0), level, (w, h)))
            except Exception:
                ok = False
            tiles.checked.add(level)
            if not ok:
                del tiles.pages[level]
                tiles.cache.clear()
                return None
        return tiles

    def read_block(self, level: int, u: int, v: int, width: int, height: int) -> np.ndarray:
        """Read a rectangle given in **level-k** pixel coordinates (level-aligned).

        For TIFF-based slides (generic TIFF, Aperio SVS) the level's tiles are decoded directly
        (a small tile cache makes neighbouring reads cheap); this is checked once per slide to give
        exactly OpenSlide's pixels, and falls back to :meth:`read_region` otherwise.

        Args:
            level: pyramid level.
            u, v: top-left corner in level-k pixels.
            width, height: size in level-k pixels.

        Returns:
            ``uint8 (height, width, 3)``; outside the level is white. Equal to
            ``read_region((round(u * d), round(v * d)), level, (width, height))`` whenever the
            downsample ``d`` is an integer.

        Raises:
            LevelError, ValueError, SlideReadError: as :meth:`read_region`.
        """
        level = self.check_level(level)
        if width <= 0 or height <= 0:
            raise ValueError(f"size must be positive level-{level} pixels, got {width}x{height}")
        tiles = self._tile_reader(level)
        if tiles is not None:
            try:
                return tiles.read(level, int(u), int(v), int(width), int(height))
            except Exception as exc:
                raise SlideReadError(
                    f"cannot decode tiles of {str(self.path)!r} (level {level}, level-{level} pixels {u},{v}, "
                    f"size {width}x{height}): {exc}"
                ) from exc
        d = self.level_downsamples[level]
        return self.read_region((round(u * d), round(v * d)), level, (width, height))

    def read_level(self, level: int) -> np.ndarray:
        """The whole image at ``level`` as ``uint8 (height, width, 3)`` on white (use a coarse level)."""
        level = self.check_level(level)
        return self.read_region((0, 0), level, self.level_dimensions[level])

    def thumbnail(self, max_size: int = 512) -> np.ndarray:
        """A thumbnail whose longer side is at most ``max_size`` pixels.

        Reads the coarsest level that is still at least as large as the thumbnail, then resizes with
        antialiasing.

        Returns:
            ``uint8`` array ``(h, w, 3)`` with ``max(h, w) <= max_size``; transparent areas white.
        """
        from PIL import Image

        w0, h0 = self.dimensions
        downsample = max(w0, h0) / max_size
        level = self.get_best_level_for_downsample(max(downsample, 1.0))
        image = self.read_level(level)
        scale = min(1.0, max_size / max(image.shape[:2]))
        if scale < 1.0:
            tw = max(1, round(w0 / downsample))
            th = max(1, round(h0 / downsample))
            image = np.asarray(Image.fromarray(image).resize((tw, th), Image.Resampling.LANCZOS))
        return image


def open_slide(path: str | os.PathLike) -> Slide:
    """Open a slide and check that its pixels decode (reads one pixel at its coarsest level).

    Args:
        path: slide file.

    Returns:
        A :class:`Slide`.

    Raises:
        SlideNotFoundError, SlideFormatError: see :class:`Slide`.
        SlideReadError: the file opens but its pixels cannot be decoded.
    """
    slide = Slide(path)
    level = slide.level_count - 1
    w, h = slide.level_dimensions[level]
    slide.read_region((0, 0), level, (min(w, 16), min(h, 16)))
    return slide
