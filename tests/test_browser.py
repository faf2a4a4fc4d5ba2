"""The rendered book in a real browser (headless Chromium driven by Playwright), offline.

The HTML book is built from the papermill-executed chapters (``executed_book`` fixture, so chapters
are not executed a third time), served on 127.0.0.1, and opened with every request to any other
address blocked. Each chapter page must load without console errors, show every figure (image
present, decoded, non-empty), render its math with the local MathJax, and have internal links that
resolve; Chapter 5's static sliders must change the displayed frame when moved. Screenshots of each
chapter go to ``_build/screenshots/`` for a person to look at.

Skips, with the reason, only when Chromium is not installed (``tools/ensure_chromium.sh`` installs
Debian's package when run as root) or Playwright is missing.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

from conftest import CHAPTERS, ROOT

SCREENSHOTS = ROOT / "_build" / "screenshots"


def _chromium() -> str:
    for exe in ("chromium", "chromium-browser"):
        path = shutil.which(exe)
        if path:
            return path
    pytest.skip("Chromium is not installed (run tools/ensure_chromium.sh as root to install Debian's chromium)")


@pytest.fixture(scope="module")
def built_html(executed_book):
    folder, results = executed_book
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


@pytest.fixture(scope="module")
def server(built_html):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(built_html)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


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
        no_alt = [i["src"][:80] for i in images if not (i["alt"] or "").strip()]
        assert not no_alt, f"figures without alt text on {stem}: {no_alt}"
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
            before = img.get_attribute("src")
            top = rng.get_attribute("max")
            rng.fill(top)  # sets the value and fires input/change
            after = img.get_attribute("src")
            assert after != before, f"slider {i} did not change the displayed frame"
        page.screenshot(path=str(SCREENSHOTS / "05_latent_editing_slider.png"))
        assert not errors, errors
    finally:
        context.close()
