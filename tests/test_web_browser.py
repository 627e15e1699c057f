"""End to end in a real Chromium (Playwright for Python): upload a photo, compare, download; no console errors."""

from __future__ import annotations

import io
import math
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from .conftest import smooth_image

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-extensions",
                 "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]

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


@contextmanager
def serving(settings: Any) -> Iterator[tuple[str, Any]]:
    """A real uvicorn server on 127.0.0.1, on a free port, in a background thread; yields (URL, app)."""
    import uvicorn

    from srcnn.web.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def served() -> Iterator[tuple[str, Any]]:
    """The page's server with the default models and limits (one worker, a queue of 4); yields (URL, app)."""
    _require_browser()
    from srcnn.web.app import ServeSettings

    with serving(ServeSettings(workers=1, queue=4)) as (url, app):
        yield url, app


@pytest.fixture
def server(served: tuple[str, Any]) -> str:
    """The URL of ``served``."""
    return served[0]


@pytest.fixture
def small_server() -> Iterator[tuple[str, Any]]:
    """A server that takes uploads of at most 150 kB (to test refusals); yields (URL, app)."""
    _require_browser()
    from srcnn.web.app import ServeSettings

    with serving(ServeSettings(workers=1, queue=4, max_upload_bytes=150_000)) as (url, app):
        yield url, app


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Debian Chromium for the module's tests."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Page:
    """A fresh page (own context) that records console errors and page errors."""

    def __init__(self, browser: Any, url: str, width: int = 1366, height: int = 768, **options: Any) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True,
                                           **options)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.set_default_timeout(60_000)
        self.page.goto(url + "/")
        self.page.wait_for_selector("#model option[value=bicubic]", state="attached")

    def __enter__(self) -> Any:
        return self.page

    def __exit__(self, *exc: object) -> None:
        self.context.close()


def photo_file(tmp_path: Path, name: str = "photo.png", h: int = 90, w: int = 120, seed: int = 3) -> Path:
    path = tmp_path / name
    Image.fromarray(smooth_image(h, w, seed=seed)).save(path)
    return path


def until(page: Any, expression: str, seconds: float = 60) -> None:
    """Poll a JS expression from Python until it is truthy (wait_for_function would eval, which the CSP forbids)."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        page.wait_for_timeout(50)


def in_viewport(page: Any, selector: str) -> bool:
    """True when the element's box lies wholly inside the viewport."""
    return page.evaluate("""(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
        return r.width > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth; }""",
                         selector)


def select_text_fits(page: Any, selector: str) -> bool:
    """True when the closed select shows its chosen option's text whole: the text's width (in the select's own
    font) plus the side paddings and about 24 px for the arrow is at most the select's inner width."""
    return page.evaluate("""(sel) => { const s = document.querySelector(sel); const st = getComputedStyle(s);
        const g = document.createElement('canvas').getContext('2d');
        g.font = `${st.fontWeight} ${st.fontSize} ${st.fontFamily}`;
        return g.measureText(s.selectedOptions[0].textContent).width + parseFloat(st.paddingLeft)
            + parseFloat(st.paddingRight) + 24 <= s.clientWidth; }""", selector)


def enhance(page: Any, path: Path, model: str | None = None, scale: str | None = None) -> None:
    """Pick ``path``, optionally the model and scale, press Enhance and wait for the result."""
    page.set_input_files("#file", str(path))
    if model:
        page.select_option("#model", model)
    if scale:
        page.select_option("#scale", scale)
    until(page, "!document.getElementById('go').disabled")
    page.click("#go")
    page.wait_for_selector("#result", state="visible")
    until(page, "document.getElementById('after').naturalWidth > 0")


def test_upload_compare_download(server: str, browser: Any, tmp_path: Path) -> None:
    h, w = 90, 120
    photo = tmp_path / "photo.png"
    Image.fromarray(smooth_image(h, w, seed=3)).save(photo)
    problems: list[str] = []
    context = browser.new_context(viewport={"width": 1100, "height": 900}, accept_downloads=True)
    try:
        page = context.new_page()
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
        until(page, "document.getElementById('after').naturalWidth > 0")
        natural = page.evaluate("[document.getElementById('after').naturalWidth, "
                                "document.getElementById('after').naturalHeight]")
        assert natural == [2 * w, 2 * h]
        assert page.is_visible("#selfcheck-box")
        assert "dB" in page.inner_text("#sc-bicubic")
        # Plain words on the picture and around it: "Enhanced", "with the real model", never a bare model name
        # that reads as a word ("real" next to "Original").
        from srcnn import zoo

        assert page.inner_text("#after-tag") == "Enhanced"
        assert f" with the {zoo.default_name()} model " in page.inner_text("#result-info")
        assert page.inner_text("#sc-model-name") == f"{zoo.default_name()} model"

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
        assert download.suggested_filename == f"photo_{zoo.default_name()}_x2.png"  # the default at its x2
        data = Path(download.path()).read_bytes()
        with Image.open(io.BytesIO(data)) as out:
            assert out.format == "PNG"
            assert out.size == (2 * w, 2 * h)
            pixels = np.asarray(out.convert("RGB"))
        assert pixels.std() > 5  # a picture, not a blank
    finally:
        context.close()
    assert not problems, problems  # CSP violations and script errors show up as console errors
    assert (tmp_path / "result.png").stat().st_size > 10_000


def test_api_docs_render_offline(server: str, browser: Any) -> None:
    """/docs shows every endpoint with no network beyond this server and no CSP or script error."""
    problems: list[str] = []
    outside: list[str] = []
    context = browser.new_context()
    try:
        page = context.new_page()
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
        context.close()
    assert not outside, outside  # offline: nothing from a CDN
    assert not problems, problems


# ------------------------------------------------------------------------------------------------ issue 18, item 3


def test_result_flow_new_file_error_and_refusal_clear_the_old_result(small_server: tuple[str, Any], browser: Any,
                                                                     tmp_path: Path) -> None:
    """A new file or an error clears the result; a refused file disarms Enhance; result and error are scrolled
    to, focused and wholly on screen on a phone."""
    url, _app = small_server
    first, second = photo_file(tmp_path, "first.png"), photo_file(tmp_path, "second.png", seed=5)
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (260, 260, 3), dtype=np.uint8)).save(big)
    assert big.stat().st_size > 150_000
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not a picture at all" * 10)
    with Page(browser, url, 390, 844, is_mobile=True, has_touch=True) as page:
        enhance(page, first, model="bicubic")
        assert page.evaluate("document.activeElement.id") == "result-title"
        page.wait_for_timeout(300)
        assert in_viewport(page, "#result-title") and in_viewport(page, "#download")
        assert page.get_attribute("#download", "href")

        page.set_input_files("#file", str(second))  # a new photo: the old result goes
        assert page.is_hidden("#result")
        assert page.get_attribute("#download", "href") is None

        page.set_input_files("#file", str(big))  # refused in the browser: nothing stays armed
        assert page.is_disabled("#go")
        assert "second.png" not in page.inner_text("#drop")
        assert "150" in page.inner_text("#error") or "kB" in page.inner_text("#error")
        assert in_viewport(page, "#error") and page.evaluate("document.activeElement.id") == "error"

        enhance(page, first, model="bicubic")
        page.set_input_files("#file", str(bad))  # the server refuses it: the error replaces the old result
        page.click("#go")
        page.wait_for_selector("#error", state="visible")
        assert "not a supported image" in page.inner_text("#error")
        assert "bad.png is no picture this server can read. Choose a photo: JPEG" in page.inner_text("#error")
        assert page.is_hidden("#result") and page.get_attribute("#download", "href") is None
        page.wait_for_timeout(300)
        assert in_viewport(page, "#error") and page.evaluate("document.activeElement.id") == "error"


def test_status_is_announced_once_per_phase(server: str, browser: Any, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The live region speaks at phase changes (upload, work, done), not every tick of the clock."""
    import srcnn.web.app as web_app

    real = web_app._enhance_job

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(3)
        return real(*args, **kwargs)

    monkeypatch.setattr(web_app, "_enhance_job", slow)
    page_ = Page(browser, server)
    with page_ as page:
        page.evaluate("""() => { window.spoken = [];
            const obs = new MutationObserver(() => {
                for (const n of document.querySelectorAll('[aria-live]')) window.spoken.push(n.textContent); });
            for (const n of document.querySelectorAll('[aria-live]'))
                obs.observe(n, {childList: true, characterData: true, subtree: true}); }""")
        enhance(page, photo_file(tmp_path), model="bicubic")
        spoken = page.evaluate("window.spoken")
    assert 1 <= len(spoken) <= 6, spoken
    assert not any(re.search(r"\d+ s\b", t) for t in spoken), spoken  # no ticking seconds read out
    assert not page_.problems, page_.problems  # no console or page errors along the way


# ------------------------------------------------------------------------------------------------ issue 18, item 1


def test_models_shown_by_purpose_with_only_their_scales(server: str, browser: Any) -> None:
    """Each model is one plain sentence of purpose (training details behind a toggle) and offers only the scales
    its card allows, all read from GET /api/models."""
    with Page(browser, server) as page:
        models = page.evaluate("fetch('/api/models').then(r => r.json())")
        labels = page.eval_on_selector_all("#model option", "os => os.map(o => [o.value, o.textContent])")
        assert {v for v, _ in labels} == {m["name"] for m in models}
        purpose = {m["name"]: m["purpose"] for m in models}
        for value, text in labels:
            assert text.rstrip(".") == purpose[value].rstrip("."), (value, text)
            assert "srcnn-" not in text and "9-5-5" not in text  # plain words, no names or architecture
        assert page.evaluate("document.getElementById('model-details').open") is False
        page.select_option("#model", "srcnn-x2")
        assert "fine-tuned" in page.text_content("#model-details")  # the training summary, behind the toggle
        presets = page.evaluate("fetch('/api/limits').then(r => r.json()).then(l => l.scales)")
        for m in models:
            page.select_option("#model", m["name"])
            assert select_text_fits(page, "#model"), m["name"]  # the whole sentence, not cut off, at 1366 px
            assert page.is_hidden("#model-purpose")  # so it is not said twice
            offered = [float(v) for v in page.eval_on_selector_all("#scale option", "os => os.map(o => o.value)")]
            rule = m["scales"]
            if isinstance(rule, list):
                assert offered == sorted(rule), m["name"]
            else:
                assert offered == [s for s in presets if rule["min"] <= s <= rule["max"]], m["name"]
            assert float(page.input_value("#scale")) == m["scale"]
            assert "Made for" in page.inner_text("#model-made-for") or "Works at" in page.inner_text("#model-made-for")
        page.select_option("#model", "srcnn-x4")
        assert page.eval_on_selector_all("#scale option", "os => os.map(o => o.value)") == ["4"]
        assert "4× only" in page.inner_text("#model-made-for")


# ------------------------------------------------------------------------------------------------ issue 18, item 6


def test_honest_words_and_a_self_check_that_explains_itself(server: str, browser: Any, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """No "goes nowhere else"; the self-check explains its dB; a "No" says what to try instead."""
    import srcnn.web.app as web_app

    real = web_app.selfcheck

    def worse(*args: Any, **kwargs: Any) -> Any:  # the real self-check, turned into a "No"
        out = real(*args, **kwargs)
        out.update(psnr_model=30.0, psnr_bicubic=31.0, gain_db=-1.0)
        return out

    monkeypatch.setattr(web_app, "selfcheck", worse)
    with Page(browser, server) as page:
        header = page.inner_text("header")
        assert "goes nowhere else" not in header
        assert "srcnn server you are connected to" in header and "nothing is stored" in header
        assert "this computer" in header  # the test server is on 127.0.0.1

        page.check("#selfcheck")
        enhance(page, photo_file(tmp_path), model="srcnn-x2")
        assert page.inner_text("#sc-verdict") == "No: plain bicubic came closer to your photo than the srcnn-x2 model."
        explain = page.inner_text("#sc-explain")
        assert "dB" in explain and "higher is closer" in explain
        advice = page.inner_text("#sc-try")
        assert page.is_visible("#sc-try") and "Try" in advice and "srcnn-photo" in advice and "bicubic" in advice


# ------------------------------------------------------------------------------------------------ issue 18, item 4


def _contrast(a: list[float], b: list[float]) -> float:
    def lum(c: list[float]) -> float:
        v = [x / 255 for x in c[:3]]
        v = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in v]
        return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


_RGB = "(c) => c.match(/[\\d.]+/g).map(Number)"


def test_comparison_original_label_split_loupe_keys_and_focus_ring(server: str, browser: Any, tmp_path: Path) -> None:
    """1x says "Original"; the loupe shows the same spot of both sides, moves by keyboard, flips below a finger
    near the top; slider keys move 1% (Shift 10%); the focus ring has at least 3:1 contrast."""
    with Page(browser, server) as page:
        enhance(page, photo_file(tmp_path, h=120, w=160), model="srcnn-jpeg")
        assert page.inner_text("#before-tag") == "Original"

        page.focus("#slider")
        page.fill("#slider", "50")
        page.keyboard.press("ArrowRight")
        assert float(page.input_value("#slider")) == 51
        page.keyboard.press("Shift+ArrowLeft")
        assert float(page.input_value("#slider")) == 41
        ring = page.evaluate("(() => { const s = getComputedStyle(document.activeElement);"
                             " return [s.outlineStyle, s.outlineWidth, s.outlineColor]; })()")
        assert ring[0] != "none" and float(ring[1].rstrip("px")) >= 2
        card = page.evaluate(f"({_RGB})(getComputedStyle(document.querySelector('.card')).backgroundColor)")
        assert _contrast(page.evaluate(f"({_RGB})('{ring[2]}')"), card) >= 3

        page.check("#loupe-on")
        page.focus("#stage")  # by keyboard: the loupe appears at the centre and moves with the arrows
        assert page.is_visible("#loupe")
        lenses = "['lens-before', 'lens-after'].map(i => getComputedStyle(document.getElementById(i)))"
        pos = page.evaluate(f"{lenses}.map(s => [s.backgroundPosition, s.backgroundSize])")
        assert pos[0] == pos[1]  # the same spot of both sides at the same magnification
        page.keyboard.press("Shift+ArrowRight")
        moved = page.evaluate(f"{lenses}.map(s => s.backgroundPosition)")
        assert moved[0] == moved[1] != pos[0][0]
        images = page.evaluate(f"{lenses}.map(s => s.backgroundImage)")
        assert images[0] != images[1] and all(i.startswith('url("blob:') for i in images)

        # A finger near the top edge: the loupe goes below it, not off the picture.
        page.evaluate("""() => { const s = document.getElementById('stage'); const r = s.getBoundingClientRect();
            const at = {pointerType: 'touch', pointerId: 7, isPrimary: true, bubbles: true,
                        clientX: r.left + r.width / 2, clientY: r.top + 8};
            s.dispatchEvent(new PointerEvent('pointerdown', at));
            s.dispatchEvent(new PointerEvent('pointermove', at)); }""")
        stage = page.locator("#stage").bounding_box()
        loupe = page.locator("#loupe").bounding_box()
        assert stage and loupe and loupe["y"] > stage["y"] + 8 + 20  # clear below the finger


def _touch_loupe(page: Any, cdp: Any, fy: float) -> tuple[float, float, dict[str, float]]:
    """Put a real finger (CDP touch events) on the picture at height ``fy`` (0..1), read the loupe's box while it
    is down, lift it; returns (finger x, finger y, loupe box)."""
    stage = page.locator("#stage").bounding_box()
    assert stage
    x, y = stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] * fy
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y, "id": 1}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x + 1, "y": y, "id": 1}]})
    try:
        until(page, "!document.getElementById('loupe').hidden", 10)
        loupe = page.locator("#loupe").bounding_box()
        assert loupe
        return x + 1, y, loupe
    finally:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_loupe_flips_below_the_finger_near_the_top_on_touch(server: str, browser: Any, tmp_path: Path) -> None:
    """On a phone, a finger near the top edge gets the loupe below it; near the middle, above it; never under it."""
    page_ = Page(browser, server, 390, 844, is_mobile=True, has_touch=True)
    with page_ as page:
        enhance(page, photo_file(tmp_path, h=300, w=240), model="bicubic")
        page.check("#loupe-on")
        page.locator("#stage").scroll_into_view_if_needed()
        page.wait_for_timeout(600)  # the smooth scroll to the result
        cdp = page.context.new_cdp_session(page)
        stage = page.locator("#stage").bounding_box()
        assert stage and stage["height"] > 250

        page.focus("#stage")  # the loupe out: its labels whole, the picture's own out of its way
        assert page.is_visible("#loupe") and page.inner_text("#lens-before-tag") == "Original, resized"
        assert page.evaluate("(e => e.scrollWidth <= e.clientWidth)(document.getElementById('lens-before-tag'))")
        assert page.is_hidden("#before-tag") and page.is_hidden("#after-tag")
        page.evaluate("document.activeElement.blur()")
        assert page.is_visible("#before-tag")

        x, y, loupe = _touch_loupe(page, cdp, 0.04)  # near the top: no room above
        assert loupe["y"] > y + 20, (y, loupe)  # wholly below the finger, with a gap
        assert page.evaluate("document.getElementById('loupe').classList.contains('below')")
        assert loupe["y"] + loupe["height"] <= stage["y"] + stage["height"] + 1  # still on the picture
        page.wait_for_timeout(100)
        assert page.is_hidden("#loupe")  # lifting the finger puts it away

        x, y, loupe = _touch_loupe(page, cdp, 0.6)  # lower down: above the finger, clear of it
        assert loupe["y"] + loupe["height"] < y - 20, (y, loupe)
        assert not page.evaluate("document.getElementById('loupe').classList.contains('below')")
        assert loupe["x"] <= x <= loupe["x"] + loupe["width"]  # centred over the finger
    assert not page_.problems, page_.problems


@pytest.mark.parametrize("size", [(844, 390), (390, 844)])
def test_comparison_on_phones_labels_apart_and_knob_on_the_divider(server: str, browser: Any, tmp_path: Path,
                                                                   size: tuple[int, int]) -> None:
    """Phone landscape and portrait: the two labels never overlap; the slider's knob sits on the divider."""
    with Page(browser, server, *size, is_mobile=True, has_touch=True) as page:
        enhance(page, photo_file(tmp_path, h=300, w=200), model="srcnn-photo", scale="1.5")
        tags = [page.locator(t).bounding_box() for t in ("#before-tag", "#after-tag")]
        assert tags[0] and tags[1] and tags[0]["x"] + tags[0]["width"] <= tags[1]["x"]
        for value in ("10", "25", "80"):
            page.fill("#slider", value)
            divider = page.locator("#divider").bounding_box()
            slider = page.locator("#slider").bounding_box()
            assert divider and slider
            thumb = 22
            knob_x = slider["x"] + thumb / 2 + float(value) / 100 * (slider["width"] - thumb)
            assert abs(knob_x - (divider["x"] + divider["width"] / 2)) <= 3, (value, knob_x, divider)




def test_limits_checked_in_the_browser_and_the_largest_scale_that_fits(browser: Any, tmp_path: Path) -> None:
    """Over the output-pixel, input-pixel or byte limit, the page refuses before uploading anything (no request
    to /api/enhance) and, for the output, names the largest scale that fits."""
    _require_browser()
    from srcnn.web.app import ServeSettings

    limits = ServeSettings(workers=1, queue=2, max_upload_bytes=150_000, max_pixels=20_000, max_output_pixels=50_000)
    photo = photo_file(tmp_path, h=90, w=120)  # 10,800 px: fits the input limit
    wide = photo_file(tmp_path, "wide.png", h=150, w=200)  # 30,000 px: over max_pixels
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 260, 3), dtype=np.uint8)).save(big)
    assert big.stat().st_size > 150_000 and photo.stat().st_size < 150_000 and wide.stat().st_size < 150_000
    with serving(limits) as (url, _app):
        page_ = Page(browser, url)
        with page_ as page:
            sent: list[str] = []
            page.on("request", lambda r: sent.append(r.url) if "/api/enhance" in r.url else None)
            page.select_option("#model", "bicubic")
            offered = [float(v) for v in page.eval_on_selector_all("#scale option", "os => os.map(o => o.value)")]

            def out(s: float) -> int:
                return math.ceil(120 * s - 1e-9) * math.ceil(90 * s - 1e-9)

            too_big = [s for s in offered if out(s) > 50_000]
            fits = [s for s in offered if out(s) <= 50_000]
            assert too_big and fits, offered
            page.set_input_files("#file", str(photo))
            page.select_option("#scale", f"{too_big[0]:g}")
            until(page, "document.getElementById('plan').textContent.includes('largest scale')")
            plan = page.inner_text("#plan")
            assert f"The largest scale that fits is {max(fits):g}×" in plan, plan
            assert "this server makes up to" in plan
            assert page.is_disabled("#go")
            page.click("#go", force=True)
            page.keyboard.press("Enter")
            page.select_option("#scale", f"{max(fits):g}")  # the proposed scale: allowed
            until(page, "!document.getElementById('go').disabled")

            page.set_input_files("#file", str(wide))  # over the input pixel limit
            until(page, "document.getElementById('plan').textContent.includes('megapixels')")
            assert "this server takes up to" in page.inner_text("#plan") and page.is_disabled("#go")
            page.click("#go", force=True)

            page.set_input_files("#file", str(big))  # over the byte limit
            page.wait_for_selector("#error", state="visible")
            assert "accepts up to" in page.inner_text("#error") and page.is_disabled("#go")
            page.click("#go", force=True)
            page.wait_for_timeout(300)
            assert sent == [], sent  # nothing was uploaded

            page.set_input_files("#file", str(photo))  # and a photo that fits does go
            page.select_option("#scale", f"{max(fits):g}")
            page.click("#go")
            page.wait_for_selector("#result", state="visible")
            assert len(sent) == 1
        assert not page_.problems, page_.problems


# ------------------------------------------------------------------------------------------------ issue 18, item 2


def _slow_tiles(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Each finished tile takes ``seconds`` longer, so that a small photo makes a long job."""
    import srcnn.web.app as web_app

    real = web_app.JobProgress.tick

    def tick(self: Any, n: int) -> None:
        time.sleep(seconds)
        real(self, n)

    monkeypatch.setattr(web_app.JobProgress, "tick", tick)


def _wait(predicate: Any, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_long_job_size_estimate_progress_and_stop(served: tuple[str, Any], browser: Any, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: output size and an estimated time; during: tiles done / total from the server; Stop stops the
    work on the server (the worker is free again long before the job would have ended)."""
    url, app = served
    _slow_tiles(monkeypatch, 0.25)
    state = app.state.srcnn
    with Page(browser, url) as page:
        page.set_input_files("#file", str(photo_file(tmp_path, h=400, w=300)))
        page.select_option("#model", "srcnn-photo")
        page.select_option("#scale", "2")
        until(page, "document.getElementById('plan').textContent.includes('about')")
        plan = page.inner_text("#plan")
        assert "600 × 800 px" in plan and re.search(r"about [\d.]+ (s|min)", plan) and "12 tiles" in plan
        page.click("#go")
        until(page, "/[2-9] of 12 tiles/.test(document.getElementById('status-text').textContent)")
        assert re.search(r"elapsed.*left", page.inner_text("#status-text"))
        job = next(j for j in state.jobs.values() if j.state == "running")
        page.click("#stop")
        assert _wait(lambda: job.state == "cancelled" and state.gate.active == 0, 5), (job, state.gate.active)
        assert job.done < job.total == 12
        page.wait_for_selector("#error", state="visible")
        assert "Stopped" in page.inner_text("#error") and page.is_hidden("#result")


def test_closing_the_tab_stops_the_job(served: tuple[str, Any], browser: Any, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    url, app = served
    _slow_tiles(monkeypatch, 0.25)
    state = app.state.srcnn
    page_ = Page(browser, url)
    page = page_.page
    page.set_input_files("#file", str(photo_file(tmp_path, h=400, w=300)))
    page.select_option("#model", "srcnn-photo")
    page.select_option("#scale", "2")
    until(page, "!document.getElementById('go').disabled")
    page.click("#go")
    until(page, "/[1-9] of 12 tiles/.test(document.getElementById('status-text').textContent)")
    job = next(j for j in state.jobs.values() if j.state == "running")
    page_.context.close()  # the tab goes away mid-job
    assert _wait(lambda: job.state == "cancelled" and state.gate.active == 0, 5), (job, state.gate.active)
    assert job.done < job.total


# ------------------------------------------------------------------------------------------------ issue 18, item 5


def _spoken(page: Any) -> None:
    """Record every text the page's live regions take (window.spoken)."""
    page.evaluate("""() => { window.spoken = [];
        const obs = new MutationObserver(() => {
            for (const n of document.querySelectorAll('[aria-live]')) window.spoken.push(n.textContent); });
        for (const n of document.querySelectorAll('[aria-live]'))
            obs.observe(n, {childList: true, characterData: true, subtree: true}); }""")


def _states(page: Any) -> list[str]:
    return page.eval_on_selector_all("#queue .q-item", "rows => rows.map(r => r.dataset.state)")


def _batch_files(tmp_path: Path) -> list[Path]:
    """A PNG, a JPEG, a WebP and a file that is no picture at all (named .png), in that order of names."""
    files = [photo_file(tmp_path, "a-photo.png", seed=1)]
    Image.fromarray(smooth_image(90, 120, seed=2)).save(tmp_path / "b-photo.jpg", quality=90)
    Image.fromarray(smooth_image(90, 120, seed=4)).save(tmp_path / "c-photo.webp", quality=90)
    (tmp_path / "d-broken.png").write_bytes(b"not a picture, only text" * 20)
    return [*files, tmp_path / "b-photo.jpg", tmp_path / "c-photo.webp", tmp_path / "d-broken.png"]


def test_batch_queue_per_file_state_downloads_and_one_zip(server: str, browser: Any, tmp_path: Path) -> None:
    """Several files: a queue, run one at a time, each with its state (a failure with its one-line error), one
    announcement per file state change, a download per file, and "Download all" as one valid zip of the same bytes."""
    import zipfile

    files = _batch_files(tmp_path)
    page_ = Page(browser, server)
    with page_ as page:
        _spoken(page)
        page.set_input_files("#file", [str(f) for f in files])
        page.select_option("#model", "bicubic")
        assert page.is_visible("#queue-card")
        assert page.eval_on_selector_all("#queue .q-name", "ns => ns.map(n => n.textContent)") == [
            "a-photo.png", "b-photo.jpg", "c-photo.webp", "d-broken.png"]
        assert _states(page) == ["waiting"] * 4
        assert page.inner_text("#go") == "Enhance 4 photos" and page.is_enabled("#go")
        assert page.is_disabled("#zip")
        page.click("#go")
        until(page, "!document.getElementById('go').disabled && !document.getElementById('status').offsetParent")
        assert _states(page) == ["done", "done", "done", "failed"]
        error = page.inner_text("#queue .q-item:nth-child(4) .q-error")
        assert "not a supported image" in error and "\n" not in error.strip()
        assert page.is_hidden("#queue .q-item:nth-child(4) a") and page.is_hidden("#result")
        assert "3 done" in page.inner_text("#queue-summary") and "1 failed" in page.inner_text("#queue-summary")
        assert page.evaluate("document.activeElement.id") == "queue-title"

        # Each file state change is said once (a file's end together with the next one's start: one update).
        spoken = page.evaluate("window.spoken")
        assert len(spoken) == 5 and len(set(spoken)) == 5, spoken
        text = " | ".join(spoken)
        for name, end in (("a-photo.png", "done"), ("b-photo.jpg", "done"), ("c-photo.webp", "done"),
                          ("d-broken.png", "failed: not a supported image")):
            assert text.count(f"{name}: running") == 1 and text.count(f"{name}: {end}") == 1, (name, spoken)
            assert text.count(f"{name}:") == 2, (name, spoken)
        assert spoken[-1].endswith("3 of 4 done, 1 failed. Download each below, or all as one zip.")

        # What came back is shown per file: the WebP became PNG under "Same as the photo", and says so.
        info = page.eval_on_selector_all("#queue .q-info", "ns => ns.map(n => n.textContent)")
        assert "→ PNG" in info[0] and "→ JPEG q95" in info[1] and "→ PNG" in info[2]
        assert "WebP in, PNG out" in info[2]

        singles: dict[str, bytes] = {}
        for row in range(1, 4):
            with page.expect_download() as got:
                page.click(f"#queue .q-item:nth-child({row}) a")
            singles[got.value.suggested_filename] = Path(got.value.path()).read_bytes()
        assert sorted(singles) == ["a-photo_bicubic_x2.png", "b-photo_bicubic_x2.jpg", "c-photo_bicubic_x2.png"]

        with page.expect_download() as got:
            page.click("#zip")
        assert got.value.suggested_filename == "srcnn-3-photos.zip"
        with zipfile.ZipFile(got.value.path()) as z:
            assert z.testzip() is None  # every CRC-32 right
            assert sorted(z.namelist()) == sorted(singles)
            for info_ in z.infolist():
                assert info_.compress_type == zipfile.ZIP_STORED and info_.flag_bits & 0x800  # stored, UTF-8 names
                assert z.read(info_) == singles[info_.filename]
        for name, data in singles.items():
            with Image.open(io.BytesIO(data)) as im:
                assert im.format == ("JPEG" if name.endswith(".jpg") else "PNG") and im.size == (240, 180)

        # Compare one of them: the result card shows it, with the format it came back in.
        page.click("#queue .q-item:nth-child(3) button")
        page.wait_for_selector("#result", state="visible")
        until(page, "document.getElementById('after').naturalWidth > 0")
        assert "c-photo.webp" in page.inner_text("#result-info")
        assert page.inner_text("#result-format").startswith("Saved as PNG from WebP")
    # the broken file's 415 is logged by Chromium as a failed resource; nothing else may be
    assert [p for p in page_.problems if "status of 415" not in p] == [], page_.problems


def test_batch_stop_stops_the_queue(served: tuple[str, Any], browser: Any, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Stop ends the running file's work on the server and the waiting files are not started: all 'stopped',
    said once; Enhance then offers them again."""
    url, app = served
    _slow_tiles(monkeypatch, 0.25)
    state = app.state.srcnn
    files = [photo_file(tmp_path, f"p{i}.png", h=400, w=300, seed=i) for i in range(3)]
    page_ = Page(browser, url)
    with page_ as page:
        _spoken(page)
        page.set_input_files("#file", [str(f) for f in files])
        page.select_option("#model", "srcnn-photo")
        page.select_option("#scale", "2")
        page.click("#go")
        until(page, "/[1-9] of 12 tiles/.test(document.querySelector('#queue .q-item .q-state').textContent)")
        assert _states(page) == ["running", "waiting", "waiting"]
        assert page.evaluate("document.querySelector('#queue .q-item progress').value") > 0.1
        job = next(j for j in state.jobs.values() if j.state == "running")
        page.click("#stop")
        assert _wait(lambda: job.state == "cancelled" and state.gate.active == 0, 5), (job, state.gate.active)
        until(page, "!document.getElementById('go').disabled")
        assert _states(page) == ["stopped"] * 3
        assert len(state.jobs) == 1  # the waiting files never reached the server
        spoken = page.evaluate("window.spoken")
        assert sum(t.startswith("Stopped:") for t in spoken) == 1 and "p0.png, p1.png, p2.png" in spoken[-1]
        assert page.inner_text("#go") == "Enhance 3 photos" and page.is_disabled("#zip")
    assert not page_.problems, page_.problems


def _holiday(tmp_path: Path) -> Path:
    """A folder of 3 pictures (one in a subfolder, with the same name as one above it) and 2 files that are not."""
    folder = tmp_path / "holiday"
    (folder / "day 2").mkdir(parents=True)
    photo_file(folder, "beach.png", seed=1)
    photo_file(folder / "day 2", "beach.png", seed=2)
    Image.fromarray(smooth_image(90, 120, seed=4)).save(folder / "harbour.jpg", quality=92)
    (folder / "notes.txt").write_text("not a photo")
    (folder / ".DS_Store").write_bytes(b"\0" * 10)
    return folder


HOLIDAY_QUEUE = ["holiday/beach.png", "holiday/day 2/beach.png", "holiday/harbour.jpg"]
HOLIDAY_SKIPPED = ["holiday/.DS_Store · skipped: a hidden file", "holiday/notes.txt · skipped: not a picture (.txt)"]


def _names(page: Any, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "ns => ns.map(n => n.textContent)")


def _trail(page: Any) -> None:
    """Record every state each queue row takes (window.trail: label -> states, in order)."""
    page.evaluate("""() => { window.trail = {};
        new MutationObserver((records) => { for (const r of records) {
            const name = r.target.querySelector('.q-name').textContent;
            (window.trail[name] = window.trail[name] || []).push(r.target.dataset.state); } })
        .observe(document.getElementById('queue'), {attributes: true, attributeFilter: ['data-state'], subtree: true});
    }""")


def _drop_from_disk(page: Any, *paths: Path) -> None:
    """A real drag and drop of files or folders onto the drop zone, as from a file manager (CDP
    Input.dispatchDragEvent with paths): the page gets real Files and FileSystemDirectoryEntry objects to walk."""
    page.locator("#drop").scroll_into_view_if_needed()
    box = page.locator("#drop").bounding_box()
    assert box
    at = {"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}
    data = {"items": [], "files": [str(p) for p in paths], "dragOperationsMask": 1}
    cdp = page.context.new_cdp_session(page)
    try:
        for kind in ("dragEnter", "dragOver", "drop"):
            cdp.send("Input.dispatchDragEvent", {"type": kind, **at, "data": data})
    finally:
        cdp.detach()


@pytest.mark.parametrize("size", [(1366, 768), (390, 844)], ids=["desktop", "phone"])
def test_choose_a_folder_queues_its_pictures_lists_the_rest_and_zips_the_results(
        server: str, browser: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    """A visible "Choose a folder…" control (keyboard too); a folder of 3 pictures and 2 other files: the 3 are
    queued, each with its own state (waiting, running, done), the 2 others are listed with why they were left out,
    and "Download all" is one zip of the 3 results, each under its folder path and from the right photo."""
    import zipfile

    folder = _holiday(tmp_path)
    phone = size[0] < 500
    page_ = Page(browser, server, *size, is_mobile=phone, has_touch=phone)
    with page_ as page:
        control = page.get_by_text("Choose a folder…", exact=True)
        assert control.is_visible() and in_viewport(page, "#folder-pick")  # on the first screen
        assert page.get_by_label("Choose a folder…").get_attribute("id") == "folder"
        assert page.get_attribute("#folder", "webkitdirectory") is not None
        page.focus("#file")
        page.keyboard.press("Tab")  # the next stop after the drop zone
        assert page.evaluate("document.activeElement.id") == "folder"
        assert page.evaluate("getComputedStyle(document.getElementById('folder-pick')).outlineStyle") != "none"
        assert page.is_hidden("#skipped")

        page.set_input_files("#folder", str(folder))
        assert _names(page, "#queue .q-name") == HOLIDAY_QUEUE
        assert _states(page) == ["waiting"] * 3
        assert page.inner_text("#go") == "Enhance 3 photos" and page.is_disabled("#zip")
        assert "2 other files left out" in page.inner_text("#drop")
        # Not dropped silently: each file that is no picture is named, with why.
        assert page.is_visible("#skipped") and page.inner_text("#skipped-title") == "2 files left out (not pictures)"
        assert _names(page, "#skipped-list li") == HOLIDAY_SKIPPED
        assert page.is_visible("#skipped-list")
        assert page.evaluate("document.documentElement.scrollWidth") <= size[0]

        _trail(page)
        page.select_option("#model", "bicubic")
        page.click("#go")
        until(page, "document.querySelectorAll('#queue .q-item[data-state=done]').length === 3"
                    " && !document.getElementById('status').offsetParent")
        assert _states(page) == ["done"] * 3 and page.is_disabled("#go")  # nothing left to do
        assert "3 photos · 3 done" in page.inner_text("#queue-summary")
        trail = page.evaluate("window.trail")
        for name in HOLIDAY_QUEUE:  # one at a time: each went from waiting through running to done
            states = [s for i, s in enumerate(trail[name]) if i == 0 or trail[name][i - 1] != s]
            assert states[-2:] == ["running", "done"] and set(states) <= {"waiting", "running", "done"}, (name, trail)
        assert _names(page, "#skipped-list li") == HOLIDAY_SKIPPED  # still listed after the run

        with page.expect_download() as got:
            page.click("#zip")
        assert got.value.suggested_filename == "srcnn-3-photos.zip"
        with zipfile.ZipFile(got.value.path()) as z:
            assert z.testzip() is None
            assert sorted(z.namelist()) == ["holiday/beach_bicubic_x2.png", "holiday/day 2/beach_bicubic_x2.png",
                                            "holiday/harbour_bicubic_x2.jpg"]
            results = {n: np.asarray(Image.open(io.BytesIO(z.read(n))).convert("RGB"), np.float64)
                       for n in z.namelist()}
    sources = {n.replace("_bicubic_x2", ""): np.asarray(Image.open(folder.parent / n.replace("_bicubic_x2", ""))
                                                        .convert("RGB"), np.float64) for n in results}
    for name, out in results.items():
        assert out.shape == (180, 240, 3)
        small = out.reshape(90, 2, 120, 2, 3).mean(axis=(1, 3))
        errors = {src: float(np.mean((small - pixels) ** 2)) for src, pixels in sources.items()}
        assert min(errors, key=errors.__getitem__) == name.replace("_bicubic_x2", ""), (name, errors)
    assert not page_.problems, page_.problems


def test_a_dropped_folder_is_walked_and_several_dropped_files_make_a_queue(server: str, browser: Any,
                                                                         tmp_path: Path) -> None:
    """A folder dragged from the file manager is walked (subfolders, and past readEntries' batches of 100);
    the files in it that are no pictures are listed with why; a drop of only such files says so; several
    dropped files make a queue."""
    folder = _holiday(tmp_path)
    many = tmp_path / "many"
    many.mkdir()
    for i in range(130):  # more than one readEntries batch
        Image.new("RGB", (2, 2), (i, 2 * i % 256, 90)).save(many / f"p{i:03d}.png")
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "letter.pdf").write_bytes(b"%PDF-1.4\n")
    (papers / "README").write_text("no extension")
    page_ = Page(browser, server)
    with page_ as page:
        _drop_from_disk(page, folder)
        until(page, "document.querySelectorAll('#queue .q-item').length === 3")
        assert _names(page, "#queue .q-name") == HOLIDAY_QUEUE and _states(page) == ["waiting"] * 3
        assert _names(page, "#skipped-list li") == HOLIDAY_SKIPPED and page.is_visible("#skipped-list")

        _drop_from_disk(page, many)
        until(page, "document.querySelectorAll('#queue .q-item').length === 130")
        names = _names(page, "#queue .q-name")
        assert names == [f"many/p{i:03d}.png" for i in range(130)]
        assert page.is_hidden("#skipped")  # nothing left out this time: the old list is gone

        _drop_from_disk(page, papers)  # no pictures at all
        page.wait_for_selector("#error", state="visible")
        assert "No pictures found there (2 other files" in page.inner_text("#error")
        assert _names(page, "#skipped-list li") == ["papers/letter.pdf · skipped: not a picture (.pdf)",
                                                    "papers/README · skipped: not a picture (no file type)"]
        assert page.is_hidden("#queue-card") and page.is_disabled("#go")

        # Several files dropped (a DataTransfer made in the page): a queue; the list of left-out files goes.
        page.evaluate("""async () => {
            const dt = new DataTransfer();
            for (const name of ['one.png', 'two.png', 'three.png']) {
                const c = document.createElement('canvas'); c.width = 40; c.height = 30;
                const g = c.getContext('2d'); g.fillStyle = '#38a'; g.fillRect(0, 0, 40, 30);
                const blob = await new Promise(r => c.toBlob(r, 'image/png'));
                dt.items.add(new File([blob], name, {type: 'image/png'}));
            }
            document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true}));
        }""")
        until(page, "document.querySelectorAll('#queue .q-item').length === 3")
        assert _names(page, "#queue .q-name") == ["one.png", "three.png", "two.png"]
        assert _states(page) == ["waiting"] * 3 and page.is_disabled("#zip") and page.is_hidden("#skipped")
        assert page.is_hidden("#error")
    assert not page_.problems, page_.problems


def _rgba_png(path: Path) -> Path:
    rgba = np.concatenate([smooth_image(60, 80, seed=9), np.full((60, 80, 1), 255, np.uint8)], axis=2)
    rgba[:20, :20, 3] = 0
    Image.fromarray(rgba).save(path)
    return path


def _png16(path: Path) -> Path:
    from srcnn import images

    pixels = (smooth_image(60, 80, seed=10).astype(np.uint16) * 257).astype(np.uint16)
    path.write_bytes(images.encode(images.Picture(pixels), "PNG"))
    return path


def test_output_format_quality_and_what_comes_back(server: str, browser: Any, tmp_path: Path) -> None:
    """Save as keep / PNG / JPEG / WebP with a quality; the page says before and after what format comes back
    (a WebP or TIFF under "Same as the photo" becomes PNG), and warns when a choice loses transparency or depth."""
    webp = tmp_path / "shot.webp"
    Image.fromarray(smooth_image(60, 80, seed=3)).save(webp, quality=90)
    tiff = tmp_path / "scan.tif"
    Image.fromarray(smooth_image(60, 80, seed=5)).save(tiff)
    page_ = Page(browser, server, 390, 844, is_mobile=True, has_touch=True)
    with page_ as page:
        assert page.input_value("#format") == "keep" and page.is_hidden("#quality-field")
        # On a phone the closed select cannot show the model's whole sentence: it is shown in full below it.
        assert not select_text_fits(page, "#model") and page.is_visible("#model-purpose")
        purpose = page.evaluate("document.getElementById('model').selectedOptions[0].textContent")
        assert page.inner_text("#model-purpose") == f"{purpose}."
        assert select_text_fits(page, "#format")  # "Same as the photo", whole
        assert page.eval_on_selector_all("#format option", "os => os.map(o => o.value)") == [
            "keep", "png", "jpeg", "webp"]
        assert page.get_by_label("Save as").get_attribute("id") == "format"  # labelled controls
        assert page.get_by_label("Choose a folder…").get_attribute("id") == "folder"  # a labelled file input

        page.set_input_files("#file", str(webp))
        until(page, "document.getElementById('format-note').textContent.startsWith('Comes back')")
        assert "your WebP photo becomes PNG" in page.inner_text("#format-note")
        enhance(page, webp, model="bicubic")
        assert page.inner_text("#result-format").startswith("Saved as PNG from WebP. WebP in, PNG out")
        with page.expect_download() as got:
            page.click("#download")
        assert got.value.suggested_filename.endswith(".png")

        page.select_option("#format", "webp")  # a new choice: the old result goes
        assert page.is_hidden("#result") and page.is_visible("#quality-field")
        assert page.get_by_label("Quality").get_attribute("id") == "quality"
        page.focus("#quality")
        for _ in range(15):
            page.keyboard.press("ArrowLeft")  # by keyboard: 95 -> 80
        assert page.input_value("#quality") == "80" and page.inner_text("#quality-value") == "80"
        assert "Comes back as WebP (quality 80)" in page.inner_text("#format-note")
        page.click("#go")
        page.wait_for_selector("#result", state="visible")
        until(page, "document.getElementById('after').naturalWidth > 0")
        assert page.inner_text("#result-format") == "Saved as WebP (quality 80) from WebP."
        with page.expect_download() as got:
            page.click("#download")
        assert got.value.suggested_filename == "shot_bicubic_x2.webp"
        with Image.open(got.value.path()) as im:
            assert im.format == "WEBP" and im.size == (160, 120)

        # TIFF under "Same as the photo": PNG, said before starting.
        page.select_option("#format", "keep")
        page.set_input_files("#file", str(tiff))
        until(page, "document.getElementById('format-note').textContent.startsWith('Comes back')")
        assert "your TIFF photo becomes PNG" in page.inner_text("#format-note")

        # Transparency and 16 bits: said when the choice would lose them, not otherwise.
        page.set_input_files("#file", str(_rgba_png(tmp_path / "logo.png")))
        until(page, "document.getElementById('format-note').textContent.startsWith('Comes back')")
        assert page.is_hidden("#format-warn")
        page.select_option("#format", "jpeg")
        assert "This photo has transparency; JPEG has none" in page.inner_text("#format-warn")
        assert page.get_attribute("#format", "aria-describedby") == "format-note format-warn"
        page.click("#go")
        page.wait_for_selector("#result", state="visible")
        assert "Transparency flattened onto white" in page.inner_text("#result-format")
        page.select_option("#format", "webp")
        assert page.is_hidden("#format-warn")  # WebP keeps it
        page.set_input_files("#file", str(_png16(tmp_path / "deep.png")))
        until(page, "document.getElementById('format-note').textContent.startsWith('Comes back')")
        assert "16 bits per channel; WebP stores 8" in page.inner_text("#format-warn")
        page.select_option("#format", "png")
        assert page.is_hidden("#format-warn")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # usable on a phone
    assert not page_.problems, page_.problems


# ------------------------------------------------------------------------------------------------ issue 18: axe-core


@pytest.fixture
def axe() -> Any:
    """axe-core (the axe.min.js that axe-playwright-python bundles: offline, no CDN); skipped without it, unless
    SRCNN_REQUIRE_BROWSER=1, where it fails."""
    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:
        missing = "axe-playwright-python is not installed (pip install -e '.[dev]')"
        if os.environ.get("SRCNN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"SRCNN_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    return Axe()


# Text on the picture: axe cannot tell the colour under it (a photo), so it asks for a review; the test does it.
_ON_THE_PICTURE = {"#before-tag", "#after-tag", "#lens-before-tag", "#lens-after-tag"}


def _axe_check(axe: Any, page: Any, state: str) -> list[str]:
    """Run every axe-core rule but the experimental ones on the page as it is; returns what is wrong: each
    violation, and each "needs review" item except the contrast of the labels on the picture, checked here."""
    out = axe.run(page, options={"resultTypes": ["violations", "incomplete"]}).response
    assert out["testEngine"]["name"] == "axe-core"
    wrong = []
    for v in out["violations"]:
        for node in v["nodes"]:
            wrong.append(f"{state}: {v['id']} ({v['impact']}) {node['target']}: {node['failureSummary']}")
    for v in out["incomplete"]:
        for node in v["nodes"]:
            target = ", ".join(map(str, node["target"]))
            if v["id"] == "color-contrast" and target in _ON_THE_PICTURE:
                continue
            wrong.append(f"{state}: needs review: {v['id']} {target}: {v['help']}")
    # The labels on the picture: white on a translucent dark chip, at least 4.5:1 whatever the photo (worst: white).
    for sel in _ON_THE_PICTURE:
        if page.is_visible(sel):
            fg, bg = page.evaluate(f"""(() => {{ const s = getComputedStyle(document.querySelector('{sel}'));
                return [s.color, s.backgroundColor].map({_RGB}); }})()""")
            alpha = bg[3] if len(bg) > 3 else 1.0
            chip = [alpha * c + (1 - alpha) * 255 for c in bg[:3]]
            if _contrast(fg, chip) < 4.5:
                wrong.append(f"{state}: {sel} has {_contrast(fg, chip):.2f}:1 on a white photo")
    return wrong


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", [(1366, 768), (390, 844)], ids=["desktop", "phone"])
def test_no_axe_core_violations(axe: Any, served: tuple[str, Any], browser: Any, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch, size: tuple[int, int], scheme: str) -> None:
    """axe-core in real Chromium finds nothing on the page: empty; a folder chosen (queue, left-out files,
    training details open); a file running (status, Stop); the queue finished with a failure; a result with the
    self-check and the loupe; an error."""
    import srcnn.web.app as web_app

    url, _app = served
    hold = threading.Event()  # holds the first job at its first tile, so that "running" stays on screen
    real = web_app.JobProgress.tick

    def tick(self: Any, n: int) -> None:
        hold.wait(30)
        real(self, n)

    monkeypatch.setattr(web_app.JobProgress, "tick", tick)
    folder = tmp_path / "set"
    folder.mkdir()
    for f in _batch_files(folder):
        assert f.parent == folder
    (folder / "notes.txt").write_text("not a photo")
    phone = size[0] < 500
    wrong: list[str] = []
    page_ = Page(browser, url, *size, is_mobile=phone, has_touch=phone, color_scheme=scheme)
    with page_ as page:
        wrong += _axe_check(axe, page, "empty")

        page.set_input_files("#folder", str(folder))
        page.click("#model-details summary")
        page.select_option("#model", "srcnn-photo")
        page.check("#selfcheck")
        assert page.is_visible("#skipped") and _states(page) == ["waiting"] * 4
        wrong += _axe_check(axe, page, "folder chosen")

        page.click("#go")
        until(page, "/ of \\d+ tiles/.test(document.getElementById('status-text').textContent)")
        assert _states(page)[0] == "running" and page.is_visible("#stop")
        wrong += _axe_check(axe, page, "running")
        hold.set()

        until(page, "!document.getElementById('go').disabled && !document.getElementById('status').offsetParent")
        assert _states(page) == ["done", "done", "done", "failed"]
        wrong += _axe_check(axe, page, "queue finished")

        page.click("#queue .q-item:nth-child(1) button")
        page.wait_for_selector("#result", state="visible")
        until(page, "document.getElementById('after').naturalWidth > 0")
        assert page.is_visible("#selfcheck-box")
        page.check("#loupe-on")
        page.focus("#stage")
        assert page.is_visible("#loupe")
        wrong += _axe_check(axe, page, "result")

        page.set_input_files("#file", str(folder / "d-broken.png"))
        page.click("#go")
        page.wait_for_selector("#error", state="visible")
        wrong += _axe_check(axe, page, "error")
    assert not wrong, "\n".join(wrong)
    assert [p for p in page_.problems if "status of 415" not in p] == [], page_.problems
