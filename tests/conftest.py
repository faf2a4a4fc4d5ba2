"""Shared fixtures and paths for the test-suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
# Real public files for tests live beside the repository (never committed): <repo>/../shared/real-data
REAL_DATA = ROOT.parent / "shared" / "real-data"

os.environ.setdefault("HISTOGAN_HEADLESS", "1")


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The folder of real public test files; the test is skipped when it is absent."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real test data not found at {REAL_DATA} (optional; see DEVELOPERS notes)")
    return REAL_DATA


CHAPTERS = [
    "01_data",
    "02_gans",
    "03_dcgan",
    "04_cdcgan",
    "05_latent_editing",
    "06_evaluation",
]
INJECTED = {"seed": 1, "fast": True, "device": "cpu"}


def load_data_script(name: str, module_name: str | None = None, folder: str = "data_scripts"):
    """Import ``<folder>/<name>.py`` (not a package: data_scripts/, benchmarks/) as a module, for tests."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(module_name or name, ROOT / folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_scratch_book_config(folder: Path) -> None:
    """The project's _config.yml (its extensions by absolute path), the bibliography and a one-chapter _toc.yml."""
    config = (ROOT / "_config.yml").read_text()
    config = config.replace("  - book/references.bib", "  - references.bib")
    config = config.replace(": book/_ext", f": {ROOT / 'book' / '_ext'}")
    (folder / "_config.yml").write_text(config)
    (folder / "references.bib").write_text((ROOT / "book" / "references.bib").read_text())
    (folder / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: chapter\n")


def copy_book_skeleton(dest: Path) -> Path:
    """Copy the book's configuration, pages and extensions (not the notebooks) into ``dest``."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, dest / name)
    (dest / "book").mkdir(exist_ok=True)
    for page in BOOK.iterdir():
        if page.suffix in (".md", ".bib"):
            shutil.copy2(page, dest / "book" / page.name)
        elif page.is_dir() and not page.name.startswith((".", "__")) and page.name != "_build":
            shutil.copytree(page, dest / "book" / page.name, dirs_exist_ok=True)
    return dest


@pytest.fixture(scope="session")
def executed_book(tmp_path_factory):
    """Every chapter executed once by papermill with *injected* parameters (another seed).

    Returns ``(folder, results)``: a copy of the book whose notebooks are the executed ones, and a
    dict ``stem -> exception or None``. The browser test builds the HTML book from this folder
    without executing again, so ``make test`` runs each chapter twice (nbval and papermill), not
    three times.
    """
    import papermill

    folder = copy_book_skeleton(tmp_path_factory.mktemp("executed-book"))
    results = {}
    for stem in CHAPTERS:
        try:
            papermill.execute_notebook(
                str(BOOK / f"{stem}.ipynb"),
                str(folder / "book" / f"{stem}.ipynb"),
                parameters=INJECTED,
                cwd=str(folder / "book"),
                kernel_name="python3",
                progress_bar=False,
                execution_timeout=600,
            )
            results[stem] = None
        except Exception as exc:  # reported by the test of that chapter
            results[stem] = exc
    return folder, results


@pytest.fixture(scope="session")
def demo_slides(tmp_path_factory):
    """The small demo slides (synthetic teaching data), made once per test session in a temporary
    data folder by the same cached function the book uses: ``histogan_lite.synthetic.demo_slides``.

    Returns a ``DemoSlides``: ``.tumor`` (4096 x 3072 level 0, 5 levels), ``.tumor_xml`` (groups
    ``_0``, ``_1``, ``_2``), ``.tumor_mask`` (label mask at downsample 16), ``.normal`` (2048 x 1536).
    """
    from histogan_lite import synthetic

    return synthetic.demo_slides("small", seed=0, root=tmp_path_factory.mktemp("histogan-data"), show_progress=False)
