"""The companion site in a real browser: every page loads offline, with its images, math and links.

Serves the built site (``make site`` writes ``build/site``) on 127.0.0.1 and
opens every page in headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by selenium): no console error, every image
loaded, math typeset by the bundled MathJax, every internal link resolving,
and no request leaving the local server. Screenshots of the main pages go to
``build/site-screenshots/`` for a person to look at.
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "build" / "site"
SCREENSHOTS = ROOT / "build" / "site-screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
MAIN_PAGES = ("index.html", "gallery.html", "CLAIMS.html", "api.html", "notebooks/toy_ddpm.html")

if not (SITE / "index.html").exists():
    pytest.fail("the site is not built: run `make site` first (make test does)", pytrace=False)
if not (CHROMIUM and CHROMEDRIVER):
    pytest.fail(
        "headless Chromium is needed: apt-get install chromium chromium-driver (.ci/run does)", pytrace=False
    )


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    handler = functools.partial(QuietHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1600",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def pages() -> list[str]:
    return sorted(
        str(p.relative_to(SITE))
        for p in SITE.rglob("*.html")
        if not any(part.startswith("_") for part in p.relative_to(SITE).parts)
    )


def wait_for_math(driver, timeout: float = 20.0) -> None:
    """Wait until MathJax has typeset the page (or the page has no math)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script(
            "const math = document.querySelectorAll('.math, span.math, div.math').length;"
            "if (math === 0) return true;"
            "return window.MathJax && MathJax.startup && MathJax.startup.promise"
            " && document.querySelectorAll('mjx-container').length > 0;"
        )
    )


PAGE_READY_SECONDS = 30.0  # how long a check waits for what it reads to be on the page


def wait_until(driver, script: str, what: str, timeout: float = PAGE_READY_SECONDS):
    """The first truthy value of ``script`` (JavaScript returning a value), polled until ``timeout``;
    an assertion naming ``what`` and the wait when it never comes. A check reads the page only once
    what it checks is there, so a slow page is not mistaken for a wrong one."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: d.execute_script(script))
    except TimeoutException:
        raise AssertionError(f"{what} (waited {timeout:g} s for it)") from None


def test_every_page_is_listed():
    found = pages()
    for page in MAIN_PAGES:
        assert page in found
    assert {f"notebooks/{n}.html" for n in ("vae_mnist", "dit", "stable_diffusion")} <= set(found)


@pytest.mark.parametrize("page", pages())
def test_page_loads_offline_with_images_math_and_links(server, browser, page):
    browser.get(urllib.parse.urljoin(server, page))
    browser.get_log("browser")  # flush anything from before this page
    browser.refresh()
    wait_for_math(browser)

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, f"console errors on {page}: {errors}"

    broken = browser.execute_script(
        "return [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src);"
    )
    assert not broken, f"images that did not load on {page}: {broken}"

    has_math = browser.execute_script("return document.querySelectorAll('.math').length;")
    if has_math:
        typeset = browser.execute_script("return document.querySelectorAll('mjx-container').length;")
        assert typeset > 0, f"{page} has math that MathJax did not typeset"
        assert not browser.execute_script("return [...document.querySelectorAll('mjx-merror')].length;"), (
            f"MathJax reports errors on {page}"
        )

    outside = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(n => !n.startsWith(location.origin) && !n.startsWith('data:'));"
    )
    assert not outside, f"{page} requested resources from outside the site: {outside}"

    links = browser.execute_script(
        "return [...document.querySelectorAll('a[href]')].map(a => a.href)"
        ".filter(h => h.startsWith(location.origin));"
    )
    for link in set(links):
        target, _, fragment = link.partition("#")
        try:
            with urllib.request.urlopen(target, timeout=10) as response:
                body = response.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{page} links to {link}, which answers {error.code}") from None
        if fragment and target.endswith(".html"):
            anchor = re.escape(urllib.parse.unquote(fragment))
            assert re.search(rf'id="{anchor}"', body), f"{page} links to a missing anchor: {link}"

    if page in MAIN_PAGES:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOTS / (page.replace("/", "_").replace(".html", "") + ".png")))


# --- what a reader sees: tables, no machinery, nothing wider than the page ------------------------

NOTEBOOK_PAGES = [page for page in pages() if page.startswith("notebooks/")]
# every paper notebook ends in a claims ledger; the reader's-own-model notebook tests no claim
LEDGER_PAGES = [page for page in NOTEBOOK_PAGES if page != "notebooks/your_own_model.html"]


@pytest.mark.parametrize("page", LEDGER_PAGES)
def test_a_notebook_page_shows_its_ledger_as_a_table_and_no_machinery(server, browser, page):
    browser.get(urllib.parse.urljoin(server, page))
    wait_until(
        browser,
        "return document.readyState === 'complete' && [...document.querySelectorAll('table')].some("
        "t => [...t.querySelectorAll('th')].map(h => h.textContent.trim()).join('|')"
        ".startsWith('claim|source|quantity|criterion|this run|verdict'));",
        f"{page} shows no claims ledger table",
    )
    text = browser.execute_script("return document.body.innerText;")
    assert not re.search(r"\|\s*-{3,}\s*\|", text), f"{page} shows pipe-table text"
    assert "print_summary(" not in text, f"{page} shows the regression check's summary cell"
    progress = re.compile(r"\d+%\|")
    run = longest = 0
    for line in text.splitlines():
        run = run + 1 if progress.search(line) else 0
        longest = max(longest, run)
    assert longest <= 3, f"{page} shows {longest} consecutive progress-bar lines"


@pytest.mark.parametrize("width", [1400, 400])
@pytest.mark.parametrize("page", pages())
def test_nothing_is_wider_than_the_page(server, browser, page, width):
    browser.set_window_size(width, 1200)
    try:
        browser.get(urllib.parse.urljoin(server, page))
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;"
        )
        assert overflow <= 1, f"{page} is {overflow} px wider than a {width} px window"
    finally:
        browser.set_window_size(1280, 1600)


def test_the_gallery_is_a_grid_of_captioned_figures_linked_to_their_sections(server, browser):
    browser.get(urllib.parse.urljoin(server, "gallery.html"))
    figures = browser.execute_script("return document.querySelectorAll('.gallery-grid figure').length;")
    linked = browser.execute_script(
        "return [...document.querySelectorAll('.gallery-grid figcaption')]"
        ".filter(c => [...c.querySelectorAll('a')]"
        ".some(a => a.href.includes('/notebooks/') && a.hash)).length;"
    )
    assert figures == len(list((ROOT / "figures").glob("*.png")))  # every stored figure
    assert linked == figures, f"{figures - linked} gallery captions do not link to a notebook section"
    silent = browser.execute_script(
        "return [...document.querySelectorAll('.gallery-grid figcaption')]"
        ".filter(c => !c.textContent.includes('What to see:')).map(c => c.textContent.slice(0, 80));"
    )
    assert not silent, f"gallery captions that do not say what to see: {silent}"


def test_every_notebook_downloads_with_its_outputs_from_the_gallery(server, browser):
    import json

    browser.get(urllib.parse.urljoin(server, "gallery.html"))
    links = browser.execute_script(
        "return [...document.querySelectorAll('a.download')].map(a => a.href)"
        ".filter(h => h.endsWith('.ipynb'));"
    )
    stored = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert sorted(link.rsplit("/", 1)[1] for link in links) == stored, links
    for link in links:
        with urllib.request.urlopen(link) as response:
            notebook = json.loads(response.read())
        outputs = [o for cell in notebook["cells"] if cell["cell_type"] == "code" for o in cell["outputs"]]
        assert any("image/png" in o.get("data", {}) for o in outputs), f"{link} has no stored figures"
