"""Link the first use of each glossary term in every chapter to the glossary (book/glossary.md).

Idempotent: a term already linked in a chapter (``{term}`...```) is left alone. Text inside code
spans, math, links, roles, headings, code fences, directive lines and tables is never touched.

Usage: ``.venv/bin/python tools/link_glossary.py`` (``tests/test_notebooks.py`` checks that a run
would add nothing, i.e. every chapter links the first use of each term it uses).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]

# (pattern for the text in a chapter, glossary term it links to); first match per chapter is linked
TERMS = [
    (r"whole-slide images?", "Whole-slide image"),
    (r"\bWSIs?\b", "WSI"),
    (r"pyramid levels?", "Pyramid level"),
    (r"\bdownsamples?\b", "Downsample"),
    (r"\bH&E\b", "H&E"),
    (r"\bmetastas[ie]s\b", "Metastasis"),
    (r"\bannotations?\b", "Annotation"),
    (r"\btissue masks?\b", "Tissue mask"),
    (r"\bpatch(?:es)?\b", "Patch"),
    (r"\bGANs?\b", "GAN"),
    (r"\bgenerator\b", "Generator"),
    (r"\bdiscriminator\b", "Discriminator"),
    (r"\blatent vectors?\b", "Latent vector"),
    (r"\blatent space\b", "Latent space"),
    (r"\bDCGAN\b", "DCGAN"),
    (r"\bcDCGAN\b", "cDCGAN"),
    (r"\breverse search\b", "Reverse search"),
    (r"\b(?:one-sided )?label smoothing\b", "One-sided label smoothing"),
    (r"\binstance noise\b", "Instance noise"),
    (r"\bPSNR\b", "PSNR"),
    (r"\bGrad-CAM\b", "Grad-CAM"),
    (r"\bInception[ -]?V3\b", "Inception V3"),
]
PROTECTED = re.compile(
    r"(\{[a-z:-]+\}`[^`]*`|``[^`]*``|`[^`]*`|\$\$.*?\$\$|\$[^$\n]*\$|!?\[[^\]]*\]\([^)]*\)|<[^>]+>|https?://\S+)",
    re.S,
)
SKIP_LINE = ("#", "```", ":::", "|", "    ")


def _link_first(source: str, pattern: str, term: str) -> tuple[str, bool]:
    """Link the first unprotected match of ``pattern`` in ``source``; return (new source, linked?)."""
    rx = re.compile(pattern, re.IGNORECASE if pattern.islower() else 0)  # capitals in a pattern: match case
    out, done, in_fence = [], False, False
    for line in source.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
        if done or in_fence or stripped.startswith(SKIP_LINE) or line.startswith(SKIP_LINE[-1]):
            out.append(line)
            continue
        pieces = PROTECTED.split(line)
        for i in range(0, len(pieces), 2):  # even pieces are plain text
            m = rx.search(pieces[i])
            if m:
                text = m.group(0)
                pieces[i] = pieces[i][: m.start()] + f"{{term}}`{text} <{term}>`" + pieces[i][m.end():]
                done = True
                break
        out.append("".join(pieces))
    return "\n".join(out), done


def link_notebook(path: Path) -> int:
    """Link first uses in one notebook in place; returns how many links were added."""
    nb = nbformat.read(str(path), as_version=4)
    added = 0
    text_all = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for pattern, term in TERMS:
        if f"<{term}>`" in text_all:
            continue
        for cell in nb.cells:
            if cell.cell_type != "markdown":
                continue
            new, linked = _link_first(cell.source, pattern, term)
            if linked:
                cell.source = new
                added += 1
                break
    if added:
        nbformat.write(nb, str(path))
    return added


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)
    for path in sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")):
        print(f"{path.name}: {link_notebook(path)} glossary links added")
    return 0


if __name__ == "__main__":
    sys.exit(main())
