"""Exercise checks and the student/instructor notebook versions."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

import nbformat
import numpy as np
import pytest
import torch

from conftest import BOOK, CHAPTERS, ROOT
from histogan_lite.exercises import CORRECT, NOT_YET, check

sys.path.insert(0, str(ROOT / "tools"))
from make_student_notebooks import student_version  # noqa: E402


def test_check_verdicts(capsys):
    assert check("x", 0.5, 0.5) is True
    assert CORRECT in capsys.readouterr().out
    assert check("x", None, 0.5) is False
    assert "still empty" in capsys.readouterr().out
    assert check("x", ..., 0.5) is False
    assert check("x", 0.6, 0.5, hint="divide by the patch area") is False
    out = capsys.readouterr().out
    assert NOT_YET in out and "divide by the patch area" in out
    assert check("shape", np.zeros((2, 3)), np.zeros((3, 2))) is False
    assert "shape" in capsys.readouterr().out
    assert check("tensor", torch.ones(3), np.ones(3)) is True
    assert check("word", "positive", "positive") is True
    assert check("flag", False, True) is False
    assert check("strings in a numeric answer", ["a"], [1.0]) is False


def _none_assignments(source: str) -> list[str]:
    """Names a cell sets to ``None`` (``x = None`` or ``x, y = None, None``)."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign):
            value = node.value
            values = value.elts if isinstance(value, ast.Tuple) else [value]
            targets = node.targets[0].elts if isinstance(node.targets[0], ast.Tuple) else [node.targets[0]]
            for t, v in zip(targets, values):
                if isinstance(t, ast.Name) and isinstance(v, ast.Constant) and v.value is None:
                    names.append(t.id)
    return names


def _exercises(nb):
    """(stub, solution, check) cell triples of a notebook."""
    cells = nb.cells
    triples = []
    for i, c in enumerate(cells):
        if "exercise" in c.metadata.get("tags", []):
            sol = cells[i + 1]
            chk = cells[i + 2]
            triples.append((c, sol, chk))
    return triples


@pytest.mark.parametrize("stem", CHAPTERS)
def test_every_chapter_has_a_checked_coding_exercise(stem):
    nb = nbformat.read(str(BOOK / f"{stem}.ipynb"), as_version=4)
    triples = _exercises(nb)
    assert triples, f"{stem} has no coding exercise (cell tagged 'exercise')"
    for stub, sol, chk in triples:
        assert {"solution", "hide-input"} <= set(sol.metadata.get("tags", [])), "solution follows the stub, hidden"
        assert "check(" in chk.source, "a check cell follows the solution"
        # the untouched stub leaves every answer None (check() then says "Not yet"), and the check
        # cell looks at one of those answers
        answers = _none_assignments(stub.source)
        assert answers, f"{stem}: the stub must assign None to the answer: {stub.source!r}"
        assert any(re.search(rf"\b{re.escape(a)}\b", chk.source) for a in answers), f"{stem}: check ignores {answers}"
        assert check("stub", None, 1.0) is False
    student = student_version(nb)
    assert not any("solution" in c.metadata.get("tags", []) for c in student.cells)
    assert len(student.cells) == len(nb.cells) - len(triples)


@pytest.mark.slow
@pytest.mark.parametrize("stem", CHAPTERS)
def test_solutions_pass_their_checks_in_the_executed_chapter(stem, executed_book):
    folder, results = executed_book
    if results[stem] is not None:
        pytest.fail(f"{stem} failed to execute: {results[stem]}")
    nb = nbformat.read(str(folder / "book" / f"{stem}.ipynb"), as_version=4)
    for _, _, chk in _exercises(nb):
        text = "".join(o.get("text", "") for o in chk.outputs if o.get("output_type") == "stream")
        assert CORRECT in text and NOT_YET not in text, f"{stem}: check did not pass with the solution: {text!r}"


@pytest.mark.slow
def test_student_version_runs_and_reports_not_yet(tmp_path):
    """The generated student version of Chapter 2 executes end to end and each check says 'Not yet'."""
    papermill = pytest.importorskip("papermill")
    out = tmp_path / "labs"
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_student_notebooks.py"), "--out", str(out)], check=True)
    src = out / "student" / "02_gans.ipynb"
    done = tmp_path / "02_student_run.ipynb"
    papermill.execute_notebook(str(src), str(done), cwd=str(BOOK), kernel_name="python3", progress_bar=False)
    nb = nbformat.read(str(done), as_version=4)
    checks = [c for c in nb.cells if c.cell_type == "code" and "check(" in c.source]
    assert checks
    for c in checks:
        text = "".join(o.get("text", "") for o in c.outputs if o.get("output_type") == "stream")
        assert NOT_YET in text, text
