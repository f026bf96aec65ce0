"""The page in a real browser: headless Chromium (Debian's package, driven by Playwright; no
browser download) uploads the astronaut photo to a server on loopback and shows one happy face
with its attention panel. The screenshot is kept in the test's tmp folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from feratt.inference import Recognizer
from feratt.serve import create_app
from feratt.serve.server import running

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# A path to copy the screenshot to, e.g. benchmarks/results/serve/page.png for the README.
SCREENSHOT_ENV = "FERATT_SCREENSHOT"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.skip("no chromium: `apt-get install chromium` (make install does it as root)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def test_page_shows_the_astronaut_happy_with_attention(
    browser, shipped: Recognizer, astronaut_png: bytes, tmp_path: Path, monkeypatch
) -> None:
    photo = tmp_path / "astronaut.png"
    photo.write_bytes(astronaut_png)
    with running(create_app(shipped, "fer2013_feratt")) as url:
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.on("requestfailed", lambda request: errors.append(request.url))
        page.goto(url)
        page.wait_for_function("document.getElementById('model').textContent.includes('7')")
        page.set_input_files("#files", str(photo))
        page.wait_for_selector(".face .attention-panel img", timeout=30_000)
        faces = page.locator(".face")
        assert faces.count() == 1
        assert faces.locator(".face-label").inner_text() == "happy"
        captions = faces.locator("figcaption").all_inner_texts()
        assert captions == ["input", "attention image", "attention map"]
        loaded = "imgs => imgs.every(i => i.complete && i.naturalWidth === 128)"
        assert faces.locator("img").evaluate_all(loaded)
        assert faces.locator(".bar").count() == 7
        assert "1 face(s)" in page.locator(".image h2").inner_text()
        screenshot = tmp_path / "serve.png"
        page.screenshot(path=str(screenshot), full_page=True)
        assert screenshot.stat().st_size > 10_000
        if os.environ.get(SCREENSHOT_ENV):
            shutil.copy(screenshot, os.environ[SCREENSHOT_ENV])
        page.goto(f"{url}/docs")  # the API docs render with no internet
        page.wait_for_selector(".opblock-summary-path", timeout=30_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert {"/v1/predict", "/v1/model", "/healthz"} <= {p.strip() for p in paths}
        assert errors == []
