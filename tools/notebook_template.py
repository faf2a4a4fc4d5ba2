"""Create a chapter notebook with the book's standard opening and closing cells.

Every chapter starts the same way: title, learning objectives, estimated time on CPU and GPU, a setup
cell that installs the package only on Colab, and a cell tagged ``parameters`` (``fast``, ``seed``,
``device``). It ends with a summary and exercises. Authors fill the middle.

Usage (from the repository root)::

    .venv/bin/python tools/notebook_template.py book/07_new.ipynb --title "7. New chapter"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

sys.path.insert(0, str(Path(__file__).resolve().parent))
from colab_setup import setup_cell_source  # noqa: E402

# The setup cell comes from the repository address in pyproject.toml (one place; see tools/colab_setup.py).
SETUP_SOURCE = setup_cell_source()

PARAMETERS_SOURCE = '''fast = True  # True: the quick version (book build, CI); False: the full lab
seed = 0  # seed for every random draw in this chapter
device = "auto"  # "auto", "cpu", "cuda" or "mps"'''


def opening_cells(title: str, objectives: list[str], cpu_time: str, gpu_time: str) -> list:
    goals = "\n".join(f"- {o}" for o in objectives)
    intro = (
        f"# {title}\n\n"
        f"**Learning objectives.** After this chapter you can:\n\n{goals}\n\n"
        f"**Estimated time.** {cpu_time} on a laptop CPU with `fast = True`; {gpu_time} on a GPU with "
        "`fast = False`."
    )
    params = new_code_cell(PARAMETERS_SOURCE)
    params.metadata["tags"] = ["parameters"]
    return [new_markdown_cell(intro), new_code_cell(SETUP_SOURCE), params]


def closing_cells(summary: list[str], exercises: list[str]) -> list:
    text = "## Summary\n\n" + "\n".join(f"- {s}" for s in summary)
    ex = "## Exercises\n\n" + "\n".join(f"{i}. {e}" for i, e in enumerate(exercises, 1))
    return [new_markdown_cell(text), new_markdown_cell(ex)]


def write_notebook(path: Path, cells: list) -> None:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.validate(nb)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path)
    parser.add_argument("--title", required=True)
    args = parser.parse_args()
    if args.path.exists():
        raise SystemExit(f"{args.path} exists; refusing to overwrite it")
    cells = opening_cells(args.title, ["..."], "5 minutes", "15 minutes")
    cells += closing_cells(["..."], ["..."])
    write_notebook(args.path, cells)


if __name__ == "__main__":
    main()
