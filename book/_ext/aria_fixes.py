"""Sphinx extension: two accessibility fixes to HTML that docutils and MyST-NB generate (not the theme).

Both are plain text substitutions in each page's body (``html-page-context``), changing nothing else:

1. **Bibliography entries are list items.** docutils' HTML5 writer (0.21) wraps a bibliography in
   ``<div role="list">`` and gives each entry ``role="doc-biblioentry"``. WAI-ARIA 1.3 / DPUB-ARIA 1.1
   deprecate that role (use ``listitem``), so browsers and axe-core no longer count the entries as list
   items; the list then holds only the entries' links (axe: critical ``aria-required-children`` on the
   References page). Each entry gets ``role="listitem"``.
2. **A hidden code cell's toggle is named by its visible text.** MyST-NB renders a ``hide-input`` cell as
   ``<details><summary aria-label="Toggle hidden content">Show code cell source</summary>``: a screen
   reader announces "Toggle hidden content" while the page says "Show code cell source", and speech
   control users cannot say what they see (WCAG 2.5.3; axe: serious ``label-content-name-mismatch`` on
   every chapter). The ``aria-label`` is dropped, so the summary's own text names it.
"""

from __future__ import annotations

FIXES = (
    (' role="doc-biblioentry"', ' role="listitem"'),
    ('<summary aria-label="Toggle hidden content">', "<summary>"),
)


def _fix(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if not isinstance(body, str):
        return
    for old, new in FIXES:
        if old in body:
            body = body.replace(old, new)
    context["body"] = body


def setup(app):
    app.connect("html-page-context", _fix)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
