"""The web app (`srcnn serve`): API success paths, limits and error codes, headers, the page. Fast: bicubic only."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import re
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from .conftest import smooth_image

pytest.importorskip("fastapi")
with warnings.catch_warnings():  # starlette's notice about running its TestClient on httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

import srcnn.web.app as web_app  # noqa: E402
from srcnn import images  # noqa: E402
from srcnn.web import add_arguments, settings_from_args  # noqa: E402
from srcnn.web.app import CSP, ServeSettings, create_app  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx`")  # starlette's TestClient-on-httpx notice

SMALL = dict(workers=1, queue=2, max_upload_bytes=200_000, max_pixels=20_000, read_timeout=5.0,
             default_model="bicubic")  # the tests check the plumbing, not a trained model


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(ServeSettings(**SMALL))) as c:
        yield c


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def jpeg(array: np.ndarray, **options: Any) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "JPEG", quality=90, **options)
    return buf.getvalue()


def post(client: TestClient, data: bytes, name: str = "photo.png", **fields: str) -> Any:
    return client.post("/api/enhance", files={"file": (name, data, "application/octet-stream")}, data=fields)


def multipart(data: bytes, name: str = "photo.png", boundary: str = "srcnnboundary") -> tuple[bytes, bytes]:
    """(body, content type) of a one-file multipart form."""
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}".encode()


def asgi_post(app: Any, headers: list[tuple[bytes, bytes]], receive: Any) -> tuple[int, dict[bytes, bytes], bytes]:
    """POST /api/enhance straight through the ASGI interface with a custom receive(); (status, headers, body)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/api/enhance", "raw_path": b"/api/enhance", "root_path": "", "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), *headers], "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body


# ------------------------------------------------------------------------------------------------ basics


def test_the_default_model_is_the_zoo_default() -> None:
    """The page's default is the command line's: the "real" family where it ships, else srcnn-photo."""
    from srcnn import zoo

    with TestClient(create_app(ServeSettings(workers=1))) as c:
        defaults = [m["name"] for m in c.get("/api/models").json() if m["default"]]
    assert defaults == [zoo.default_name()] and defaults[0] in (zoo.DEFAULT_MODEL, zoo.FALLBACK_MODEL)


def test_healthz_and_models(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    models = client.get("/api/models").json()
    names = [m["name"] for m in models]
    assert "bicubic" in names
    assert set(models[0]) == {"name", "task", "scale", "scales", "purpose", "summary", "state", "metrics", "default"}
    defaults = [m["name"] for m in models if m["default"]]
    assert defaults == ["bicubic"]  # the fixture's default_model
    assert "srcnn-photo" in names
    limits = client.get("/api/limits").json()
    assert limits["max_upload_bytes"] == 200_000 and limits["scales"] == [1, 1.5, 2, 2.5, 3, 4]
    assert (limits["min_scale"], limits["max_scale"]) == (1, 4)
    schema = client.get("/openapi.json").json()["paths"]["/api/enhance"]["post"]["requestBody"]
    scale = schema["content"]["multipart/form-data"]["schema"]["properties"]["scale"]
    assert (scale["type"], scale["minimum"], scale["maximum"]) == ("number", 1, 4)


def test_page_scale_choices_are_the_listed_presets(client: TestClient) -> None:
    select = re.search(r'<select id="scale"[^>]*>(.*?)</select>', client.get("/").text, re.S)
    assert select is not None
    values = [float(v) for v in re.findall(r'<option value="([^"]+)"', select.group(1))]
    assert values == client.get("/api/limits").json()["scales"]


def test_security_headers_everywhere(client: TestClient) -> None:
    for path in ("/", "/healthz", "/api/models", "/static/app.js", "/no-such-page"):
        r = client.get(path)
        assert r.headers["content-security-policy"] == CSP, path
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-frame-options"] == "DENY"
    r = client.get("/no-such-page")
    assert r.status_code == 404 and "error" in r.json()
    r = post(client, b"not an image")
    assert r.status_code == 415 and r.headers["x-frame-options"] == "DENY"


def test_page_is_self_contained(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all("src=" in s for s in scripts)  # no inline script
    assert "<style" not in html and " style=" not in html and "javascript:" not in html  # no inline style
    assert "http://" not in html and "https://" not in html  # nothing from a CDN
    js_type = client.get("/static/app.js").headers["content-type"]
    assert js_type.startswith(("text/javascript", "application/javascript"))
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")


def test_docs_work_offline_and_openapi(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200 and "swagger" in r.text.lower()
    csp = r.headers["content-security-policy"]
    assert "'unsafe-inline'" in csp and "https:" not in csp  # only /docs is relaxed, and only for inline code
    assert "https://" not in r.text and "http://" not in r.text  # nothing from a CDN: /docs works offline
    assets = re.findall(r'(?:src|href)="(/docs-static/[^"]+)"', r.text)
    assert {a.rsplit(".", 1)[-1] for a in assets} >= {"js", "css"}
    for asset in assets:
        got = client.get(asset)
        assert got.status_code == 200 and len(got.content) > 1000, asset
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/api/enhance"]["post"]["requestBody"]["content"]
    assert "file" in body["multipart/form-data"]["schema"]["properties"]


# ------------------------------------------------------------------------------------------------ success


def _rgb16() -> bytes:
    pixels = (smooth_image(20, 30, seed=5).astype(np.uint16) * 257 + 100).astype(np.uint16)
    return images.encode(images.Picture(pixels), "PNG")


def _gray16() -> bytes:
    return images.encode(images.Picture(smooth_image(20, 30, 1, seed=6).astype(np.uint16) * 250), "PNG")


def _rgba() -> bytes:
    rgb = smooth_image(20, 30, seed=7)
    alpha = np.tile(np.linspace(0, 255, 30).astype(np.uint8), (20, 1))[:, :, None]
    return png(np.concatenate([rgb, alpha], axis=2))


def _bmp() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(smooth_image(20, 30, seed=8)).save(buf, "BMP")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("make", "media", "mode", "bits"),
    [
        (lambda: jpeg(smooth_image(20, 30)), "image/jpeg", "RGB", 8),
        (lambda: png(smooth_image(20, 30)), "image/png", "RGB", 8),
        (lambda: png(smooth_image(20, 30, 1)[:, :, 0]), "image/png", "L", 8),
        (_rgba, "image/png", "RGBA", 8),
        (_rgb16, "image/png", None, 16),
        (_gray16, "image/png", None, 16),
        (_bmp, "image/png", "RGB", 8),  # other formats come back as PNG
    ],
    ids=["jpeg", "png", "gray", "rgba", "png16-rgb", "png16-gray", "bmp"],
)
def test_enhance_formats(client: TestClient, make: Any, media: str, mode: str | None, bits: int) -> None:
    r = post(client, make(), name="holiday photo.dat")  # the name is never trusted for the format
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == media
    assert r.headers["x-srcnn-model"] == "bicubic" and r.headers["x-srcnn-scale"] == "2"
    assert r.headers["x-srcnn-output-size"] == "60x40"
    ext = "jpg" if media == "image/jpeg" else "png"
    assert r.headers["content-disposition"] == f'attachment; filename="holiday_photo_bicubic_x2.{ext}"'
    out = images.read(r.content)
    assert (out.width, out.height, out.bits) == (60, 40, bits)
    if mode is not None:
        with Image.open(io.BytesIO(r.content)) as im:
            assert im.mode == mode and im.size == (60, 40)
    if mode == "RGBA":
        assert out.alpha is not None and out.alpha.min() < 20 and out.alpha.max() > 235


def test_scale_option_and_selfcheck_header(client: TestClient) -> None:
    r = post(client, png(smooth_image(24, 32)), scale="3", selfcheck="true")
    assert r.status_code == 200
    assert Image.open(io.BytesIO(r.content)).size == (96, 72)
    check = json.loads(r.headers["x-srcnn-selfcheck"])
    assert check["applicable"] and check["scale"] == 3 and check["crop"] == [30, 24]
    assert check["psnr_model"] == check["psnr_bicubic"] > 10  # bicubic against itself
    assert "x-srcnn-selfcheck" not in post(client, png(smooth_image(24, 32)), selfcheck="false").headers


@pytest.mark.parametrize(("raw", "shown", "size"), [("1.5", "1.5", (35, 26)), (" 2.50 ", "2.5", (58, 43)),
                                                    ("2.0", "2", (46, 34))])
def test_fractional_scale(client: TestClient, raw: str, shown: str, size: tuple[int, int]) -> None:
    """A 23 x 17 photo: each side becomes ceil(side x scale); a whole scale written "2.0" is scale 2."""
    r = post(client, png(smooth_image(17, 23)), name="p.png", scale=raw)
    assert r.status_code == 200, r.text
    assert r.headers["x-srcnn-scale"] == shown and r.headers["x-srcnn-output-size"] == "{}x{}".format(*size)
    assert r.headers["content-disposition"] == f'attachment; filename="p_bicubic_x{shown}.png"'
    out = images.read(r.content)
    assert (out.width, out.height) == size


def test_fractional_scale_selfcheck(client: TestClient) -> None:
    r = post(client, png(smooth_image(25, 32)), scale="1.5", selfcheck="true")
    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (48, 38)
    check = json.loads(r.headers["x-srcnn-selfcheck"])
    # crops whose 1.5x shrink enlarges back to exactly themselves: 25 -> 16 -> 24, 32 -> 21 -> 32
    assert check["applicable"] and check["scale"] == 1.5 and check["crop"] == [32, 24]
    assert "shrunk 1.5x" in check["method"]
    assert check["psnr_model"] == check["psnr_bicubic"] > 10 and check["gain_db"] == 0.0


def test_selfcheck_endpoint_crop_and_scale1() -> None:
    with TestClient(create_app(ServeSettings(**SMALL, selfcheck_crop=48))) as c:
        files = {"file": ("p.png", png(smooth_image(100, 80)), "image/png")}
        out = c.post("/api/selfcheck", files=files, data={"scale": "2"}).json()
        assert out["crop"] == [48, 48] and out["input_size"] == [80, 100]
        assert "shrunk 2x" in out["method"] and out["gain_db"] == 0.0
        one = c.post("/api/selfcheck", files=files, data={"scale": "1"}).json()
        assert "JPEG" in one["method"] and one["psnr_bicubic"] < 40  # quality 20 leaves visible damage
        tiny = c.post("/api/selfcheck", files={"file": ("t.png", png(smooth_image(10, 10)), "image/png")}).json()
        assert tiny["applicable"] is False


def test_exif_orientation_applied(client: TestClient) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    stored = smooth_image(20, 40)  # stored 40 wide, 20 high; displayed 20 wide, 40 high
    r = post(client, jpeg(stored, exif=exif.tobytes()), name="phone.jpg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(r.content)) as out:
        assert out.size == (2 * 20, 2 * 40)
        assert out.getexif().get(0x0112, 1) == 1


# ------------------------------------------------------------------------------------------------ errors


def test_413_content_length(client: TestClient) -> None:
    r = post(client, b"\0" * 300_000)
    assert r.status_code == 413 and "too large" in r.json()["error"]


def test_413_chunked_stream(client: TestClient) -> None:
    body, ctype = multipart(b"\0" * 400_000)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 16_384):
            yield body[i:i + 16_384]

    r = client.post("/api/enhance", content=chunks(), headers={"content-type": ctype.decode()})
    assert r.status_code == 413 and "too large" in r.json()["error"]


def test_413_stops_reading_early() -> None:
    """Over the limit, the body is abandoned: a declared length reads nothing, a stream stops at the limit."""
    app = create_app(ServeSettings(**SMALL))
    body, ctype = multipart(b"\0" * 5_000_000)
    calls = 0

    async def receive() -> dict:
        nonlocal calls
        start = calls * 65_536
        calls += 1
        return {"type": "http.request", "body": body[start:start + 65_536], "more_body": start + 65_536 < len(body)}

    status, headers, _ = asgi_post(app, [(b"content-type", ctype), (b"content-length", str(len(body)).encode())],
                                   receive)
    assert status == 413 and calls == 0 and headers[b"connection"] == b"close"
    status, _, out = asgi_post(app, [(b"content-type", ctype)], receive)  # chunked: no Content-Length
    assert status == 413 and json.loads(out)["error"].startswith("upload too large")
    assert calls <= 6  # 200 kB + 64 kB of slack in 64 kB chunks, out of 77 chunks


def test_408_slow_upload() -> None:
    app = create_app(ServeSettings(**{**SMALL, "read_timeout": 0.3}))
    body, ctype = multipart(png(smooth_image(10, 10)))
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body[:50], "more_body": True}
        await asyncio.sleep(30)  # the client stalls
        return {"type": "http.disconnect"}

    t0 = time.monotonic()
    status, _, out = asgi_post(app, [(b"content-type", ctype)], receive)
    assert status == 408 and "longer than" in json.loads(out)["error"]
    assert time.monotonic() - t0 < 5


def test_415_not_an_image(client: TestClient) -> None:
    r = post(client, b"Hello, I am a text file pretending to be a photo.\n" * 10, name="photo.png")
    assert r.status_code == 415 and "not a supported image" in r.json()["error"]
    r = client.post("/api/enhance", json={"file": "x"})
    assert r.status_code == 415


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"model": "no-such-model"}, "unknown model"),
        ({"model": "/etc/passwd"}, "unknown model"),  # never a path from the network
        ({"scale": "9"}, "scale"),
        ({"scale": "0"}, "scale"),
        ({"scale": "two"}, "scale"),
        ({"scale": "0.5"}, "scale"),
        ({"scale": "x"}, "scale"),
        ({"scale": "4.01"}, "scale"),
        ({"scale": "nan"}, "scale"),
        ({"scale": "inf"}, "scale"),
        ({"scale": "1e0"}, "scale"),
        ({"scale": "-1.5"}, "scale"),
        ({"selfcheck": "maybe"}, "selfcheck"),
    ],
)
def test_422_bad_options(client: TestClient, fields: dict[str, str], needle: str) -> None:
    r = post(client, png(smooth_image(10, 10)), **fields)
    assert r.status_code == 422 and needle in r.json()["error"]


def test_422_no_file(client: TestClient) -> None:
    r = client.post("/api/enhance", data={"model": "bicubic"})
    assert r.status_code == 415  # not even multipart
    r = client.post("/api/enhance", data={"model": "bicubic"}, files={"other": ("x.png", b"x", "image/png")})
    assert r.status_code == 422 and "'file'" in r.json()["error"]


def test_422_too_many_pixels() -> None:
    with TestClient(create_app(ServeSettings(**{**SMALL, "max_output_pixels": 40_000}))) as c:
        r = post(c, png(smooth_image(150, 150)))  # 22,500 input pixels > 20,000
        assert r.status_code == 422 and "too large" in r.json()["error"]
        small = png(smooth_image(70, 70))  # 4,900 pixels: fine at x2 (19,600 out), too many at x3 (44,100 out)
        assert post(c, small, scale="2").status_code == 200
        r = post(c, small, scale="3")
        assert r.status_code == 422 and "scale" in r.json()["error"]


def test_422_output_limit_uses_the_real_output_size() -> None:
    """At 1.5 a 15 x 15 photo gives ceil(22.5)^2 = 23 x 23 = 529 output pixels, not 15^2 x 1.5^2 = 506.25."""
    with TestClient(create_app(ServeSettings(**{**SMALL, "max_output_pixels": 510}))) as c:
        r = post(c, png(smooth_image(15, 15)), scale="1.5")
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert "too large" in error and "23 x 23" in error and "scale 1.5" in error
        r = post(c, png(smooth_image(14, 14)), scale="1.5")  # 21 x 21 = 441 fits
        assert r.status_code == 200 and r.headers["x-srcnn-output-size"] == "21x21"
        r = post(c, png(smooth_image(20, 20)), scale="1.5")  # 400 x 2.25 = 900: refused before decoding
        assert r.status_code == 422 and "over the limit" in r.json()["error"]


def test_403_cross_origin_post(client: TestClient) -> None:
    files = {"file": ("p.png", png(smooth_image(10, 10)), "image/png")}
    r = client.post("/api/enhance", files=files, headers={"origin": "http://evil.example"})
    assert r.status_code == 403
    r = client.post("/api/enhance", files=files, headers={"origin": "http://testserver"})
    assert r.status_code == 200


class _Blocking:
    """Stands in for a loaded model: blocks inside the worker until released."""

    def __init__(self, started: threading.Event, release: threading.Event) -> None:
        self.started, self.release = started, release

    def tile_count(self, height: int, width: int, scale: float, tile: int | None = None) -> int:
        return 1

    def enhance_picture(self, picture: images.Picture, scale: int | None = None, **_: Any) -> images.Picture:
        self.started.set()
        assert self.release.wait(20)
        return picture


def test_503_when_queue_full(monkeypatch: pytest.MonkeyPatch) -> None:
    started, release = threading.Event(), threading.Event()
    monkeypatch.setattr(web_app, "load_model", lambda *a, **k: _Blocking(started, release))
    app = create_app(ServeSettings(**{**SMALL, "workers": 1, "queue": 1}))
    data = png(smooth_image(10, 10))
    results: list[int] = []
    with TestClient(app) as c:
        threads = [threading.Thread(target=lambda: results.append(post(c, data).status_code)) for _ in range(2)]
        threads[0].start()
        assert started.wait(20)  # job 1 runs on the only worker
        threads[1].start()  # job 2 waits in the queue
        gate = app.state.srcnn.gate
        deadline = time.monotonic() + 20
        while gate.active < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert gate.active == 2
        r = post(c, data)  # job 3: no room
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1 and "busy" in r.json()["error"]
        assert c.get("/healthz").status_code == 200  # the event loop is free while the worker is busy
        release.set()
        for t in threads:
            t.join(20)
        assert results == [200, 200]
        assert gate.active == 0
        assert post(c, data).status_code == 200


class _Reporting(_Blocking):
    """A blocking model that reports 1 of 10 tiles done after ``delay`` s, then blocks until released."""

    def __init__(self, started: threading.Event, release: threading.Event, delay: float) -> None:
        super().__init__(started, release)
        self.delay = delay
        self.ticked = threading.Event()

    def tile_count(self, height: int, width: int, scale: float, tile: int | None = None) -> int:
        return 10

    def enhance_picture(self, picture: images.Picture, scale: int | None = None, progress: Any = None,
                        **_: Any) -> images.Picture:
        self.started.set()
        time.sleep(self.delay)
        if progress is not None:
            progress(1)
        self.ticked.set()
        assert self.release.wait(20)
        return picture


def test_503_retry_after_comes_from_the_running_jobs_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry-After is the running job's remaining time (elapsed / tiles done x tiles left), not the running mean."""
    started, release = threading.Event(), threading.Event()
    model = _Reporting(started, release, delay=1.0)
    monkeypatch.setattr(web_app, "load_model", lambda *a, **k: model)
    app = create_app(ServeSettings(**{**SMALL, "workers": 1, "queue": 0}))
    data = png(smooth_image(10, 10))
    with TestClient(app) as c:
        t = threading.Thread(target=post, args=(c, data))
        t.start()
        try:
            assert model.ticked.wait(20)  # 1 of 10 tiles done after about 1 s: about 9 s to go
            state = app.state.srcnn
            (job,) = [j for j in state.jobs.values() if j.state == "running"]
            assert (job.done, job.total) == (1, 10)
            before = job.remaining(time.monotonic())
            r = post(c, data)
            after = job.remaining(time.monotonic())
            assert r.status_code == 503
            retry = int(r.headers["retry-after"])
            assert before is not None and after is not None and 8.5 <= before <= after
            assert math.ceil(before) <= retry <= math.ceil(after), (before, retry, after)
            assert retry != state.gate.retry_after()  # not the old running-mean fallback (1 s x 1 job here)
        finally:
            release.set()
            t.join(20)


def test_queue_zero_admits_only_running_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    started, release = threading.Event(), threading.Event()
    monkeypatch.setattr(web_app, "load_model", lambda *a, **k: _Blocking(started, release))
    with TestClient(create_app(ServeSettings(**{**SMALL, "workers": 1, "queue": 0}))) as c:
        data = png(smooth_image(10, 10))
        t = threading.Thread(target=post, args=(c, data))
        t.start()
        assert started.wait(20)
        assert post(c, data).status_code == 503
        release.set()
        t.join(20)


# ------------------------------------------------------------------------------------------------ CLI wiring


def test_cli_arguments_and_defaults() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    s = settings_from_args(parser.parse_args([]))
    assert (s.host, s.port, s.workers, s.queue) == ("127.0.0.1", 8000, 2, 8)
    assert s.max_upload_bytes == 25 * 1024 * 1024 and s.max_pixels == 40_000_000
    assert s.output_pixel_limit == 100_000_000 and s.read_timeout == 30.0 and s.torch_threads >= 1
    s = settings_from_args(parser.parse_args(["--port", "9000", "--workers", "3", "--max-upload-mb", "1",
                                              "--max-pixels", "1_000", "--queue", "0"]))
    assert (s.port, s.workers, s.max_upload_bytes, s.max_pixels, s.queue) == (9000, 3, 1 << 20, 1000, 0)
    with pytest.raises(SystemExit):
        parser.parse_args(["--workers", "0"])


def test_result_too_wide_for_jpeg_comes_back_as_png() -> None:
    """A 2x result wider than JPEG's 65,500 px limit is sent as PNG instead of failing (found by the fuzzer)."""
    client = TestClient(create_app(ServeSettings(**{**SMALL, "max_pixels": 1_000_000})))
    strip = np.tile(np.arange(0, 250, 50, dtype=np.uint8), 6600)[None, :].repeat(2, 0)  # 33,000 x 2 px
    r = post(client, jpeg(strip), name="strip.jpg", model="bicubic", scale="2")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(r.content)).size == (66_000, 4)


def test_requests_never_reach_the_filesystem(client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    """Model names are never paths, file names are never used, and nothing is written while serving."""
    import os
    import tempfile

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    weights = tmp_path / "evil.safetensors"
    weights.write_bytes(b"not weights")
    before = sorted(os.listdir(tmp_path))
    photo = png(np.zeros((8, 8, 3), np.uint8))
    for model in (str(weights), "../evil", "/etc/passwd", "evil.safetensors"):
        r = post(client, photo, model=model)
        assert r.status_code == 422 and "unknown model" in r.json()["error"].lower(), model
    r = post(client, photo, name="../../../../tmp/owned.png", model="bicubic")
    assert r.status_code == 200
    assert sorted(os.listdir(tmp_path)) == before
    assert not Path("/tmp/owned.png").exists()


# ------------------------------------------------------------------------------------------------ allowed scales


def test_models_list_purpose_and_allowed_scales_from_the_cards(client: TestClient) -> None:
    from srcnn import zoo

    listed = {m["name"]: m for m in client.get("/api/models").json()}
    members = {m for c in zoo.available() for m in c.members.values()}
    assert not members & set(listed)  # a family's members are reached through the family
    for c in (c for c in zoo.available() if c.name not in members):
        assert listed[c.name]["purpose"] == c.purpose and listed[c.name]["scales"] == c.scales.as_json()
        assert c.raw.get("purpose") and c.raw.get("scales"), f"{c.name}'s card lacks purpose or scales"
    assert listed["srcnn-x4"]["scales"] == [4] and listed["srcnn-photo"]["scales"] == {"min": 1, "max": 4}
    assert listed["bicubic"]["scales"] == {"min": 1, "max": 4}


@pytest.mark.parametrize("model, scale", [("srcnn-x4", "1"), ("srcnn-x3", "1.5"), ("srcnn-jpeg", "2")])
def test_422_scale_the_model_is_not_made_for(client: TestClient, model: str, scale: str) -> None:
    from srcnn import zoo

    r = post(client, png(smooth_image(20, 24)), model=model, scale=scale)
    assert r.status_code == 422
    body = r.json()
    assert body["allowed_scales"] == zoo.card(model).scales.as_json()
    assert model in body["error"] and "made for" in body["error"]
    assert "srcnn-photo" in body["models_for_scale"]  # srcnn-photo covers 1x to 4x


def test_a_model_at_its_own_scale_is_accepted(client: TestClient) -> None:
    r = post(client, png(smooth_image(20, 24)), model="srcnn-x3", scale="3")
    assert r.status_code == 200, r.text
    assert r.headers["x-srcnn-output-size"] == "72x60"


def test_cli_refuses_a_scale_the_model_is_not_made_for(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same rule in `srcnn enhance`: a one-line refusal, or a warning and the work done with --force."""
    from srcnn.cli import main

    src = tmp_path / "p.png"
    src.write_bytes(png(smooth_image(20, 24)))
    out = tmp_path / "o.png"
    assert main(["enhance", str(src), "-m", "srcnn-x4", "-s", "1", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "srcnn-x4 is made for 4x, not 1x" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert main(["enhance", str(src), "-m", "srcnn-x4", "-s", "1", "-o", str(out), "--force"]) == 0
    assert "warning: srcnn-x4 is made for 4x" in capsys.readouterr().err and out.exists()
    assert main(["enhance", str(src), "-m", "srcnn-x4", "-o", str(tmp_path / "o4.png"), "--quiet"]) == 0


def test_each_model_file_is_loaded_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A --model weights file is loaded at start-up, on the serving device, and that copy serves the requests."""
    from srcnn.checkpoint import save_weights
    from srcnn.model import FSRCNN

    w = tmp_path / "mine.safetensors"
    save_weights(w, FSRCNN(d=8, s=4, m=1, scale=2), {"scale": 2, "task": "sr"})
    calls: list[str] = []
    real = web_app.load_model

    def counting(source: Any, *a: Any, **k: Any) -> Any:
        calls.append(str(source))
        return real(source, *a, **k)

    monkeypatch.setattr(web_app, "load_model", counting)
    app = create_app(ServeSettings(**{**SMALL, "extra_models": [str(w)]}))
    with TestClient(app) as c:
        for _ in range(2):
            r = post(c, png(smooth_image(12, 10)), model="mine", scale="2")
            assert r.status_code == 200, r.text
            assert Image.open(io.BytesIO(r.content)).size == (20, 24)
    assert calls.count(str(w)) == 1


# ----------------------------------------------------------------------------------- output format and quality (item 5)


def _encoded(array: np.ndarray, fmt: str, **options: Any) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, fmt, **options)
    return buf.getvalue()


def _rgba_corner() -> bytes:
    """A 20 x 30 RGBA photo whose top-left 6 x 6 is fully transparent (with black under it)."""
    rgba = np.concatenate([smooth_image(20, 30, seed=7), np.full((20, 30, 1), 255, np.uint8)], axis=2)
    rgba[:6, :6] = 0
    return png(rgba)


@pytest.mark.parametrize(
    ("make", "fields", "media", "fmt", "quality", "note"),
    [
        # keep (the default): exactly the behaviour before the field existed, now said in the headers
        (lambda: jpeg(smooth_image(20, 30)), {}, "image/jpeg", "JPEG", "95", None),
        (lambda: png(smooth_image(20, 30)), {}, "image/png", "PNG", None, None),
        (lambda: png(smooth_image(20, 30)), {"format": "keep"}, "image/png", "PNG", None, None),
        (lambda: _encoded(smooth_image(20, 30), "WEBP", quality=90), {}, "image/png", "PNG", None, "WebP in, PNG out"),
        (lambda: _encoded(smooth_image(20, 30), "TIFF"), {}, "image/png", "PNG", None, "TIFF in, PNG out"),
        (_bmp, {}, "image/png", "PNG", None, "BMP in, PNG out"),
        # a chosen format
        (lambda: png(smooth_image(20, 30)), {"format": "jpeg"}, "image/jpeg", "JPEG", "95", None),
        (lambda: png(smooth_image(20, 30)), {"format": "JPG", "quality": "40"}, "image/jpeg", "JPEG", "40", None),
        (lambda: jpeg(smooth_image(20, 30)), {"format": "png"}, "image/png", "PNG", None, None),
        (lambda: jpeg(smooth_image(20, 30)), {"format": "webp", "quality": "80"}, "image/webp", "WEBP", "80", None),
        (lambda: _encoded(smooth_image(20, 30), "TIFF"), {"format": "webp"}, "image/webp", "WEBP", "95", None),
        (lambda: png(smooth_image(20, 30)), {"format": "png", "quality": "10"}, "image/png", "PNG", None, None),
    ],
    ids=["jpeg-keep", "png-keep", "png-keep-explicit", "webp-keep", "tiff-keep", "bmp-keep", "png-to-jpeg",
         "png-to-jpg-q40", "jpeg-to-png", "jpeg-to-webp-q80", "tiff-to-webp", "png-quality-ignored"],
)
def test_output_format_and_quality(client: TestClient, make: Any, fields: dict[str, str], media: str, fmt: str,
                                   quality: str | None, note: str | None) -> None:
    r = post(client, make(), name="holiday.dat", **fields)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == media and r.headers["x-srcnn-format"] == fmt
    with Image.open(io.BytesIO(r.content)) as im:
        assert im.format == fmt and im.size == (60, 40)
    ext = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[fmt]
    assert r.headers["content-disposition"] == f'attachment; filename="holiday_bicubic_x2.{ext}"'
    assert r.headers.get("x-srcnn-quality") == quality
    if note is None:
        assert "x-srcnn-format-note" not in r.headers
    else:
        assert note in r.headers["x-srcnn-format-note"]


def test_jpeg_quality_changes_the_bytes(client: TestClient) -> None:
    photo = png(np.random.default_rng(1).integers(0, 256, (40, 40, 3), dtype=np.uint8))
    sizes = [len(post(client, photo, format="jpeg", quality=q).content) for q in ("5", "50", "100")]
    assert sizes[0] < sizes[1] < sizes[2]
    webp = [len(post(client, photo, format="webp", quality=q).content) for q in ("5", "90")]
    assert webp[0] < webp[1]


def test_alpha_and_depth_kept_where_the_format_allows(client: TestClient) -> None:
    rgba = _rgba_corner()
    kept = post(client, rgba, format="png")
    assert "x-srcnn-format-note" not in kept.headers
    assert images.read(kept.content).alpha is not None
    webp = post(client, rgba, format="webp")
    assert webp.headers["content-type"] == "image/webp" and "x-srcnn-format-note" not in webp.headers
    with Image.open(io.BytesIO(webp.content)) as im:
        assert im.mode == "RGBA" and im.getpixel((0, 0))[3] < 20
    flat = post(client, rgba, format="jpeg")
    assert flat.headers["content-type"] == "image/jpeg"
    assert "transparency flattened onto white" in flat.headers["x-srcnn-format-note"]
    with Image.open(io.BytesIO(flat.content)) as im:
        assert im.mode == "RGB" and min(im.getpixel((1, 1))) > 235  # white, not the black under the alpha

    deep = _rgb16()
    assert images.read(post(client, deep, format="png").content).bits == 16
    assert images.read(post(client, deep).content).bits == 16  # keep: PNG 16 stays PNG 16
    for choice, word in (("webp", "WebP"), ("jpeg", "JPEG")):
        r = post(client, deep, format=choice)
        assert r.status_code == 200 and images.read(r.content).bits == 8
        assert f"16-bit depth reduced to 8 bits ({word}" in r.headers["x-srcnn-format-note"]


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"format": "gif"}, "format must be one of keep, png, jpeg, webp, got 'gif'"),
        ({"format": "tiff"}, "format must be one of keep, png, jpeg, webp"),
        ({"format": "../png"}, "format must be one of"),
        ({"quality": "0"}, "quality must be a whole number from 1 to 100, got '0'"),
        ({"quality": "101"}, "quality must be a whole number from 1 to 100"),
        ({"quality": "9.5"}, "quality must be a whole number from 1 to 100"),
        ({"quality": "-5"}, "quality must be a whole number from 1 to 100"),
        ({"quality": "high", "format": "jpeg"}, "quality must be a whole number from 1 to 100, got 'high'"),
    ],
)
def test_422_bad_format_or_quality(client: TestClient, fields: dict[str, str], needle: str) -> None:
    r = post(client, png(smooth_image(10, 10)), **fields)
    assert r.status_code == 422 and needle in r.json()["error"], r.text
    if "format" in needle:
        assert r.json()["formats"] == ["keep", "png", "jpeg", "webp"]


def test_result_too_wide_for_webp_comes_back_as_png_with_a_note() -> None:
    client = TestClient(create_app(ServeSettings(**{**SMALL, "max_pixels": 1_000_000})))
    strip = np.tile(np.arange(0, 250, 50, dtype=np.uint8), 1700)[None, :].repeat(2, 0)  # 8,500 x 2 px
    r = post(client, png(strip), name="strip.png", format="webp", scale="2")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png" and r.headers["x-srcnn-format"] == "PNG"
    assert "sent as PNG" in r.headers["x-srcnn-format-note"] and "WEBP" in r.headers["x-srcnn-format-note"]


def test_openapi_lists_format_and_quality(client: TestClient) -> None:
    post_ = client.get("/openapi.json").json()["paths"]["/api/enhance"]["post"]
    props = post_["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert props["format"]["enum"] == ["keep", "png", "jpeg", "webp"]
    assert (props["quality"]["minimum"], props["quality"]["maximum"]) == (1, 100)
    assert "image/webp" in post_["responses"]["200"]["content"]


def test_the_default_output_limit_follows_the_memory_a_worker_may_use() -> None:
    """A 5000x5000 PNG at x2 (100 MP out) is refused on a server whose workers may use 1 GiB each."""
    assert ServeSettings().output_pixel_limit == 100_000_000
    small = ServeSettings(worker_memory_mb=1024)
    assert 50_000_000 < small.output_pixel_limit < 70_000_000
    assert ServeSettings(worker_memory_mb=1024, max_output_pixels=5).output_pixel_limit == 5
    app = create_app(ServeSettings(**{**SMALL, "max_pixels": 40_000_000, "worker_memory_mb": 1024}))
    with TestClient(app) as c:
        assert c.get("/api/limits").json()["max_output_pixels"] == small.output_pixel_limit
