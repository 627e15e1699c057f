"""End to end in a real Chromium (Playwright for Python): upload a photo, compare, download; no console errors."""

from __future__ import annotations

import io
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import smooth_image

CHROMIUM = "/usr/bin/chromium"

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore:Using `httpx`")]


def _require_browser() -> None:
    """Skip without Chromium or Playwright, unless SRCNN_REQUIRE_BROWSER=1, where it fails."""
    missing = None
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium") == CHROMIUM):
        missing = f"{CHROMIUM} not found (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "playwright (python) is not installed"
    if missing:
        if os.environ.get("SRCNN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"SRCNN_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)


@pytest.fixture
def server() -> Iterator[str]:
    """A real uvicorn server on 127.0.0.1, on a free port, in a background thread; yields its URL."""
    _require_browser()
    import uvicorn

    from srcnn.web.app import ServeSettings, create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(ServeSettings(port=port, workers=1, queue=4))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_upload_compare_download(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    h, w = 90, 120
    photo = tmp_path / "photo.png"
    Image.fromarray(smooth_image(h, w, seed=3)).save(photo)
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900}, accept_downloads=True)
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.set_default_timeout(60_000)
            page.goto(server + "/")
            page.wait_for_selector("#model option[value=bicubic]", state="attached")
            assert page.input_value("#scale") == "2"

            page.set_input_files("#file", str(photo))
            page.check("#selfcheck")
            page.click("#go")
            page.wait_for_selector("#result", state="visible")
            page.wait_for_function("document.getElementById('after').naturalWidth > 0")
            natural = page.evaluate("[document.getElementById('after').naturalWidth, "
                                    "document.getElementById('after').naturalHeight]")
            assert natural == [2 * w, 2 * h]
            assert page.is_visible("#selfcheck-box")
            assert "dB" in page.inner_text("#sc-bicubic")

            # Drag the divider to a quarter of the width, then set it with the range input.
            page.wait_for_timeout(600)  # let the smooth scroll to the result finish
            box = page.locator("#stage").bounding_box()
            assert box is not None and box["width"] > 100
            page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2, steps=5)
            page.mouse.up()
            left = float(page.evaluate("document.getElementById('slider').value"))
            assert 20 < left < 30
            assert "inset(0px 0px 0px 2" in page.evaluate("getComputedStyle(document.getElementById('after')).clipPath")
            page.fill("#slider", "60")
            assert page.evaluate("document.getElementById('divider').style.left") == "60%"

            # The loupe shows pixels under the pointer.
            page.check("#loupe-on")
            page.locator("#stage").scroll_into_view_if_needed()
            box = page.locator("#stage").bounding_box()
            assert box is not None
            page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.4)
            assert page.is_visible("#loupe")
            page.screenshot(path=str(tmp_path / "result.png"), full_page=True)
            page.mouse.move(box["x"] - 40, box["y"] - 40)

            with page.expect_download() as info:
                page.click("#download")
            download = info.value
            assert download.suggested_filename == "photo_srcnn-photo_x2.png"  # the default model at its x2
            data = Path(download.path()).read_bytes()
            with Image.open(io.BytesIO(data)) as out:
                assert out.format == "PNG"
                assert out.size == (2 * w, 2 * h)
                pixels = np.asarray(out.convert("RGB"))
            assert pixels.std() > 5  # a picture, not a blank
        finally:
            browser.close()
    assert not problems, problems  # CSP violations and script errors show up as console errors
    assert (tmp_path / "result.png").stat().st_size > 10_000


def test_api_docs_render_offline(server: str) -> None:
    """/docs shows every endpoint with no network beyond this server and no CSP or script error."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.route(
                "**/*",
                lambda route: route.continue_()
                if route.request.url.startswith(server)
                else (outside.append(route.request.url), route.abort()),
            )
            page.set_default_timeout(60_000)
            page.goto(server + "/docs")
            page.wait_for_selector("[data-path='/api/enhance']")
            assert page.locator(".opblock").count() >= 4  # enhance, models, healthz, ...
        finally:
            browser.close()
    assert not outside, outside  # offline: nothing from a CDN
    assert not problems, problems
