"""Output written band by band (issue 19 item 1): bandfile.BandWriter and Enhancer.enhance_to_file, the CLI's path.

The streamed file must decode to the very pixels (alpha, ICC, EXIF) that images.write of the whole Picture gives,
for every depth and layout, at an odd size in several uneven bands; it appears only when complete.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import srcnn._bands as bands_mod
from srcnn.bandfile import STREAMED_FORMATS, BandWriter
from srcnn.enhance import load_model
from srcnn.files import is_temp_name
from srcnn.images import ImageError, Picture, read, write

MAKE, SOFTWARE, EXIF_IFD, DATE_ORIGINAL = 0x010F, 0x0131, 0x8769, 0x9003
BANDS = ((0, 5), (5, 6), (6, 6), (6, 20), (20, 37))  # uneven, one empty; 37 rows


def _exif() -> bytes:
    exif = Image.Exif()
    exif[MAKE] = "TestCam"
    exif[SOFTWARE] = "pytest"
    exif.get_ifd(EXIF_IFD)[DATE_ORIGINAL] = "2021:02:03 04:05:06"  # a sub-IFD
    return exif.tobytes()


def _icc(channels: int) -> bytes:
    from PIL import ImageCms

    if channels == 3:
        return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    # a gray profile: Pillow cannot build one, so take the RGB one and mark its colour space GRAY (kept by header)
    data = bytearray(_icc(3))
    data[16:20] = b"GRAY"
    return bytes(data)


def _picture(channels: int, bits: int, alpha: bool, icc: bool = True, exif: bool = True, seed: int = 0,
             size: tuple[int, int] = (37, 29)) -> Picture:
    rng = np.random.default_rng(seed)
    dtype = np.uint16 if bits == 16 else np.uint8
    top = 65535 if bits == 16 else 255
    px = rng.integers(0, top + 1, (*size, channels)).astype(dtype)
    a = rng.integers(0, top + 1, size).astype(dtype) if alpha else None
    return Picture(px, a, icc=_icc(channels) if icc else None, exif=_exif() if exif else None)


def _stream(path: Path, pic: Picture, bands=BANDS) -> None:
    with BandWriter(path, pic.height, pic.width, pic.pixels.shape[2], pic.bits, alpha=pic.alpha is not None,
                    icc=pic.icc, exif=pic.exif) as out:
        for y0, y1 in bands:
            out.write(pic.pixels[y0:y1], None if pic.alpha is None else pic.alpha[y0:y1])


def _same(a: Picture, b: Picture) -> bool:
    alpha = (a.alpha is None and b.alpha is None) or (
        a.alpha is not None and b.alpha is not None and np.array_equal(a.alpha, b.alpha))
    return a.pixels.dtype == b.pixels.dtype and np.array_equal(a.pixels, b.pixels) and alpha


def _exif_tags(data: bytes | None) -> dict:
    exif = Image.Exif()
    if data:
        exif.load(data)
    return {**dict(exif.items()), "sub": dict(exif.get_ifd(EXIF_IFD).items())}


LAYOUTS = {"rgb8": (3, 8, False), "gray16": (1, 16, False), "rgba8": (3, 8, True), "rgba16": (3, 16, True),
           "gray8": (1, 8, False), "graya8": (1, 8, True), "graya16": (1, 16, True), "rgb16": (3, 16, False)}


@pytest.mark.parametrize("ext", [".png", ".tif"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_streamed_file_has_the_pixels_of_write(tmp_path: Path, ext: str, layout: str) -> None:
    pic = _picture(*LAYOUTS[layout])
    write(tmp_path / f"whole{ext}", pic)
    _stream(tmp_path / f"band{ext}", pic)
    whole, band = read(tmp_path / f"whole{ext}"), read(tmp_path / f"band{ext}")
    assert _same(band, whole), layout
    assert _same(band, pic) or (ext == ".tif" and layout == "graya16")  # written as RGBA16, as write() does
    assert band.icc == whole.icc
    assert (band.icc is None) == (ext == ".tif" and layout == "graya16")  # a gray profile does not fit RGBA
    if ext == ".png" or pic.bits == 8 or layout == "gray16":  # write() leaves EXIF out of 16-bit colour TIFF
        assert _exif_tags(band.exif) == _exif_tags(whole.exif)
    tags = _exif_tags(band.exif)  # the streamed file keeps it everywhere, sub-IFD included
    assert tags[MAKE] == "TestCam" and tags["sub"][DATE_ORIGINAL] == "2021:02:03 04:05:06"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"band{ext}", f"whole{ext}"]


def test_16bit_png_is_byte_for_byte_the_one_write_makes(tmp_path: Path) -> None:
    pic = _picture(3, 16, True)
    write(tmp_path / "whole.png", pic)
    _stream(tmp_path / "band.png", pic)
    assert (tmp_path / "band.png").read_bytes() == (tmp_path / "whole.png").read_bytes()


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_tall_picture_in_many_strips_and_chunks(tmp_path: Path, ext: str) -> None:
    """Several IDAT chunks / TIFF strips, bands not aligned with them; no ICC or EXIF."""
    rng = np.random.default_rng(3)
    pic = Picture(rng.integers(0, 65536, (700, 301, 3)).astype(np.uint16), icc=None, exif=None)
    bands = [(y, min(700, y + 97)) for y in range(0, 700, 97)]
    _stream(tmp_path / f"band{ext}", pic, bands)
    assert _same(read(tmp_path / f"band{ext}"), pic)


@pytest.mark.parametrize("ext", [".jpg", ".webp", ".bmp"])
@pytest.mark.parametrize("channels, bits, alpha", [(3, 8, None), (1, 8, None), (3, 16, True), (1, 16, True)])
def test_formats_held_whole_are_byte_for_byte_what_write_makes(tmp_path: Path, ext: str, channels: int, bits: int,
                                                               alpha: bool | None) -> None:
    """JPEG, WebP and BMP rows fill one 8-bit image (not a copy of the picture): the file is write()'s own."""
    pic = _picture(channels, bits, ext == ".webp" if alpha is None else alpha, exif=ext != ".bmp")
    assert BandWriter(tmp_path / f"x{ext}", 37, 29, channels, bits, alpha=pic.alpha is not None).streaming is False
    write(tmp_path / f"whole{ext}", pic)
    _stream(tmp_path / f"band{ext}", pic)
    assert (tmp_path / f"band{ext}").read_bytes() == (tmp_path / f"whole{ext}").read_bytes()
    assert STREAMED_FORMATS == ("PNG", "TIFF")


def test_nothing_appears_until_the_last_row_and_failure_cleans_up(tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    write(out, Picture(np.zeros((4, 4, 3), np.uint8)))
    before = out.read_bytes()
    pic = _picture(3, 8, False)
    with pytest.raises(KeyboardInterrupt):
        with BandWriter(out, 37, 29, 3, 8) as w:
            w.write(pic.pixels[:10])
            names = [p.name for p in tmp_path.iterdir()]
            assert len(names) == 2 and is_temp_name(next(n for n in names if n != "out.png"))  # prepare knows it
            raise KeyboardInterrupt
    assert out.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["out.png"]
    with pytest.raises(ValueError, match="never written"):
        with BandWriter(out, 37, 29, 3, 8) as w:
            w.write(pic.pixels[:36])
    assert out.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_disk_full_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out.tif"
    write(out, Picture(np.zeros((4, 4, 3), np.uint8)))
    before = out.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(ImageError, match="no space left|No space left") as e:
        _stream(out, _picture(3, 8, True))
    assert str(e.value).startswith(f"{out}:")
    assert out.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["out.tif"]


def test_what_cannot_be_written_is_refused_before_any_row(tmp_path: Path) -> None:
    for path, match in [(tmp_path / "nowhere" / "a.png", "does not exist"), (tmp_path / "a.gif", "extension"),
                        (tmp_path / "a.jpg", "too large for JPEG")]:
        with pytest.raises(ImageError, match=match) as e:
            BandWriter(path, 70000, 10, 3, 8)
        assert str(e.value).startswith(f"{path}:")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("model", ["bicubic", "srcnn-x2"])
@pytest.mark.parametrize("ext", [".png", ".tif", ".jpg"])
def test_enhance_to_file_writes_what_enhance_picture_gives(tmp_path: Path, model: str, ext: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bands_mod, "BAND_PIXELS", 1)  # a band per tile row: many bands
    enh = load_model(model, device="cpu", precision="fp32")
    for layout in (["rgb8", "gray16", "rgba8", "graya16"] if ext != ".jpg" else ["rgb8"]):
        pic = _picture(*LAYOUTS[layout], icc=False, size=(301, 13))  # bicubic's bands are 256-row tile rows
        for s in (1, 1.5, 2):
            whole = enh.enhance_picture(pic, scale=s, tile=16)
            write(tmp_path / f"whole{ext}", whole)
            enh.enhance_to_file(pic, tmp_path / f"band{ext}", scale=s, tile=16)
            assert _same(read(tmp_path / f"band{ext}"), read(tmp_path / f"whole{ext}")), (model, layout, s)
            bands = list(enh.enhance_bands(pic, scale=s, tile=16))
            assert len(bands) > 1 and bands[0][0] == 0 and bands[-1][1] == whole.height
            assert all(a[1] == b[0] for a, b in zip(bands, bands[1:], strict=False))


def test_cli_writes_the_library_result(tmp_path: Path) -> None:
    from srcnn.cli import main

    pic = _picture(3, 16, True, icc=False, exif=False)
    write(tmp_path / "p.png", pic)
    assert main(["enhance", str(tmp_path / "p.png"), "-m", "bicubic", "-s", "2", "--quiet",
                 "-o", str(tmp_path / "out")]) == 0
    got = read(tmp_path / "out" / "p_srcnn.png")
    assert _same(got, load_model("bicubic", device="cpu").enhance_picture(pic, scale=2))
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["p_srcnn.png"]
