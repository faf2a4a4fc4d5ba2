"""`make book` fails when a chapter cell raises, and succeeds otherwise.

A scratch book with the project's real ``_config.yml`` and one notebook is built through the
project's own Makefile target (``make book BOOK=<scratch>``), so the test covers the exact command
users run and the execution settings (``execute_notebooks: force``, ``nb_execution_raise_on_error``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from conftest import ROOT, write_scratch_book_config


def _scratch_book(folder: Path, code: str) -> Path:
    folder.mkdir()
    write_scratch_book_config(folder)
    (folder / "intro.md").write_text("# Scratch book\n")
    nb = new_notebook(cells=[new_markdown_cell("# Chapter"), new_code_cell(code)])
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nbformat.write(nb, str(folder / "chapter.ipynb"))
    return folder


def _make_book(folder: Path) -> subprocess.CompletedProcess:
    venv = Path(sys.executable).parents[1]
    stamp = folder / ".stamp"
    stamp.touch()  # newer than pyproject.toml: make skips the set-up step (the venv is this one)
    if not (ROOT / "Makefile").exists() or shutil.which("make") is None:
        pytest.skip("make is not available")
    return subprocess.run(
        ["make", "-s", "-C", str(ROOT), "book", f"BOOK={folder}", f"VENV={venv}", f"STAMP={stamp}"],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_make_book_fails_on_a_cell_error_and_passes_without(tmp_path):
    good = _make_book(_scratch_book(tmp_path / "good", "print(6 * 7)"))
    assert good.returncode == 0, good.stdout[-3000:] + good.stderr[-3000:]
    html = (tmp_path / "good" / "_build" / "html" / "chapter.html").read_text()
    assert "42" in html, "the chapter was executed at build time"
    assert "Book built" in good.stdout
    assert re.search(r"time per chapter \(execution\):\n\s+chapter\s+[0-9.]+ s", good.stdout), good.stdout[-1500:]
    assert str(tmp_path / "good" / "_build" / "html" / "index.html") in good.stdout

    bad = _make_book(_scratch_book(tmp_path / "bad", "raise ValueError('chapter cell failed on purpose')"))
    assert bad.returncode != 0
    assert "chapter cell failed on purpose" in bad.stdout + bad.stderr
