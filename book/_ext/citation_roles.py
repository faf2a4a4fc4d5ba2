"""Sphinx extension: bibliography entries are list items for assistive technology.

docutils' HTML5 writer (0.21) wraps the entries of a bibliography in ``<div role="list">`` and gives each
entry ``role="doc-biblioentry"``. WAI-ARIA 1.3 / DPUB-ARIA 1.1 deprecate that role (use ``listitem``), so
browsers and axe-core no longer count the entries as list items: the list then holds only the entries'
links, which axe reports as a critical ``aria-required-children`` violation on the References page. This
extension writes ``role="listitem"`` instead, in the HTML of each page, changing nothing else.
"""

from __future__ import annotations

DEPRECATED = ' role="doc-biblioentry"'
REPLACEMENT = ' role="listitem"'


def _fix_roles(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if isinstance(body, str) and DEPRECATED in body:
        context["body"] = body.replace(DEPRECATED, REPLACEMENT)


def setup(app):
    app.connect("html-page-context", _fix_roles)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
