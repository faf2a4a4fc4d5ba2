"""Generate student and instructor versions of every chapter from the one source in book/.

The committed notebooks in ``book/`` are the single source. Each coding exercise there has a stub
cell (tag ``exercise``), a solution cell (tags ``solution``, ``hide-input``) and a check cell that
calls ``histogan_lite.exercises.check``.

* **instructor** version: the notebook as committed (solutions kept), outputs cleared.
* **student** version: solution cells removed, so each check reports "Not yet" until the learner
  fills the stub; conceptual answers in ``{dropdown}`` blocks are kept (they are folded in the book).

Usage: ``.venv/bin/python tools/make_student_notebooks.py --out labs/`` writes
``labs/student/NN_x.ipynb`` and ``labs/instructor/NN_x.ipynb``.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def _clear(nb):
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    return nb


def student_version(nb):
    """Copy of ``nb`` without its solution cells (tag ``solution``), outputs cleared."""
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if "solution" not in c.metadata.get("tags", [])]
    return _clear(nb)


def instructor_version(nb):
    """Copy of ``nb`` with solutions kept, outputs cleared."""
    return _clear(copy.deepcopy(nb))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--book", type=Path, default=ROOT / "book", help="folder of the source notebooks")
    parser.add_argument("--out", type=Path, required=True, help="output folder (student/ and instructor/ inside)")
    args = parser.parse_args(argv)
    sources = sorted(args.book.glob("[0-9][0-9]_*.ipynb"))
    if not sources:
        raise SystemExit(f"no chapter notebooks (NN_name.ipynb) found in {args.book}")
    for src in sources:
        nb = nbformat.read(str(src), as_version=4)
        for kind, make in (("student", student_version), ("instructor", instructor_version)):
            dest = args.out / kind / src.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_suffix(".tmp")
            nbformat.write(make(nb), str(tmp))
            tmp.replace(dest)
        print(f"{src.name}: student and instructor versions written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
