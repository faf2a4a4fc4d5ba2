"""Sphinx extension: serve MathJax 3 from the book's own static files, never from a CDN.

Jupyter Book 1 loads MathJax from a CDN by default, so a lab without internet sees raw LaTeX. This
extension copies the MathJax 3 ``es5`` build from the ``mathjax`` Python package (PyPI distribution
``django-static-mathjax``, a plain copy of MathJax's release files, installed with the book extras)
into ``_build/html/_static/mathjax/`` and points Sphinx's ``mathjax_path`` at it. Only the pieces the
``tex-mml-chtml`` component loads are copied (the component itself, CommonHTML fonts, menu,
accessibility and TeX extensions), about 4 MB instead of 24 MB.
"""

from __future__ import annotations

import shutil
from pathlib import Path

COMPONENT = "tex-mml-chtml.js"
PARTS = [COMPONENT, "output/chtml", "ui", "a11y", "input/tex/extensions", "input/mml", "adaptors", "sre"]


def mathjax_es5_dir() -> Path:
    """Folder of the installed MathJax 3 ``es5`` build; raises a clear error when it is missing."""
    try:
        import mathjax  # provided by django-static-mathjax
    except ImportError as exc:  # pragma: no cover - exercised by a missing install only
        raise RuntimeError(
            "local MathJax not installed: `pip install django-static-mathjax` (part of the book extras)"
        ) from exc
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (es5 / COMPONENT).is_file():
        raise RuntimeError(f"MathJax component {COMPONENT} not found in {es5}")
    return es5


def _copy(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    es5 = mathjax_es5_dir()
    dest = Path(app.outdir) / "_static" / "mathjax"
    for part in PARTS:
        src = es5 / part
        if src.is_dir():
            shutil.copytree(src, dest / part, dirs_exist_ok=True)
        elif src.is_file():
            (dest / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / part)


def _configure(app, config):
    mathjax_es5_dir()  # fail early, with the reason, when the files are missing
    config.mathjax_path = f"mathjax/{COMPONENT}"


def setup(app):
    app.connect("config-inited", _configure, priority=900)
    app.connect("build-finished", _copy)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
