"""Sphinx extension: every figure of the book gets alt text that says what it shows, never a file name.

MyST-NB renders a notebook's PNG output as an ``image`` node with no ``alt`` (it copies only ``width``
and ``height`` from the output's metadata), so the HTML writer falls back to the file name
(``alt="../_images/<sha256>.png"``), which is all a screen reader would announce.

The package's figure formatter (``histogan_lite.plotting.figure_png``) writes the figure's description
into the PNG itself, as the standard text chunks ``Title`` (its title and panel titles, when it has
any) and ``Description`` (``"Figure: ..."``). When a page has been read (``doctree-read``, so the result
is cached with the page), this extension gives each image without a meaningful alt:

1. the PNG's ``Description`` when the figure has a ``Title`` of its own;
2. otherwise the nearest preceding heading and the figure's number under it, e.g.
   ``"Reverse search, figure 2 (3 image(s))"`` (an untitled figure is also logged, so authors can title it).

An alt written by the author (a Markdown image's text, ``mystnb: image: alt:`` cell metadata) is kept
unless it is empty or a file name/path (:func:`is_file_name_alt`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from docutils import nodes
from sphinx.util import logging

LOGGER = logging.getLogger(__name__)

_IMAGE_FILE = re.compile(r"\S*\.(png|jpe?g|gif|svg|webp|bmp|tiff?|pdf)", re.IGNORECASE)


def is_file_name_alt(alt: str | None, src: str | None = None) -> bool:
    """True when ``alt`` says nothing about the image: empty, the image's own file name or path, or any
    single word that is a path (``../_images/ab12.png``, ``/_build/jupyter_execute/x.png``, ``fig.svg``).

    Args:
        alt: the alt text (``None`` counts as empty).
        src: the image's ``src``/URI, if known; an alt equal to it or to its last path part is a file name.
    """
    text = (alt or "").strip()
    if not text:
        return True
    if src:
        src = src.strip()
        if text == src or text == src.rsplit("/", 1)[-1] or text == os.path.basename(src.split("?")[0]):
            return True
    if _IMAGE_FILE.fullmatch(text):
        return True
    return " " not in text and ("/" in text or "\\" in text)


def png_text(path: Path) -> dict[str, str]:
    """The text chunks (tEXt, zTXt, iTXt) of a PNG file; ``{}`` for a missing file or another format."""
    try:
        from PIL import Image  # Pillow: a dependency of matplotlib

        with Image.open(path) as im:
            if im.format != "PNG":
                return {}
            return {str(k): str(v) for k, v in getattr(im, "text", {}).items()}
    except (OSError, ValueError, SyntaxError):
        return {}


def _image_path(env, node: nodes.image) -> Path | None:
    """The file behind an image node, before or after Sphinx's image collector has rewritten its URI."""
    uri = node.get("uri", "")
    if not uri or "://" in uri or uri.startswith("data:"):
        return None
    candidate = (node.get("candidates") or {}).get("*")
    if candidate:
        return Path(env.srcdir) / candidate
    _rel, absolute = env.relfn2path(uri, env.docname)
    return Path(absolute)


def _heading_text(node: nodes.title) -> str:
    return " ".join(node.astext().split())


def _fill_alt(app, doctree: nodes.document) -> None:
    env = app.env
    heading = env.docname.rsplit("/", 1)[-1]
    count = 0  # figures since the last heading
    untitled = []
    for node in doctree.findall(lambda n: isinstance(n, (nodes.title, nodes.image))):
        if isinstance(node, nodes.title):
            if isinstance(node.parent, nodes.section):
                heading, count = _heading_text(node) or heading, 0
            continue
        count += 1
        if not is_file_name_alt(node.get("alt"), node.get("uri")):
            continue
        path = _image_path(env, node)
        text = png_text(path) if path is not None else {}
        description = " ".join(text.get("Description", "").split())
        if text.get("Title", "").strip() and description:
            node["alt"] = description
            continue
        what = description.removeprefix("Figure: ") if description else ""
        node["alt"] = f"{heading}, figure {count}" + (f" ({what})" if what else "")
        untitled.append(node["alt"])
    if untitled:
        LOGGER.info(
            "figure_alt: %d figure(s) without a title in %s; alt text from the section heading: %s",
            len(untitled),
            env.docname,
            "; ".join(untitled),
        )


def setup(app):
    # before Sphinx's image collector (priority 500) rewrites the URIs; either form is handled
    app.connect("doctree-read", _fill_alt, priority=400)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
