"""Screenshots of the page's states in real Chromium, for docs/screenshots/ (not a test).

    SRCNN_DATA=../shared/data .venv/bin/python -m tests.web_screenshots [OUT_DIR]

Writes into OUT_DIR (default docs/screenshots), all from photos cut from BSDS200 (400 x 300):

- the single-photo states, {desktop,phone}-1-start, -2-picked, -3-running, -4-result, -5-loupe,
  -6-selfcheck-no and -7-error, and phone-landscape-result (.png), at 1366x768, 390x844 and 844x390, with the
  default model (``zoo.default_name()``) at its own scale: a bear in the snow with the self-check on (a "Yes");
  the running shot holds the job at its third tile, so that it shows the same state each time; the self-check
  "No" is an honest one (bears by the water at 2x, where the default model comes out about 0.3 dB under plain
  bicubic; the script fails if it no longer says No); the error is a PDF picked instead of a photo;
- the batch states, batch-{desktop,phone}-1-queue, -2-running, -3-done and -5-folder (.png): four photos and one
  file that is no picture, run 2x with srcnn-photo; then a folder with pictures in a subfolder and files that are
  not pictures (a full-page shot). The running shot holds the second photo at its fourth tile.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from PIL import Image

from srcnn import zoo

from .conftest import data_root
from .test_web_browser import CHROMIUM, CHROMIUM_ARGS, Page, serving, until

SIZES = {"desktop": (1366, 768), "phone": (390, 844)}
PHOTOS = {"beach.jpg": "100075.png", "harbour.png": "100098.png", "old-scan.tif": "103041.png",
          "sunset.webp": "105019.png", "day 2/pier.jpg": "105053.png"}


def _photo(name: str, source: str, into: Path) -> Path:
    path = into / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(data_root() / "BSDS200" / source) as im:
        im.convert("RGB").crop((0, 0, 400, 300)).save(path, quality=90)
    return path


def _batch(into: Path) -> list[Path]:
    files = [_photo(n, s, into) for n, s in PHOTOS.items() if "/" not in n]
    (into / "notes.png").write_bytes(b"meeting notes, not a picture\n" * 40)
    return sorted([*files, into / "notes.png"])


def _folder(into: Path) -> Path:
    folder = into / "holiday"
    for name, source in PHOTOS.items():
        if name.endswith((".jpg", ".webp")):
            _photo(name, source, folder)
    (folder / "packing list.txt").write_text("towel\n")
    (folder / "day 2" / "route.gpx").write_text("<gpx/>\n")
    (folder / ".DS_Store").write_bytes(b"\0" * 10)
    return folder


def _queue_shot(page: Any, path: Path) -> None:
    page.evaluate("document.getElementById('queue-card').scrollIntoView({block: 'start'})")
    page.wait_for_timeout(200)
    page.screenshot(path=str(path))


class _Hold:
    """Holds one job at one tile (JobProgress.tick waits there until released), so that a running shot shows the
    same state each time: the ``job``-th job seen (0 first) before its ``tile``-th tile is counted."""

    def __init__(self) -> None:
        import srcnn.web.app as web_app

        self.release, self.reached = threading.Event(), threading.Event()
        self.job, self.tile = -1, 0
        self.jobs: list[str] = []  # the ids of the jobs seen, in order: one per photo
        real = web_app.JobProgress.tick
        hold = self

        def tick(self: Any, n: int) -> None:
            if self.id not in hold.jobs:
                hold.jobs.append(self.id)
            if hold.jobs.index(self.id) == hold.job and n == hold.tile and not hold.release.is_set():
                hold.reached.set()
                hold.release.wait(30)
            real(self, n)

        web_app.JobProgress.tick = tick  # type: ignore[method-assign]

    def at(self, job: int, tile: int) -> None:
        self.release.clear()
        self.reached.clear()
        self.jobs.clear()
        self.job, self.tile = job, tile

    def wait(self) -> None:
        assert self.reached.wait(120), f"job {self.job} did not reach its tile {self.tile}"


def _result(page: Any) -> None:
    page.wait_for_selector("#result", state="visible")
    until(page, "document.getElementById('after').naturalWidth > 0", 300)
    page.wait_for_timeout(300)


def _single(browser: Any, url: str, hold: _Hold, tmp: Path, out: Path, kind: str, size: tuple[int, int]) -> None:
    """The single-photo states at one screen size, with the default model at its own scale."""
    phone = kind == "phone"
    snow, bears = _photo("bear in the snow.png", "100098.png", tmp), _photo("bears.jpg", "100075.png", tmp)
    pdf = tmp / "receipt.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n" * 20)
    with Page(browser, url, *size, is_mobile=phone, has_touch=phone) as page:
        assert page.input_value("#model") == zoo.default_name()
        page.wait_for_timeout(300)
        page.screenshot(path=str(out / f"{kind}-1-start.png"))

        page.set_input_files("#file", str(snow))
        page.check("#selfcheck")
        until(page, "document.getElementById('plan').textContent.includes('about')")
        page.screenshot(path=str(out / f"{kind}-2-picked.png"))

        hold.at(0, 3)
        page.click("#go")
        hold.wait()
        until(page, "/2 of \\d+ tiles/.test(document.getElementById('status-text').textContent)")
        page.evaluate("document.getElementById('status').scrollIntoView({block: 'center'})")
        page.wait_for_timeout(200)
        page.screenshot(path=str(out / f"{kind}-3-running.png"))
        hold.release.set()
        _result(page)
        page.screenshot(path=str(out / f"{kind}-4-result.png"))

        page.check("#loupe-on")
        page.locator("#stage").scroll_into_view_if_needed()
        box = page.locator("#stage").bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.6)
        page.wait_for_timeout(200)
        assert page.is_visible("#loupe")
        page.screenshot(path=str(out / f"{kind}-5-loupe.png"))
        page.mouse.move(0, 0)
        page.uncheck("#loupe-on")

        page.set_input_files("#file", str(bears))  # here the default model does not beat plain bicubic
        until(page, "!document.getElementById('go').disabled")
        page.click("#go")
        _result(page)
        verdict = page.inner_text("#sc-verdict")
        assert verdict.startswith("No:"), f"the bears' self-check is no longer a No: {verdict}"
        page.evaluate("document.getElementById('selfcheck-box').scrollIntoView({block: 'end'})")
        page.wait_for_timeout(200)
        page.screenshot(path=str(out / f"{kind}-6-selfcheck-no.png"))

        page.set_input_files("#file", str(pdf))  # a PDF picked instead of a photo: the server refuses it
        until(page, "!document.getElementById('go').disabled")
        page.click("#go")
        page.wait_for_selector("#error", state="visible")
        page.wait_for_timeout(300)
        page.screenshot(path=str(out / f"{kind}-7-error.png"))


def _landscape(browser: Any, url: str, tmp: Path, out: Path) -> None:
    """A phone held sideways (844 x 390): the result."""
    snow = _photo("bear in the snow.png", "100098.png", tmp)
    with Page(browser, url, 844, 390, is_mobile=True, has_touch=True) as page:
        page.set_input_files("#file", str(snow))
        until(page, "!document.getElementById('go').disabled")
        page.click("#go")
        _result(page)
        page.screenshot(path=str(out / "phone-landscape-result.png"))


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    from srcnn.web.app import ServeSettings

    hold = _Hold()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, serving(ServeSettings(workers=1, queue=4)) as (url, _app), \
            sync_playwright() as pw:
        batch = _batch(Path(tmp) / "batch")
        folder = _folder(Path(tmp))
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for kind, size in SIZES.items():
            _single(browser, url, hold, Path(tmp) / "single", out, kind, size)
        _landscape(browser, url, Path(tmp) / "single", out)
        for kind, size in SIZES.items():
            phone = kind == "phone"
            with Page(browser, url, *size, is_mobile=phone, has_touch=phone) as page:
                page.set_input_files("#file", [str(f) for f in batch])
                page.select_option("#model", "srcnn-photo")
                page.select_option("#scale", "2")
                page.wait_for_timeout(300)
                page.screenshot(path=str(out / f"batch-{kind}-1-queue.png"))

                hold.at(1, 4)
                page.click("#go")
                hold.wait()
                until(page, "/3 of \\d+ tiles/.test(document.querySelector('#queue .q-item:nth-child(2)')"
                            ".textContent)")
                page.evaluate("document.getElementById('status').scrollIntoView({block: 'start'})")
                page.wait_for_timeout(200)
                page.screenshot(path=str(out / f"batch-{kind}-2-running.png"))
                hold.release.set()
                until(page, "!document.getElementById('go').disabled"
                            " && !document.getElementById('status').offsetParent", 300)
                _queue_shot(page, out / f"batch-{kind}-3-done.png")

            with Page(browser, url, *size, is_mobile=phone, has_touch=phone) as page:
                page.set_input_files("#folder", str(folder))
                page.wait_for_timeout(300)
                page.screenshot(path=str(out / f"batch-{kind}-5-folder.png"), full_page=True)  # the list and the queue
        browser.close()
    print(f"wrote {len(SIZES) * (7 + 4) + 1} screenshots to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots"))
