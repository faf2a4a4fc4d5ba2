"""Sphinx extension: drop duplicate inline ``<script>`` blocks from each page.

sphinx-thebe (bundled with Jupyter Book 1) registers its configuration snippet
``const THEBE_JS_URL = ...`` once per notebook page, so later pages carry it twice and the browser
reports ``Identifier 'THEBE_JS_URL' has already been declared``. The book does not use Thebe (its
launch buttons go to Colab), but the snippet still runs; keeping only the first copy of each identical
script removes the console error without touching the theme.
"""

from __future__ import annotations


def _dedupe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        # the same snippet can come with filename None or '' (sphinx-thebe adds it both ways)
        name = getattr(js, "filename", js) or ""
        key = (str(name), tuple(sorted((k, str(v)) for k, v in getattr(js, "attributes", {}).items())))
        if key in seen:
            continue
        seen.add(key)
        kept.append(js)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _dedupe, priority=999)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
