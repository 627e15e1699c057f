"""Screenshots of the page's batch states in real Chromium, for docs/screenshots/ (not a test).

    SRCNN_DATA=../shared/data .venv/bin/python -m tests.web_screenshots [OUT_DIR]

Writes batch-{desktop,phone}-1-queue, -2-running, -3-done and -5-folder (.png) into OUT_DIR (default
docs/screenshots): four photos cut from BSDS200 (400 x 300) and one file that is no picture, run 2x with
srcnn-photo; then a folder with pictures in a subfolder and files that are not pictures (a full-page shot). The
running shot holds the second photo at its fourth tile, so that it shows the same state each time.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from PIL import Image

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


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    import srcnn.web.app as web_app
    from srcnn.web.app import ServeSettings

    hold = threading.Event()
    held = threading.Event()
    real = web_app.JobProgress.tick
    jobs: list[str] = []  # the ids of the jobs seen, in order: one per photo

    def tick(self: Any, n: int) -> None:  # the second photo's fourth tile waits until the shot is taken
        if self.id not in jobs:
            jobs.append(self.id)
        if jobs.index(self.id) == 1 and n == 4 and not hold.is_set():
            held.set()
            hold.wait(30)
        real(self, n)

    web_app.JobProgress.tick = tick  # type: ignore[method-assign]
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, serving(ServeSettings(workers=1, queue=4)) as (url, _app), \
            sync_playwright() as pw:
        batch = _batch(Path(tmp) / "batch")
        folder = _folder(Path(tmp))
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for kind, size in SIZES.items():
            phone = kind == "phone"
            with Page(browser, url, *size, is_mobile=phone, has_touch=phone) as page:
                page.set_input_files("#file", [str(f) for f in batch])
                page.select_option("#model", "srcnn-photo")
                page.select_option("#scale", "2")
                page.wait_for_timeout(300)
                page.screenshot(path=str(out / f"batch-{kind}-1-queue.png"))

                hold.clear()
                held.clear()
                jobs.clear()
                page.click("#go")
                assert held.wait(120), "the second photo did not reach its fourth tile"
                until(page, "/3 of \\d+ tiles/.test(document.querySelector('#queue .q-item:nth-child(2)')"
                            ".textContent)")
                page.evaluate("document.getElementById('status').scrollIntoView({block: 'start'})")
                page.wait_for_timeout(200)
                page.screenshot(path=str(out / f"batch-{kind}-2-running.png"))
                hold.set()
                until(page, "!document.getElementById('go').disabled"
                            " && !document.getElementById('status').offsetParent", 300)
                _queue_shot(page, out / f"batch-{kind}-3-done.png")

            with Page(browser, url, *size, is_mobile=phone, has_touch=phone) as page:
                page.set_input_files("#folder", str(folder))
                page.wait_for_timeout(300)
                page.screenshot(path=str(out / f"batch-{kind}-5-folder.png"), full_page=True)  # the list and the queue
        browser.close()
    print(f"wrote {len(SIZES) * 4} screenshots to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots"))
