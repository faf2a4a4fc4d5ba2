"""The repository address in one place, and everything Colab needs derived from it.

The one place is ``pyproject.toml``, ``[project.urls] Repository`` (a ``https://github.com/OWNER/NAME``
address: Colab opens notebooks from GitHub). The branch is ``repository.branch`` of ``_config.yml``
(Jupyter Book's own setting). From these two this tool writes:

* ``_config.yml`` ``repository.url``: Jupyter Book's launch buttons open
  ``https://colab.research.google.com/github/OWNER/NAME/blob/BRANCH/book/CHAPTER.ipynb``;
* the setup cell (the first code cell) of every chapter in ``book/``: on Colab only, ``%pip install``
  the package with its ``colab`` extra from ``git+ADDRESS@BRANCH``; anywhere else it installs nothing;
* the "Open in Colab" links of ``README.md``.

``tools/notebook_template.py`` takes its setup cell from :func:`setup_cell_source`, and
``tests/test_colab.py`` checks that all of these agree with ``pyproject.toml``.

Usage (from the repository root; after changing the address in ``pyproject.toml``)::

    .venv/bin/python tools/colab_setup.py           # rewrite the places above
    .venv/bin/python tools/colab_setup.py --check   # exit 1 and list each place that disagrees
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
COLAB_EXTRA = "colab"
COLAB_BASE = "https://colab.research.google.com/github"
_GITHUB = re.compile(r"^https://github\.com/(?P<owner>[A-Za-z0-9_.-]+)/(?P<name>[A-Za-z0-9_.-]+)$")
_README_LINK = re.compile(r"https://colab\.research\.google\.com/github/[^/\s)]+/[^/\s)]+/blob/[^/\s)]+/")
SETUP_MARK = '"google.colab" in sys.modules'


def project(root: Path = ROOT) -> dict:
    """``[project]`` of ``root/pyproject.toml``."""
    return tomllib.loads((Path(root) / "pyproject.toml").read_text())["project"]


def repository(root: Path = ROOT) -> tuple[str, str]:
    """``(address, branch)``: ``[project.urls] Repository`` of pyproject and ``repository.branch`` of _config.yml.

    Raises:
        ValueError: no ``Repository`` URL in pyproject, or one that is not ``https://github.com/OWNER/NAME``.
    """
    urls = project(root).get("urls", {})
    url = str(urls.get("Repository", "")).rstrip("/")
    if not _GITHUB.match(url):
        raise ValueError(
            f"{Path(root) / 'pyproject.toml'}: [project.urls] Repository must be https://github.com/OWNER/NAME "
            f"(Colab opens notebooks from GitHub), got {url!r}"
        )
    config = yaml.safe_load((Path(root) / "_config.yml").read_text())
    branch = str((config.get("repository") or {}).get("branch", "main"))
    return url, branch


def colab_link(url: str, branch: str, path: str) -> str:
    """The address that opens ``path`` (relative to the repository root) of ``url@branch`` in Colab."""
    m = _GITHUB.match(url.rstrip("/"))
    if not m:
        raise ValueError(f"not a GitHub repository address: {url!r}")
    return f"{COLAB_BASE}/{m['owner']}/{m['name']}/blob/{branch}/{path}"


def pip_requirement(name: str, url: str, branch: str) -> str:
    """``NAME[colab] @ git+URL@BRANCH``: the package and its Colab extra, from the repository."""
    return f"{name}[{COLAB_EXTRA}] @ git+{url}@{branch}"


def setup_cell_source(root: Path = ROOT) -> str:
    """The source of every chapter's setup cell, from pyproject's address and name."""
    url, branch = repository(root)
    requirement = pip_requirement(project(root)["name"], url, branch)
    return f'''# Setup: on Google Colab only, install histogan-lite from the repository named in pyproject.toml, with
# the real-data readers (OpenSlide, h5py, tifffile: core dependencies) and its "{COLAB_EXTRA}" extra (torchvision,
# for Chapter 6's Inception V3). Anywhere else this installs nothing: a local or offline run uses the
# package that `make book` / `make test` put in .venv.
import sys

IN_COLAB = {SETUP_MARK}
if IN_COLAB:
    %pip install --quiet "{requirement}"'''


def _config_url(text: str) -> str | None:
    block = re.search(r"^repository:\n((?:[ \t]+.*\n?)*)", text, re.M)
    m = re.search(r"^[ \t]+url:[ \t]*(\S+)", block.group(1), re.M) if block else None
    return m.group(1) if m else None


def _chapters(root: Path) -> list[Path]:
    return sorted((Path(root) / "book").glob("[0-9][0-9]_*.ipynb"))


def _setup_cell(nb) -> "nbformat.NotebookNode | None":
    code = [c for c in nb.cells if c.cell_type == "code"]
    return code[0] if code and SETUP_MARK in code[0].source else None


def problems(root: Path = ROOT) -> list[str]:
    """Every place that disagrees with pyproject's address (empty list: all agree)."""
    root = Path(root)
    url, branch = repository(root)
    found = []
    extras = project(root).get("optional-dependencies", {})
    if COLAB_EXTRA not in extras:
        found.append(f"pyproject.toml: no [project.optional-dependencies] {COLAB_EXTRA!r} extra for the setup cells")
    got = _config_url((root / "_config.yml").read_text())
    if (got or "").rstrip("/") != url:
        found.append(f"_config.yml: repository.url is {got!r}, pyproject says {url!r}")
    want = setup_cell_source(root)
    for path in _chapters(root):
        cell = _setup_cell(nbformat.read(str(path), as_version=4))
        if cell is None:
            found.append(f"{path.relative_to(root)}: the first code cell is not the Colab setup cell")
        elif cell.source != want:
            found.append(f"{path.relative_to(root)}: setup cell differs from tools/colab_setup.py's")
    readme = (root / "README.md").read_text()
    prefix = colab_link(url, branch, "")
    for link in sorted(set(_README_LINK.findall(readme))):
        if link != prefix:
            found.append(f"README.md: Colab link {link} should start {prefix}")
    return found


def sync(root: Path = ROOT) -> list[Path]:
    """Rewrite the places derived from pyproject's address; returns the files changed."""
    root = Path(root)
    url, branch = repository(root)
    changed = []
    cfg = root / "_config.yml"
    text = cfg.read_text()
    if _config_url(text) is None:
        raise ValueError(f"{cfg}: no `url:` line in a `repository:` block to update")
    new = re.sub(r"(^repository:\n(?:[ \t]+.*\n)*?[ \t]+url:[ \t]*)\S+", lambda m: m.group(1) + url, text,
                 count=1, flags=re.M)
    if new != text:
        cfg.write_text(new)
        changed.append(cfg)
    want = setup_cell_source(root)
    for path in _chapters(root):
        nb = nbformat.read(str(path), as_version=4)
        cell = _setup_cell(nb)
        if cell is None:
            raise ValueError(f"{path}: the first code cell is not the Colab setup cell ({SETUP_MARK!r})")
        if cell.source != want:
            cell.source = want
            path.write_text(nbformat.writes(nb) + "\n")
            changed.append(path)
    readme = root / "README.md"
    text = readme.read_text()
    new = _README_LINK.sub(colab_link(url, branch, ""), text)
    if new != text:
        readme.write_text(new)
        changed.append(readme)
    return changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this checkout)")
    parser.add_argument("--check", action="store_true", help="only report disagreements (exit 1 if any)")
    args = parser.parse_args(argv)
    if args.check:
        found = problems(args.root)
        for line in found:
            print(line)
        return 1 if found else 0
    for path in sync(args.root):
        print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
