"""Figures: image grids with row and column titles, and overlays.

Every function returns the matplotlib ``Figure`` so a chapter can save it or add to it; none calls
``plt.show()`` (notebooks display a returned figure themselves).
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .utils import as_uint8_images  # noqa: F401 (its home is utils; importable here as before)

__all__ = [
    "image_grid",
    "as_uint8_images",
    "figure_title_text",
    "figure_alt_text",
    "figure_png",
    "register_alt_text_formatter",
]


def image_grid(
    images,
    nrow: int | None = None,
    *,
    row_titles: Sequence[str] | None = None,
    col_titles: Sequence[str] | None = None,
    title: str | None = None,
    cell_size: float = 1.4,
    fig: plt.Figure | None = None,
) -> plt.Figure:
    """Show images in a grid, row by row.

    Args:
        images: uint8 ``(N, H, W, 3)`` in ``[0, 255]`` or a float tensor ``(N, 3, H, W)`` in ``[-1, 1]``
            (see :func:`as_uint8_images`).
        nrow: number of rows; default ``len(row_titles)`` when given, else a near-square layout.
            The number of columns is ``ceil(N / nrow)``; unused cells stay blank.
        row_titles: one label per row, written left of the row (e.g. ``["negative", "positive"]``).
        col_titles: one label per column, written above it (e.g. interpolation weights).
        title: figure title.
        cell_size: size of one cell in inches.
        fig: draw into this figure instead of creating one.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        ValueError: if there are no images, if ``nrow`` is not positive, or if the number of row or
            column titles does not match the grid.
    """
    imgs = as_uint8_images(images)
    n = len(imgs)
    if n == 0:
        raise ValueError("image_grid needs at least one image")
    if nrow is None:
        nrow = len(row_titles) if row_titles else max(1, int(np.floor(np.sqrt(n))))
    if nrow < 1:
        raise ValueError(f"nrow must be positive, got {nrow}")
    ncol = int(np.ceil(n / nrow))
    if row_titles is not None and len(row_titles) != nrow:
        raise ValueError(f"got {len(row_titles)} row_titles for {nrow} rows")
    if col_titles is not None and len(col_titles) != ncol:
        raise ValueError(f"got {len(col_titles)} col_titles for {ncol} columns")
    if fig is None:
        extra_w = 0.9 if row_titles else 0.0
        extra_h = (0.35 if col_titles else 0.0) + (0.45 if title else 0.0)
        fig = plt.figure(figsize=(ncol * cell_size + extra_w, nrow * cell_size + extra_h))
    axes = fig.subplots(nrow, ncol, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if i < n:
            ax.imshow(imgs[i], interpolation="nearest")
    if row_titles:
        for r, label in enumerate(row_titles):
            axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    if col_titles:
        for c, label in enumerate(col_titles):
            axes[0, c].set_title(label, fontsize=9)
    if title:
        fig.suptitle(title)
    # read by figure_title_text: the grid's shape and titles describe it better than its 0-tick axes
    fig._histogan_grid = {
        "n": n,
        "nrow": nrow,
        "ncol": ncol,
        "row_titles": list(row_titles or []),
        "col_titles": list(col_titles or []),
    }
    fig.tight_layout()
    return fig


def _clean(text: str) -> str:
    """One line of text: newlines and runs of spaces become single spaces."""
    return " ".join(str(text).split())


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def figure_title_text(fig: plt.Figure) -> str:
    """What a figure shows, in words taken from its own text; ``""`` when it has none.

    The author's label (``fig.set_label("...")``) when set; otherwise the figure title
    (``fig.suptitle``) followed by the panels: for an :func:`image_grid`, its size and its row and column
    titles; for other figures, each panel's title with its axis labels, e.g.
    ``"Losses. Panels: D loss (x: step, y: loss); G loss"`` (a figure with one plot: ``"Losses. D loss (x:
    step, y: loss)"``). At most 8 panels are named.

    Args:
        fig: a matplotlib ``Figure``.

    Returns:
        A single-line string, empty when the figure has no label, title, panel title or axis label.
    """
    label = fig.get_label()
    if label and not label.startswith("_"):
        return _clean(label)
    parts = []
    suptitle = getattr(fig, "_suptitle", None)
    if suptitle is not None and suptitle.get_text().strip():
        parts.append(_clean(suptitle.get_text()))
    grid = getattr(fig, "_histogan_grid", None)
    if grid is not None and (grid["row_titles"] or grid["col_titles"]):
        desc = f"Grid of {_count(grid['n'], 'image')} in {_count(grid['nrow'], 'row')} and {_count(grid['ncol'], 'column')}"
        if grid["row_titles"]:
            desc += "; rows: " + ", ".join(_clean(t) for t in grid["row_titles"])
        if grid["col_titles"]:
            desc += "; columns: " + ", ".join(_clean(t) for t in grid["col_titles"])
        parts.append(desc)
    elif grid is None:
        panels = []
        for ax in fig.axes:
            title, xlabel, ylabel = (_clean(t) for t in (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()))
            axes_text = ", ".join(f"{k}: {v}" for k, v in (("x", xlabel), ("y", ylabel)) if v)
            if title and axes_text:
                panels.append(f"{title} ({axes_text})")
            elif title or axes_text:
                panels.append(title or axes_text)
        if len(fig.axes) == 1 and panels:
            parts.append(panels[0])  # one plot: its title and axes, no "Panels:"
        elif panels:
            shown = panels[:8] + ([f"and {len(panels) - 8} more"] if len(panels) > 8 else [])
            parts.append("Panels: " + "; ".join(shown))
    return ". ".join(parts)


def figure_alt_text(fig: plt.Figure) -> str:
    """Alternative text for a figure, for readers who cannot see it (screen readers, broken images).

    Uses the figure's label when the author set one (``fig.set_label("...")``), otherwise describes
    it from its title, panel titles and axis labels (:func:`figure_title_text`), e.g.
    ``"Figure: Losses. D loss (x: step, y: loss)"``; a figure with no text at all is described
    by what it holds (``"Figure: 2 images"``), which the book's ``figure_alt`` extension replaces by
    the section the figure stands in.

    Args:
        fig: a matplotlib ``Figure``.

    Returns:
        A non-empty single-line string.
    """
    label = fig.get_label()
    if label and not label.startswith("_"):
        return _clean(label)
    text = figure_title_text(fig)
    if not text:
        grid = getattr(fig, "_histogan_grid", None)
        n_images = grid["n"] if grid is not None else sum(len(ax.images) for ax in fig.axes)
        text = _count(n_images, "image") if n_images else _count(len(fig.axes), "plot panel")
    return "Figure: " + text


def figure_png(fig: plt.Figure) -> bytes:
    """The figure as PNG bytes, carrying its description for the book's alt text.

    The PNG holds two standard text chunks: ``Title`` (:func:`figure_title_text`, only when the figure
    has text of its own) and ``Description`` (:func:`figure_alt_text`). The book's Sphinx extension
    ``book/_ext/figure_alt.py`` turns them into the ``alt`` attribute of the figure in the HTML.

    Args:
        fig: a matplotlib ``Figure``.

    Returns:
        PNG bytes, saved with ``bbox_inches="tight"`` at the figure's dpi (as the inline backend does).
    """
    import io

    metadata = {"Description": figure_alt_text(fig)}
    title = figure_title_text(fig)
    if title:
        metadata["Title"] = title
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", dpi=fig.dpi, metadata=metadata)
    return buf.getvalue()


def _png_with_alt(fig):
    import base64

    if not fig.axes and not fig.images:
        return None  # an empty figure displays nothing, as with matplotlib's own formatter
    # myst-nb reads only width/height from the output metadata; the alt also travels in the PNG itself
    return base64.b64encode(figure_png(fig)).decode("ascii"), {"alt": figure_alt_text(fig)}


def _register(shell) -> None:
    shell.display_formatter.formatters["image/png"].for_type(plt.Figure, _png_with_alt)


def _register_before_cell(*_args) -> None:
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        _register(shell)


def register_alt_text_formatter() -> bool:
    """Make IPython display every matplotlib figure as PNG with alt text (:func:`figure_alt_text`).

    The book's HTML then carries an ``alt`` attribute on each figure (myst-nb reads it from the output
    metadata). Called on import of this module; harmless outside IPython.

    Returns:
        True when registered, False when no IPython shell is running.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    # pyplot loads its backend lazily, at the first figure; the inline backend installs its own PNG
    # formatter when it loads. Load it now so that ours, registered next, wins.
    plt.close(plt.figure())
    _register(shell)
    # matplotlib's inline backend re-installs its own PNG formatter when it loads (in the cell that first
    # imports pyplot); registering again around each cell, and before the backend's own post_execute
    # hook shows the cell's figures, keeps the alt text.
    for event in ("pre_run_cell", "post_execute", "post_run_cell"):
        if _register_before_cell not in shell.events.callbacks[event]:
            shell.events.register(event, _register_before_cell)
    return True


register_alt_text_formatter()
