"""The chapter notebooks: shared structure, small committed size, and a papermill run with new parameters.

nbval (``pytest --nbval-lax book``, run by ``make test``) executes every notebook as committed; the
papermill tests here execute each chapter again with *injected* parameters, proving that the cell
tagged ``parameters`` really drives the chapter.
"""

from __future__ import annotations

import ast
import json
import re

import nbformat
import pytest
import yaml

from conftest import BOOK, CHAPTERS, ROOT

MAX_NOTEBOOK_BYTES = 200_000


def _toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part["chapters"]]
    return files


def _read(stem):
    return nbformat.read(str(BOOK / f"{stem}.ipynb"), as_version=4)


def test_toc_lists_intro_six_chapters_in_order_then_back_matter():
    files = _toc_files()
    assert files[0] == "book/intro"
    assert files[1:7] == [f"book/{c}" for c in CHAPTERS]
    assert "book/references" in files[7:] and "book/disclaimer" in files[7:]
    for f in files:
        assert (ROOT / f"{f}.ipynb").exists() or (ROOT / f"{f}.md").exists(), f


def _assert_setup_installs_this_repository(source: str) -> None:
    """The Colab cell installs this package (name from pyproject) from the book's repository.url."""
    import tomllib

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]["url"].rstrip("/")
    name = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    branch = config["repository"].get("branch", "main")
    lines = [ln.strip() for ln in source.splitlines()]
    guard = lines.index('if IN_COLAB:')
    pip = [ln for ln in lines[guard + 1 :] if "pip install" in ln]
    assert len(pip) == 1 and pip[0].startswith("%pip install"), "one %pip line, inside the Colab guard"
    assert f'"{name}[colab] @ git+{repo}@{branch}"' in pip[0], f"installs {name}[colab] from {repo}@{branch}: {pip[0]}"


def test_colab_setup_cell_would_do_nothing_outside_colab():
    """Executed here (no google.colab module), the setup cell installs nothing."""
    nb = _read(CHAPTERS[0])
    source = nb.cells[1].source.replace("%pip", "raise AssertionError  # would run: pip")
    namespace = {}
    exec(compile(source, "setup-cell", "exec"), namespace)
    assert namespace["IN_COLAB"] is False


@pytest.mark.parametrize("stem", CHAPTERS)
def test_chapter_opening_and_closing(stem):
    nb = _read(stem)
    nbformat.validate(nb)
    cells = nb.cells
    first = cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "chapter must open with its title"
    assert "Learning objectives" in first.source
    assert re.search(r"Estimated time.*CPU.*GPU", first.source, re.S)
    setup = cells[1]
    assert setup.cell_type == "code" and '"google.colab" in sys.modules' in setup.source
    assert "pip install" in setup.source and "git+https://github.com/" in setup.source
    _assert_setup_installs_this_repository(setup.source)
    params = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    values = {}
    for node in ast.parse(params[0].source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = ast.literal_eval(node.value)
    assert values.get("fast") is True, "committed notebooks default to fast = True"
    assert isinstance(values.get("seed"), int)
    assert values.get("device") == "auto"
    headings = [c.source.splitlines()[0] for c in cells if c.cell_type == "markdown" and c.source]
    assert any(h.startswith("## Summary") for h in headings), "chapter ends with a summary"
    assert any(h.startswith("## Exercises") for h in headings), "chapter has exercises"
    summary_at = max(i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.startswith("## Summary"))
    assert summary_at >= len(cells) - 8, "the summary comes at the end"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_committed_notebook_is_small_and_has_no_widget_state(stem):
    path = BOOK / f"{stem}.ipynb"
    assert path.stat().st_size < MAX_NOTEBOOK_BYTES, f"{path} is {path.stat().st_size} bytes; strip outputs"
    raw = json.loads(path.read_text())
    assert "widgets" not in raw.get("metadata", {}), f"{path} carries widget state metadata"
    for cell in raw["cells"]:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", f"{path} has an error output committed"
            assert "application/vnd.jupyter.widget-view+json" not in out.get("data", {}), f"{path} stores widget views"


@pytest.mark.slow
@pytest.mark.parametrize("stem", CHAPTERS)
def test_chapter_runs_with_injected_parameters(stem, executed_book):
    folder, results = executed_book
    if results[stem] is not None:
        raise results[stem]
    nb = nbformat.read(str(folder / "book" / f"{stem}.ipynb"), as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "seed = 1" in injected[0].source and 'device = "cpu"' in injected[0].source
    params_at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    assert nb.cells[params_at + 1] is injected[0], "papermill injects right after the parameters cell"
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    executed = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in executed), "every code cell ran"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_first_uses_link_to_the_glossary(stem, tmp_path):
    import shutil
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    from link_glossary import TERMS, link_notebook

    copy = tmp_path / f"{stem}.ipynb"
    shutil.copy(BOOK / f"{stem}.ipynb", copy)
    assert link_notebook(copy) == 0, f"{stem} has glossary terms whose first use is not linked (run tools/link_glossary.py)"
    glossary = (BOOK / "glossary.md").read_text()
    text = "\n".join(c.source for c in _read(stem).cells if c.cell_type == "markdown")
    targets = set(re.findall(r"\{term\}`[^`<]*<([^>]+)>`", text))
    assert targets, f"{stem} links no glossary term"
    known = {t for _, t in TERMS}
    for target in targets:
        assert target in known and f"\n{target}\n" in glossary, f"{stem}: {target!r} is not a glossary term"
