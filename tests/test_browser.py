"""The rendered book in a real browser (headless Chromium driven by Playwright), offline.

The HTML book is built from the papermill-executed chapters (``executed_book`` fixture, so chapters
are not executed a third time), served on 127.0.0.1, and opened with every request to any other
address blocked. Each chapter page must load without console errors, show every figure (image
present, decoded, non-empty), render its math with the local MathJax, and have internal links that
resolve; Chapter 5's static sliders must change the displayed frame when moved. Screenshots of each
chapter go to ``_build/screenshots/`` for a person to look at.

Accessibility, on every page of the book (the pages of ``_toc.yml``, the index and the search page):
each figure's ``alt`` must say what it shows, never a file name or path (``book/_ext/figure_alt.py``
writes them), and axe-core (pinned in ``tools/axe/package-lock.json``, installed from the npm registry
by ``tools/ensure_axe.sh``, which ``tools/ensure_chromium.sh`` runs) must find no serious or critical
violation. A one-notebook scratch book checks the alt mechanism and shows that both checks fail on a
page that breaks them.

Set ``HISTOGAN_BOOK_HTML=<folder>`` to check an HTML book you already built (``make book`` gives
``_build/html``) instead of executing the chapters and building one.

Skips, with the reason, only when Chromium is not installed (``tools/ensure_chromium.sh`` installs
Debian's package when run as root) or Playwright is missing; a missing axe-core fails.
"""

from __future__ import annotations

import contextlib
import functools
import html.parser
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urljoin, urlparse

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from conftest import CHAPTERS, ROOT, write_scratch_book_config

SCREENSHOTS = ROOT / "_build" / "screenshots"
sys.path.insert(0, str(ROOT / "book" / "_ext"))
from figure_alt import is_file_name_alt  # noqa: E402  (the book's own rule for an alt that says nothing)

AXE_JS = ROOT / "tools" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# Impacts that fail the test (axe's scale: minor, moderate, serious, critical).
AXE_FAILING = ("serious", "critical")
# Violations axe may report on the theme's own elements (CSS selectors), per rule, each with the reason.
# Nothing else is excused: the rule still runs on every other element, and no rule is switched off.
AXE_THEME_EXCEPTIONS: dict[str, tuple[str, ...]] = {
    # pydata-sphinx-theme 0.17 (under sphinx-book-theme 1.3) renders its search button as
    # <button aria-label="Search">Search Ctrl+K</button> and its colour-mode button with aria-label
    # "Color mode" over icon labels: the visible text is not part of the accessible name (WCAG 2.5.3).
    # Both come from the theme's templates (search-button-field.html, theme-switcher.html), not from the book.
    "label-content-name-mismatch": (".search-button__button", ".theme-switch-button"),
}


def _book_pages() -> list[str]:
    """Every HTML page of the book, relative to its root: the pages of ``_toc.yml``, the index and search."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]):
        files += [c["file"] for c in part.get("chapters", [])]
    return [f"{f}.html" for f in files] + ["genindex.html", "search.html"]


PAGES = _book_pages()


def _chromium() -> str:
    for exe in ("chromium", "chromium-browser"):
        path = shutil.which(exe)
        if path:
            return path
    pytest.skip("Chromium is not installed (run tools/ensure_chromium.sh as root to install Debian's chromium)")


@pytest.fixture(scope="module")
def built_html(request):
    given = os.environ.get("HISTOGAN_BOOK_HTML")
    if given:
        html_dir = Path(given).resolve()
        if not (html_dir / "index.html").is_file():
            pytest.fail(f"HISTOGAN_BOOK_HTML={given}: no index.html there; build the book first (make book)")
        return html_dir
    folder, results = request.getfixturevalue("executed_book")
    failed = [stem for stem, exc in results.items() if exc is not None]
    if failed:
        pytest.fail(f"chapters failed to execute, the book cannot be checked: {failed}")
    config = folder / "_config.yml"
    text = config.read_text().replace("execute_notebooks: force", "execute_notebooks: \"off\"")
    text = text.replace(": book/_ext", f": {folder / 'book' / '_ext'}")
    config.write_text(text)
    jb = Path(sys.executable).parent / "jupyter-book"
    proc = subprocess.run([str(jb), "build", str(folder)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    html = folder / "_build" / "html"
    assert (html / "index.html").is_file()
    return html


@contextlib.contextmanager
def _serve(folder: Path):
    """Serve ``folder`` on 127.0.0.1 (a free port); yields the root URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def server(built_html):
    with _serve(built_html) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    exe = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=exe,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


def figure_alt_problems(page) -> list[str]:
    """The images in the page's main content whose alt says nothing: missing, empty, a file name or path."""
    images = page.evaluate(
        """() => Array.from(document.querySelectorAll('main img')).map(i => ({
            src: i.getAttribute('src') || '', current: i.currentSrc || i.src || '', alt: i.getAttribute('alt')}))"""
    )
    return [
        f"{i['src'][:80]}: alt {i['alt']!r}"
        for i in images
        if is_file_name_alt(i["alt"], i["src"]) or is_file_name_alt(i["alt"], i["current"])
    ]


def axe_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each (rule, impact, first nodes)."""
    if not AXE_JS.is_file():
        pytest.fail(
            f"axe-core is not installed ({AXE_JS} missing): run `bash tools/ensure_axe.sh` "
            "(installs the version pinned in tools/axe/package-lock.json with npm)"
        )
    page.add_script_tag(content=AXE_JS.read_text(encoding="utf-8"))
    found = page.evaluate(
        """async (excused) => {
            const r = await axe.run(document, {resultTypes: ['violations'], elementRef: true});
            const isExcused = (rule, n) => (excused[rule] || []).some(sel => n.element && n.element.matches(sel));
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.filter(n => !isExcused(v.id, n))
                    .map(n => n.target.join(' ') + ' ' + (n.failureSummary || '').split('\\n')[1])}))
                .filter(v => v.nodes.length > 0);
        }""",
        AXE_THEME_EXCEPTIONS,
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']}; {len(v['nodes'])} element(s), e.g. {v['nodes'][:3]}"
        for v in found
        if v["impact"] in AXE_FAILING
    ]


def _open(browser, url):
    """Open ``url`` with every non-loopback request blocked; return (page, console errors, outside requests)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    outside, errors = [], []

    def route(r):
        host = urlparse(r.request.url).hostname or ""
        if r.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    return context, page, errors, outside


@pytest.mark.slow
@pytest.mark.parametrize("stem", CHAPTERS)
def test_chapter_page_renders_offline(stem, server, browser, built_html):
    url = urljoin(server, f"book/{stem}.html")
    context, page, errors, outside = _open(browser, url)
    try:
        assert page.title(), "page has a title"
        assert page.locator("h1").count() >= 1
        images = page.evaluate(
            """() => Array.from(document.querySelectorAll('main img')).map(i => ({
                src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0 && i.naturalHeight > 0,
                alt: i.getAttribute('alt')}))"""
        )
        assert len(images) >= 2, f"{stem} shows {len(images)} figure(s); its plots did not render"
        broken = [i["src"][:120] for i in images if not i["ok"]]
        assert not broken, f"images missing or not decoded: {broken}"
        bad_alt = figure_alt_problems(page)
        assert not bad_alt, f"figures on {stem} whose alt text is missing or a file name: {bad_alt}"
        tex = page.evaluate("() => document.querySelectorAll('main .math, main span.math, main div.math').length")
        if tex:
            page.wait_for_function("() => document.querySelectorAll('mjx-container').length > 0", timeout=20_000)
        links = page.evaluate("() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
        for href in links:
            parsed = urlparse(href)
            if parsed.hostname in ("127.0.0.1", "localhost") and parsed.path:
                target = built_html / parsed.path.lstrip("/")
                if parsed.path.endswith("/"):
                    target = target / "index.html"
                assert target.exists(), f"internal link {href} from {stem} does not resolve"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{stem}.png"), full_page=False)
        assert not errors, f"console errors on {stem}: {errors}"
        assert not outside, f"{stem} asked for outside addresses: {outside[:5]}"
    finally:
        context.close()


@pytest.mark.slow
def test_equations_render_with_local_mathjax(server, browser):
    context, page, errors, outside = _open(browser, urljoin(server, "book/02_gans.html"))
    try:
        src = page.evaluate("() => Array.from(document.scripts).map(s => s.src).filter(s => s.includes('mathjax'))")
        assert src and all(urlparse(s).hostname == "127.0.0.1" for s in src), src
        page.wait_for_function("() => document.querySelectorAll('mjx-container').length > 0", timeout=20_000)
        assert page.locator("mjx-container").count() >= 4, "the chapter's equations (1)-(4) are typeset"
        assert not outside
    finally:
        context.close()


@pytest.mark.slow
def test_static_sliders_change_the_frame(server, browser):
    context, page, errors, outside = _open(browser, urljoin(server, "book/05_latent_editing.html"))
    try:
        sliders = page.locator(".histogan-slider")
        assert sliders.count() >= 1, "Chapter 5 shows at least one static slider"
        for i in range(sliders.count()):
            slider = sliders.nth(i)
            slider.scroll_into_view_if_needed()
            rng = slider.locator("input[type=range]")
            img = slider.locator("img")
            before, alt_before = img.get_attribute("src"), img.get_attribute("alt")
            top = rng.get_attribute("max")
            rng.fill(top)  # sets the value and fires input/change
            after, alt_after = img.get_attribute("src"), img.get_attribute("alt")
            assert after != before, f"slider {i} did not change the displayed frame"
            assert alt_after != alt_before and not is_file_name_alt(alt_after, after), (alt_before, alt_after)
        page.screenshot(path=str(SCREENSHOTS / "05_latent_editing_slider.png"))
        assert not errors, errors
    finally:
        context.close()


@pytest.mark.slow
@pytest.mark.parametrize("page_path", PAGES)
def test_every_page_has_real_alt_text_and_no_serious_axe_violation(page_path, server, browser, built_html):
    if not (built_html / page_path).is_file():
        pytest.fail(f"{page_path} was not built (pages come from _toc.yml)")
    context, page, errors, outside = _open(browser, urljoin(server, page_path))
    try:
        bad_alt = figure_alt_problems(page)
        assert not bad_alt, f"figures on {page_path} whose alt text is missing or a file name: {bad_alt}"
        violations = axe_violations(page)
        assert not violations, f"axe-core on {page_path}:\n" + "\n".join(violations)
    finally:
        context.close()


# --- the mechanism, on a one-notebook scratch book (seconds to build, not the six chapters) -------------

SCRATCH_CELLS = [
    ("md", "# Alt text"),
    ("code", "import numpy as np\nimport histogan_lite  # before pyplot: its hook must still catch the next cell"),
    ("md", "## Titled figures"),
    (
        "code",
        "import matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots(figsize=(2, 2))\n"
        "ax.plot([0, 1], [1, 0])\n"
        "ax.set_title('D loss')\n"
        "ax.set_xlabel('step')\n"
        "fig.suptitle('Losses');",
    ),
    (
        "code",
        "from histogan_lite.plotting import image_grid\n"
        "image_grid(np.zeros((2, 4, 4, 3), dtype=np.uint8), nrow=1, col_titles=['a', 'b'], title='Grid');",
    ),
    ("md", "## Untitled figures"),
    (
        "code",
        "fig, ax = plt.subplots(figsize=(2, 2))\nax.imshow(np.zeros((4, 4, 3), dtype=np.uint8))\nax.axis('off');",
    ),
    (
        "code",
        "import io\nfrom IPython.display import Image, display\nfrom PIL import Image as PILImage\n"
        "buf = io.BytesIO()\nPILImage.new('RGB', (8, 8), 'red').save(buf, format='PNG')\n"
        "display(Image(buf.getvalue()))  # a PNG without a description",
    ),
]
SCRATCH_CHAPTER_ALTS = [
    "Figure: Losses. D loss (x: step)",
    "Figure: Grid. Grid of 2 images in 1 row and 2 columns; columns: a, b",
    "Untitled figures, figure 1 (1 image)",
    "Untitled figures, figure 2",
]
SCRATCH_INTRO_ALTS = ["Scratch book, figure 1", "A red square"]


def _scratch_book(folder: Path) -> Path:
    """A book with the project's _config.yml and extensions, an intro with two images and the
    bibliography, and one notebook with titled and untitled figures."""
    folder.mkdir(parents=True)
    write_scratch_book_config(folder)
    from PIL import Image

    Image.new("RGB", (8, 8), "red").save(folder / "square.png")
    (folder / "intro.md").write_text(
        "# Scratch book\n\n![](square.png)\n\n![A red square](square.png)\n\n"
        "## References\n\n```{bibliography}\n:all:\n```\n"  # docutils' citation markup goes through axe too
    )
    cells = [new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in SCRATCH_CELLS]
    # a hidden-input cell: MyST-NB's toggle goes through axe too (see book/_ext/aria_fixes.py)
    cells.append(new_code_cell("print('hidden source')", metadata={"tags": ["hide-input"]}))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nbformat.write(nb, str(folder / "chapter.ipynb"))
    return folder


@pytest.fixture(scope="module")
def scratch_html(tmp_path_factory):
    folder = _scratch_book(tmp_path_factory.mktemp("alt-book") / "book")
    jb = Path(sys.executable).parent / "jupyter-book"
    proc = subprocess.run([str(jb), "build", str(folder)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "figure_alt: 2 figure(s) without a title in chapter" in proc.stdout, proc.stdout[-3000:]
    return folder / "_build" / "html"


class _ImgAlts(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.images: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            a = dict(attrs)
            self.images.append((a.get("src", ""), a.get("alt")))


def _img_alts(page: Path) -> list[tuple[str, str | None]]:
    parser = _ImgAlts()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.images


def test_is_file_name_alt():
    for alt, src in [
        (None, None),
        ("  ", None),
        ("../_images/3f2a.png", "../_images/3f2a.png"),
        ("3f2a.png", "../_images/3f2a.png"),
        ("/_build/jupyter_execute/3f2a.png", None),
        ("figure.SVG", None),
        ("images\\fig", None),
    ]:
        assert is_file_name_alt(alt, src), (alt, src)
    for alt in ["Figure: Losses", "A red square", "Reverse search, figure 2 (3 images)", "loss"]:
        assert not is_file_name_alt(alt, "../_images/3f2a.png"), alt


@pytest.mark.slow
def test_scratch_book_figures_get_alt_from_their_titles_or_heading(scratch_html):
    chapter = [(src, alt) for src, alt in _img_alts(scratch_html / "chapter.html") if "_images/" in src]
    assert [alt for _src, alt in chapter] == SCRATCH_CHAPTER_ALTS, chapter
    intro = [(src, alt) for src, alt in _img_alts(scratch_html / "intro.html") if "square" in src]
    assert [alt for _src, alt in intro] == SCRATCH_INTRO_ALTS, intro


@pytest.mark.slow
def test_scratch_book_passes_alt_and_axe_checks(scratch_html, browser):
    with _serve(scratch_html) as root:
        for name in ("intro.html", "chapter.html"):
            context, page, errors, outside = _open(browser, urljoin(root, name))
            try:
                assert not figure_alt_problems(page), name
                violations = axe_violations(page)
                assert not violations, f"axe-core on scratch {name}:\n" + "\n".join(violations)
                assert not outside, outside
            finally:
                context.close()


@pytest.mark.slow
def test_alt_and_axe_checks_fail_on_a_page_that_breaks_them(scratch_html, browser, tmp_path):
    """The same scratch page with each figure's alt set back to its file name, or removed, must fail."""
    site = tmp_path / "site"
    shutil.copytree(scratch_html, site)
    page_html = (site / "chapter.html").read_text(encoding="utf-8")
    for _src, alt in _img_alts(scratch_html / "chapter.html"):
        if alt in SCRATCH_CHAPTER_ALTS:
            page_html = page_html.replace(f'alt="{alt}"', "alt=\"__ALT__\"", 1)
    assert page_html.count("__ALT__") == len(SCRATCH_CHAPTER_ALTS)
    srcs = [src for src, alt in _img_alts(scratch_html / "chapter.html") if alt in SCRATCH_CHAPTER_ALTS]
    as_file_name = page_html
    for src in srcs:  # what the HTML writer gives when nothing sets an alt: the image's own path
        as_file_name = as_file_name.replace('alt="__ALT__"', f'alt="{src}"', 1)
    (site / "file_name_alt.html").write_text(as_file_name, encoding="utf-8")
    (site / "basename_alt.html").write_text(
        page_html.replace('alt="__ALT__"', f'alt="{srcs[0].rsplit("/", 1)[-1]}"'), encoding="utf-8"
    )
    (site / "no_alt.html").write_text(page_html.replace(' alt="__ALT__"', ""), encoding="utf-8")
    with _serve(site) as root:
        for name, n_bad in (("file_name_alt.html", 4), ("basename_alt.html", 4), ("no_alt.html", 4)):
            context, page, errors, outside = _open(browser, urljoin(root, name))
            try:
                assert len(figure_alt_problems(page)) == n_bad, (name, figure_alt_problems(page))
                if name == "no_alt.html":  # an <img> without alt is axe's critical image-alt violation
                    assert any(v.startswith("image-alt (critical)") for v in axe_violations(page))
            finally:
                context.close()
