"""Tissue mask, patch grid, labels, extraction to PNG + manifest, and balancing (paper section 2, Table 1).

The paper cuts 256x256 patches at levels 0 and 1 of 22 CAMELYON slides; a patch is *positive* when it
comes from an annotated tumour region and *negative* when it comes from tissue without tumour, then
the larger class is randomly subsampled to the size of the smaller (Table 1). This module does each
step with every threshold a parameter:

1. :func:`tissue_mask` - Otsu's threshold on HSV saturation at a coarse level (glass and transparent
   pixels are white, saturation 0; H&E-stained tissue is saturated pink/purple); it lives in
   :mod:`histogan_lite.tissue` and is re-exported here.
2. :func:`patch_grid` - a regular grid of ``patch_size`` patches at ``level``; for each patch its
   tissue fraction and its tumour fraction (area of tumour region inside the patch / patch area,
   computed exactly with shapely) and its label.
3. :func:`extract_patches` - reads only the labelled patches (TIFF tiles decoded directly, see
   :meth:`~histogan_lite.slides.Slide.read_block`), in blocks of ``block`` x ``block`` grid cells (the
   unit of parallel work and of resuming), writes PNGs in one folder per class and the manifest
   ``patches.csv``; parallel, resumable, atomic.
4. :func:`class_counts` and :func:`balance` - Table 1 before and after balancing.

Coordinates: ``x, y`` in the manifest are level-0 pixels of the patch's top-left corner;
``width, height`` are level-k pixels.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from .annotations import Annotations, read_asap_xml
from .camelyon import CamelyonDataWarning, extraction_warnings
from .parallel import run_tasks, stop_requested
from .slides import Slide, open_slide
from .tissue import TissueMask, saturation, tissue_mask, tissue_mask_from_rgb
from .utils import CLASS_NAMES, atomic_path, atomic_write_text, progress

__all__ = [
    "CLASS_NAMES",
    "MANIFEST_COLUMNS",
    "DatasetExistsError",
    "NoPatchesError",
    "NEGATIVE_SOURCES",
    "TissueMask",
    "saturation",
    "tissue_mask_from_rgb",
    "tissue_mask",
    "tumor_fractions",
    "patch_grid",
    "read_patches",
    "extract_patches",
    "read_manifest",
    "class_counts",
    "balance",
]

#: Label 0 and 1, and the folder each class's PNGs go to.
MANIFEST_COLUMNS = [
    "slide", "level", "x", "y", "width", "height", "label", "class",
    "tumor_fraction", "tissue_fraction", "path",
]  # fmt: skip
DATASET_FORMAT = "histogan-lite patches v1"
#: Where ``extract_patches`` takes negatives from: every slide, or only slides given without annotations.
NEGATIVE_SOURCES = ("all", "tumor_free_slides")


class DatasetExistsError(FileExistsError):
    """The output folder already holds a different dataset (pass ``overwrite=True`` to replace it)."""


class NoPatchesError(ValueError):
    """A slide yields no patch (the message names it and says why; ``allow_empty=True`` accepts it)."""


# ---------------------------------------------------------------------------------------------
# 2. grid and labels
# ---------------------------------------------------------------------------------------------
def tumor_fractions(region, x0, y0, x1, y1) -> np.ndarray:
    """Exact tumour fraction of level-0 boxes: ``area(region ∩ box) / area(box)``.

    Args:
        region: shapely (Multi)Polygon in level-0 pixels (``Annotations.tumor_region``), or None.
        x0, y0, x1, y1: arrays of box corners in level-0 pixels.

    Returns:
        float64 array in [0, 1]; all zeros when ``region`` is None or empty.
    """
    x0, y0, x1, y1 = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (x0, y0, x1, y1))
    out = np.zeros(len(x0))
    if region is None or region.is_empty:
        return out
    boxes = shapely.box(x0, y0, x1, y1)
    shapely.prepare(region)
    touching = shapely.intersects(region, boxes)
    inside = touching & shapely.contains_properly(region, boxes)
    out[inside] = 1.0
    edge = np.flatnonzero(touching & ~inside)
    if len(edge):
        # only boxes that cross the outline need an intersection
        clipped = shapely.intersection(region, boxes[edge])
        out[edge] = shapely.area(clipped) / ((x1[edge] - x0[edge]) * (y1[edge] - y0[edge]))
    return np.clip(out, 0.0, 1.0)


def label_patches(
    tumor_fraction: np.ndarray,
    tissue_fraction: np.ndarray,
    *,
    annotated: bool,
    tumor_threshold: float = 0.5,
    negative_max: float = 0.0,
    min_tissue: float = 0.5,
) -> np.ndarray:
    """The paper's labelling rule with every threshold a parameter.

    positive (1): tumour fraction >= ``tumor_threshold``; negative (0): tumour fraction <=
    ``negative_max`` (on a slide without annotations: every tissue patch); skipped (-1): in between,
    or tissue fraction < ``min_tissue``.

    Returns:
        int64 array of -1, 0 or 1.
    """
    tumor_fraction = np.asarray(tumor_fraction)
    label = np.full(len(tumor_fraction), -1, dtype=np.int64)
    if annotated:
        label[tumor_fraction <= negative_max] = 0
        label[tumor_fraction >= tumor_threshold] = 1
    else:
        label[:] = 0
    label[np.asarray(tissue_fraction) < min_tissue] = -1
    return label


def patch_grid(
    slide: Slide,
    level: int,
    patch_size: int = 256,
    *,
    annotations: Annotations | None = None,
    tissue: TissueMask | None = None,
    tumor_threshold: float = 0.5,
    negative_max: float = 0.0,
    min_tissue: float = 0.5,
    region: tuple[int, int, int, int] | None = None,
) -> pd.DataFrame:
    """A regular grid of ``patch_size`` patches at ``level`` with tissue and tumour fractions and labels.

    Only whole patches are kept (a patch never runs past the level's edge). Patch ``(col, row)``
    starts at level-k pixel ``u = col * patch_size``, ``v = row * patch_size`` and at level-0 pixel
    ``x = round(u * downsample)``, ``y = round(v * downsample)``; its level-0 box is
    ``[x, x + patch_size * downsample] x [y, y + patch_size * downsample]``.

    Args:
        slide: the slide.
        level: pyramid level (0 and 1 in the paper).
        patch_size: patch side in level-k pixels (256 in the paper).
        annotations: tumour annotations of the slide, or None for a slide without tumour.
        tissue: a precomputed :class:`TissueMask` (computed with defaults when None).
        tumor_threshold, negative_max, min_tissue: see :func:`label_patches`.
        region: optional ``(x, y, width, height)`` in level-0 pixels; only patches lying wholly inside
            it are kept (to work on part of a large slide).

    Returns:
        DataFrame, one row per grid patch, columns ``col, row, u, v, x, y, width, height,
        tissue_fraction, tumor_fraction, label`` (label -1 skipped, 0 negative, 1 positive).

    Raises:
        LevelError: the level does not exist.
        ValueError: ``patch_size`` is not a positive integer or a threshold is outside [0, 1].
    """
    level = slide.check_level(level)
    if isinstance(patch_size, bool) or not isinstance(patch_size, (int, np.integer)) or patch_size < 1:
        raise ValueError(f"patch_size must be a positive integer (level-{level} pixels), got {patch_size!r}")
    for name, value in (("tumor_threshold", tumor_threshold), ("negative_max", negative_max), ("min_tissue", min_tissue)):
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if negative_max >= tumor_threshold:
        raise ValueError(f"negative_max ({negative_max}) must be below tumor_threshold ({tumor_threshold})")
    if tissue is None:
        tissue = tissue_mask(slide)
    wk, hk = slide.level_dimensions[level]
    ds = slide.level_downsamples[level]
    cols = np.arange(wk // patch_size)
    rows = np.arange(hk // patch_size)
    cc, rr = np.meshgrid(cols, rows)
    cc, rr = cc.ravel(), rr.ravel()
    u, v = cc * patch_size, rr * patch_size
    x = np.round(u * ds).astype(np.int64)
    y = np.round(v * ds).astype(np.int64)
    side0 = patch_size * ds
    x1, y1 = x + side0, y + side0
    if region is not None:
        rx, ry, rw, rh = region
        keep = (x >= rx) & (y >= ry) & (x1 <= rx + rw) & (y1 <= ry + rh)
        cc, rr, u, v, x, y, x1, y1 = (a[keep] for a in (cc, rr, u, v, x, y, x1, y1))
    tissue_fraction = tissue.fractions(x, y, x1, y1) if len(x) else np.zeros(0)
    region_geom = annotations.tumor_region if annotations is not None else None
    tumor_fraction = tumor_fractions(region_geom, x, y, x1, y1) if len(x) else np.zeros(0)
    label = label_patches(
        tumor_fraction, tissue_fraction, annotated=annotations is not None,
        tumor_threshold=tumor_threshold, negative_max=negative_max, min_tissue=min_tissue,
    )  # fmt: skip
    return pd.DataFrame(
        {
            "col": cc, "row": rr, "u": u, "v": v, "x": x, "y": y,
            "width": patch_size, "height": patch_size,
            "tissue_fraction": tissue_fraction, "tumor_fraction": tumor_fraction, "label": label,
        }
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# 3. reading and extraction
# ---------------------------------------------------------------------------------------------
def read_patches(slide: Slide, level: int, grid: pd.DataFrame):
    """Read the patches of ``grid`` and yield them one at a time, in row-major order.

    Uses :meth:`Slide.read_block` (direct tile decoding for TIFF-based slides, cached across
    neighbouring patches; one OpenSlide ``read_region`` per patch otherwise). At integer downsamples
    (levels 0 and 1 of CAMELYON) the pixels equal those of one ``read_region`` per patch.

    Args:
        slide: the slide.
        level: pyramid level of the grid.
        grid: rows of :func:`patch_grid` (columns ``u, v, width, height`` in level-k pixels).

    Yields:
        ``(index, image)``: the grid row's index and ``uint8 (height, width, 3)``.
    """
    order = np.lexsort((grid["u"].to_numpy(), grid["v"].to_numpy()))
    g = grid.iloc[order]
    for idx, u, v, w, h in zip(g.index, g["u"], g["v"], g["width"], g["height"]):
        yield idx, slide.read_block(level, int(u), int(v), int(w), int(h))


def _patch_relpath(slide_name: str, level: int, x: int, y: int, label: int) -> str:
    return f"{CLASS_NAMES[label]}/{slide_name}_L{level}_x{x}_y{y}.png"


def _save_png(path: Path, image: np.ndarray, compress_level: int) -> None:
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG", compress_level=compress_level)


_WORKER_SLIDES: dict[str, Slide] = {}


def _extract_block(task: dict) -> tuple[str, int, bool]:
    """Worker: read one block, write its PNGs (skipping ones already there), then its part file.

    Returns ``(part, PNGs written, finished)``; in a pool worker asked to stop (see
    :func:`~histogan_lite.parallel.stop_requested`) it returns after the PNG in progress, without
    the part file, so the block is redone on resume.
    """
    out = Path(task["out"])
    rows = task["rows"]
    slide: Slide = task["slide"]
    if task.get("in_worker"):
        # one open slide per worker process and file (tasks arrive pickled, without OpenSlide
        # handles); the pool, and so this cache, lives for one extract_patches call
        slide = _WORKER_SLIDES.setdefault(str(slide.path), slide)
    written = 0
    for idx, image in read_patches(slide, task["level"], rows):
        if stop_requested():
            return task["part"], written, False
        path = out / rows.at[idx, "path"]
        if not path.exists():  # resume: PNGs are written atomically, so an existing one is complete
            _save_png(path, image, task["compress_level"])
            written += 1
    # the part file lists rows whose files now all exist; written last, atomically
    atomic_write_text(out / task["part"], rows[MANIFEST_COLUMNS].to_csv(index=False))
    return task["part"], written, True


def _normalise_inputs(slides, annotations):
    if isinstance(slides, (str, os.PathLike, Slide)):
        slides = [slides]
    slides = list(slides)
    if not slides:
        raise ValueError("no slides given")
    if annotations is None:
        annotations = [None] * len(slides)
    elif isinstance(annotations, (str, os.PathLike, Annotations)):
        annotations = [annotations]
    annotations = list(annotations)
    if len(annotations) != len(slides):
        raise ValueError(
            f"got {len(slides)} slide(s) but {len(annotations)} annotation entries; give one per slide (None for none)"
        )
    return slides, annotations


def _file_stamp(path: Path | None) -> dict | None:
    """Identify a file's version by path, size and modification time (a regenerated slide differs)."""
    if path is None:
        return None
    st = Path(path).stat()
    return {"path": str(path), "bytes": st.st_size, "modified_ns": st.st_mtime_ns}


def _dataset_record(slides, annotations, settings) -> dict:
    return {
        "format": DATASET_FORMAT,
        "slides": [
            {"name": s.name, "slide": _file_stamp(s.path),
             "annotations": _file_stamp(a.path) if a is not None and a.path else None}
            for s, a in zip(slides, annotations)
        ],
        **settings,
    }  # fmt: skip


def _remove_partial_files(out: Path) -> None:
    """Delete temporary files of :func:`~histogan_lite.utils.atomic_path` left by a killed run (SIGKILL)."""
    for folder in (*CLASS_NAMES, ".parts"):
        for tmp in (out / folder).rglob(".*.tmp*") if (out / folder).is_dir() else []:
            tmp.unlink(missing_ok=True)


def _prepare_output(out: Path, record: dict, overwrite: bool) -> None:
    meta = out / "dataset.json"
    if meta.exists():
        try:
            old = json.loads(meta.read_text())
        except (OSError, ValueError):
            old = None
        if old == record:
            _remove_partial_files(out)
            return  # same dataset: resume
        if not overwrite:
            differences = (
                [k for k in sorted(set(old) | set(record)) if old.get(k) != record.get(k)] if isinstance(old, dict) else ["unreadable"]
            )
            raise DatasetExistsError(
                f"{out} already holds another patch dataset (differs in: {', '.join(differences)}); "
                "choose another output folder or pass overwrite=True (--overwrite) to replace it"
            )
        for name in (*CLASS_NAMES, ".parts"):
            if (out / name).is_dir():
                shutil.rmtree(out / name)
        for name in ("patches.csv", "patches_balanced.csv", "dataset.json"):
            (out / name).unlink(missing_ok=True)
    elif out.exists() and any(out.iterdir()) and not overwrite:
        raise DatasetExistsError(
            f"{out} is not empty and holds no histogan-lite dataset.json; choose an empty or new folder, "
            "or pass overwrite=True (--overwrite) to write into it anyway"
        )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(meta, json.dumps(record, indent=2))


def extract_patches(
    slides,
    out_dir: str | os.PathLike,
    *,
    annotations=None,
    level: int = 0,
    patch_size: int = 256,
    tumor_threshold: float = 0.5,
    negative_max: float = 0.0,
    min_tissue: float = 0.5,
    tissue_downsample: float = 32.0,
    region: tuple[int, int, int, int] | None = None,
    group_map: dict[str, str] | None = None,
    workers: int = 1,
    block: int = 8,
    compress_level: int = 1,
    negatives_from: str = "all",
    allow_empty: bool = False,
    overwrite: bool = False,
    show_progress: bool = True,
) -> pd.DataFrame:
    """Cut labelled patches from whole-slide images into PNG folders and a manifest (paper section 2).

    Every input is checked before anything is written: missing or unreadable slides, bad XML, a level
    that a slide lacks, a slide that yields no patch. CAMELYON slides with a known problem, and labels
    that can put tumour among the negatives, get a :class:`~histogan_lite.camelyon.CamelyonDataWarning`
    (see :func:`~histogan_lite.camelyon.extraction_warnings`). Output layout::

        out_dir/dataset.json           what this folder holds (slides, level, patch size, thresholds)
        out_dir/negative/*.png         label 0
        out_dir/positive/*.png         label 1
        out_dir/patches.csv            the manifest (MANIFEST_COLUMNS; paths relative to out_dir)
        out_dir/.parts/<slide>/*.csv   one part per finished block (for resuming)

    Resumable: each PNG is written atomically and a block's part file only after all its PNGs exist,
    so a re-run skips finished blocks and an interrupted run leaves no half-written file and no
    manifest row without its file. The manifest is rebuilt from the parts at the end, and also when
    the run stops early: Ctrl-C (``KeyboardInterrupt``, sent to this process or to its whole process
    group, with any number of ``workers``) stops it within seconds, after the patch each worker is
    writing, and ``patches.csv`` then lists the patches of the finished blocks.

    Args:
        slides: one slide path (or :class:`Slide`) or a list.
        out_dir: output folder (new, empty, or holding this same dataset to resume).
        annotations: one entry per slide: an XML path, an :class:`Annotations`, or None (no tumour:
            every tissue patch is negative).
        level: pyramid level (0 and 1 in the paper; any level the slides have).
        patch_size: patch side in level-k pixels (256 in the paper).
        tumor_threshold, negative_max, min_tissue: labelling rule, see :func:`label_patches`.
        tissue_downsample: scale of the tissue mask (level-0 pixels per mask pixel).
        region: optional ``(x, y, width, height)`` in level-0 pixels applied to every slide.
        group_map: extra annotation group roles, see :func:`~histogan_lite.annotations.read_asap_xml`.
        workers: processes (1: in this process). Blocks of all slides are shared among them.
        block: grid cells per block side; a block is one unit of parallel work and of resuming.
        compress_level: PNG zlib level (0-9; 1 is fast with little size cost for H&E).
        negatives_from: ``"all"`` (the paper's practice): negatives from every slide, including the
            tissue outside the polygons of annotated slides; ``"tumor_free_slides"``: negatives only from
            slides given without annotations, positives only from annotated ones. Use the latter with
            real tumour slides that may not be exhaustively annotated (CAMELYON's are not all, see
            :mod:`histogan_lite.camelyon`), where a negative cut outside the outlines can hold tumour;
            it needs slides without tumour (CAMELYON16 ``normal_*``) for the negative class.
        allow_empty: accept a slide that yields no patch (warn) instead of raising :class:`NoPatchesError`.
        overwrite: replace a different dataset already in ``out_dir``.
        show_progress: show a progress bar over patches.

    Returns:
        The manifest as a DataFrame (also written to ``out_dir/patches.csv``).

    Raises:
        SlideError: a slide is missing, not a slide, or cannot be decoded (names the file).
        AnnotationError: an annotation file is malformed (names the file).
        LevelError: a slide lacks ``level`` (lists its levels).
        ValueError: duplicate slide names or bad parameters.
        DatasetExistsError: ``out_dir`` holds another dataset and ``overwrite`` is False.
        NoPatchesError: a slide yields no patch and ``allow_empty`` is False (names it and says why).
        KeyboardInterrupt: the run was interrupted (the message says how many patches ``patches.csv``
            lists; run again to resume).
    """
    if negatives_from not in NEGATIVE_SOURCES:
        raise ValueError(f"negatives_from must be one of {NEGATIVE_SOURCES}, got {negatives_from!r}")
    slides, annotations = _normalise_inputs(slides, annotations)
    opened = [s if isinstance(s, Slide) else open_slide(s) for s in slides]
    names = [s.name for s in opened]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"slide names must be unique (they name the patch files); repeated: {dupes}")
    parsed = [
        a if (a is None or isinstance(a, Annotations)) else read_asap_xml(a, group_map=group_map)
        for a in annotations
    ]
    for s in opened:
        s.check_level(level)
    settings = {
        "level": int(level), "patch_size": int(patch_size), "tumor_threshold": float(tumor_threshold),
        "negative_max": float(negative_max), "min_tissue": float(min_tissue),
        "tissue_downsample": float(tissue_downsample), "region": list(region) if region else None,
        "negatives_from": negatives_from,
    }  # fmt: skip
    grids = []
    for s, a in zip(opened, parsed):
        tissue = tissue_mask(s, downsample=tissue_downsample)
        g = patch_grid(
            s, level, patch_size, annotations=a, tissue=tissue, tumor_threshold=tumor_threshold,
            negative_max=negative_max, min_tissue=min_tissue, region=region,
        )  # fmt: skip
        if negatives_from == "tumor_free_slides" and a is not None:
            g.loc[g["label"] == 0, "label"] = -1  # negatives only from slides without tumour
        grids.append(g)
    _check_not_empty(names, grids, allow_empty, level=level, patch_size=patch_size, min_tissue=min_tissue)
    for message in extraction_warnings(names, [a is not None for a in parsed], negatives_from=negatives_from):
        warnings.warn(message, CamelyonDataWarning, stacklevel=2)
    out = Path(out_dir).expanduser()
    _prepare_output(out, _dataset_record(opened, parsed, settings), overwrite)

    tasks = _block_tasks(out, opened, grids, level=level, block=block, compress_level=compress_level,
                         workers=workers)
    return _run_blocks(out, opened, tasks, level=level, workers=workers, show_progress=show_progress)


def _block_tasks(out: Path, opened, grids, *, level: int, block: int, compress_level: int, workers: int) -> list[dict]:
    """The unfinished blocks of :func:`extract_patches` as task dicts for :func:`_extract_block` (resume).

    Each slide's kept grid cells (label >= 0) are grouped into ``block x block`` blocks; a block whose
    part file ``out/.parts/<slide>/L<level>_r<br>_c<bc>.csv`` already exists is finished and skipped.
    """
    tasks = []
    for s, g in zip(opened, grids):
        g = g[g["label"] >= 0].copy()
        g["slide"] = s.name
        g["level"] = int(level)
        g["class"] = [CLASS_NAMES[k] for k in g["label"]]
        g["path"] = [_patch_relpath(s.name, level, x, y, k) for x, y, k in zip(g["x"], g["y"], g["label"])]
        for (br, bc), rows in g.groupby([g["row"] // block, g["col"] // block], sort=True):
            part = f".parts/{s.name}/L{level}_r{br}_c{bc}.csv"
            if (out / part).exists():
                continue
            tasks.append({"slide": s, "level": int(level), "rows": rows, "out": str(out),
                          "part": part, "compress_level": compress_level})  # fmt: skip
    for t in tasks:
        t["in_worker"] = workers > 1 and len(tasks) > 1
    return tasks


def _run_blocks(out: Path, opened, tasks: list[dict], *, level: int, workers: int, show_progress: bool) -> pd.DataFrame:
    """Extract ``tasks`` (in ``workers`` processes) and write the manifest, also when stopped early.

    Raises:
        KeyboardInterrupt: interrupted; the message says how many patches ``patches.csv`` lists.
    """
    bar = progress(total=sum(len(t["rows"]) for t in tasks), desc="patches", unit="patch", disable=not show_progress)
    try:
        run_tasks(_extract_block, tasks, workers=workers, on_result=lambda t, _: bar.update(len(t["rows"])))
    except BaseException as exc:  # Ctrl-C or a failed block: the manifest lists the finished blocks
        bar.close()
        _remove_partial_files(out)  # the workers have stopped: only a terminated one leaves a temporary file
        manifest = _write_manifest(out, opened, level)
        if isinstance(exc, KeyboardInterrupt):
            raise KeyboardInterrupt(
                f"patch extraction interrupted: {out / 'patches.csv'} lists the {len(manifest)} patches of the "
                "finished blocks; run the same extraction again to resume"
            ) from exc
        raise
    bar.close()
    return _write_manifest(out, opened, level)


def _check_not_empty(names, grids, allow_empty: bool, *, level: int, patch_size: int, min_tissue: float) -> None:
    """Raise :class:`NoPatchesError` (or warn, with ``allow_empty``) naming each slide without patches and why."""
    reasons = []
    for name, g in zip(names, grids):
        if (g["label"] >= 0).any():
            continue
        if not len(g):
            why = f"no whole {patch_size}x{patch_size} patch fits in its level {level} (or in the region)"
        elif not (g["tissue_fraction"] >= min_tissue).any():
            why = f"none of its {len(g)} grid patches has tissue fraction >= min_tissue={min_tissue} (blank glass?)"
        else:
            why = "every tissue patch falls between the negative and positive thresholds, or negatives_from drops it"
        reasons.append(f"slide {name} yields no patches: {why}")
    if reasons and not allow_empty:
        raise NoPatchesError("; ".join(reasons) + "; pass allow_empty=True (--allow-empty) to extract the others anyway")
    for reason in reasons:
        warnings.warn(reason, stacklevel=3)


def _write_manifest(out: Path, slides: list[Slide], level: int) -> pd.DataFrame:
    frames = []
    for s in slides:
        folder = out / ".parts" / s.name
        for part in sorted(folder.glob(f"L{level}_r*_c*.csv")) if folder.is_dir() else []:
            frames.append(pd.read_csv(part))
    manifest = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=MANIFEST_COLUMNS)
    if len(manifest):
        manifest = manifest.sort_values(["slide", "y", "x"], kind="stable").reset_index(drop=True)
    manifest = manifest[MANIFEST_COLUMNS]
    atomic_write_text(out / "patches.csv", manifest.to_csv(index=False))
    return manifest


# ---------------------------------------------------------------------------------------------
# 4. counts and balancing (Table 1)
# ---------------------------------------------------------------------------------------------
def read_manifest(manifest: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read a manifest CSV (or pass a DataFrame through), checking its columns.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: a required column is missing (names the file and the columns).
    """
    if isinstance(manifest, pd.DataFrame):
        df, name = manifest, "manifest DataFrame"
    else:
        path = Path(manifest)
        if not path.exists():
            raise FileNotFoundError(f"manifest {str(path)!r} does not exist")
        df, name = pd.read_csv(path), str(path)
    missing = [c for c in ("slide", "level", "label", "path") if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lacks manifest column(s) {missing}; expected {MANIFEST_COLUMNS}")
    return df


def class_counts(manifest) -> pd.DataFrame:
    """Table 1: negative and positive patch counts per level.

    Args:
        manifest: a manifest path or DataFrame.

    Returns:
        DataFrame indexed by ``level`` with int columns ``negative``, ``positive``, ``total``.
    """
    df = read_manifest(manifest)
    table = pd.crosstab(df["level"], df["label"]).reindex(columns=[0, 1], fill_value=0)
    table.columns = list(CLASS_NAMES)
    table["total"] = table.sum(axis=1)
    table.index.name = "level"
    return table.astype(int)


def balance(
    manifest,
    out_csv: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    per_class: int | None = None,
    overwrite: bool = False,
) -> pd.DataFrame:
    """Balance classes by random subsampling, per level, as in the paper's Table 1.

    Each level keeps ``per_class`` patches of each class (default: the smaller class's count; the
    paper kept 22,000 per class at level 1 and 62,062 at level 0). The original manifest is kept.

    Args:
        manifest: manifest path or DataFrame.
        out_csv: where to write the balanced manifest (default ``patches_balanced.csv`` beside the
            input file; None with a DataFrame input writes nothing).
        seed: seed of the random subsampling.
        per_class: patches per class and level; must not exceed the smaller class.
        overwrite: replace an existing ``out_csv``.

    Returns:
        The balanced manifest (rows in the original order).

    Raises:
        ValueError: a level lacks one class, or ``per_class`` exceeds a class's count.
        FileExistsError: ``out_csv`` exists and ``overwrite`` is False.
    """
    df = read_manifest(manifest)
    if out_csv is None and not isinstance(manifest, pd.DataFrame):
        out_csv = Path(manifest).with_name("patches_balanced.csv")
    if out_csv is not None and Path(out_csv).exists() and not overwrite:
        raise FileExistsError(f"{out_csv} exists; pass overwrite=True (--overwrite) to replace it")
    rng = np.random.default_rng(seed)
    keep = []
    counts = class_counts(df)
    for level, row in counts.iterrows():
        n = min(row["negative"], row["positive"])
        if n == 0:
            raise ValueError(f"level {level} has {row['negative']} negative and {row['positive']} positive patches; cannot balance")
        if per_class is not None:
            if per_class > n:
                raise ValueError(f"per_class={per_class} exceeds the smaller class at level {level} ({n} patches)")
            n = per_class
        for label in (0, 1):
            idx = df.index[(df["level"] == level) & (df["label"] == label)].to_numpy()
            keep.append(rng.choice(idx, size=n, replace=False))
    balanced = df.loc[np.sort(np.concatenate(keep))].reset_index(drop=True)
    if out_csv is not None:
        atomic_write_text(out_csv, balanced.to_csv(index=False))
    return balanced

