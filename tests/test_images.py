"""srcnn.images: every pixel that enters or leaves a file, and every way a file can be bad."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps, JpegImagePlugin

from srcnn.images import ImageError, Picture, encode, format_for_path, from_pil, quantize, read, to_pil, write

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
MAKE, SOFTWARE, EXIF_IFD, DATE_ORIGINAL = 0x010F, 0x0131, 0x8769, 0x9003


def rgb8(h: int = 6, w: int = 10, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def rgb16(h: int = 6, w: int = 10, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 65536, (h, w, 3), dtype=np.uint16)


def make_exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE] = "TestCam"
    exif[SOFTWARE] = "pytest"
    exif.get_ifd(EXIF_IFD)[DATE_ORIGINAL] = "2021:02:03 04:05:06"
    if orientation is not None:
        exif[0x0112] = orientation
    return exif


def assert_user_error(excinfo: pytest.ExceptionInfo, name: object, *words: str) -> None:
    """One line, starts with the file's name, says why."""
    message = str(excinfo.value)
    assert type(excinfo.value) is ImageError
    assert message.startswith(f"{name}:"), message
    assert "\n" not in message and "Traceback" not in message
    for word in words:
        assert word in message.lower(), message


# ----------------------------------------------------------------------------------------------------------------
# EXIF orientation


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "JPEG"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path: Path, fmt: str, orientation: int) -> None:
    pixels = rgb8(4, 7)  # not square: a missed rotation changes the shape
    path = tmp_path / f"o{orientation}.{fmt.lower()}"
    extra = {"quality": 100, "subsampling": 0} if fmt == "JPEG" else {}
    Image.fromarray(pixels).save(path, fmt, exif=make_exif(orientation).tobytes(), **extra)
    with Image.open(path) as src:
        expected = np.asarray(ImageOps.exif_transpose(src))
    pic = read(path)
    assert pic.pixels.shape == expected.shape
    assert np.array_equal(pic.pixels, expected)
    if orientation in (5, 6, 7, 8):
        assert (pic.height, pic.width) == (7, 4)
    exif = Image.Exif()
    exif.load(pic.exif)
    assert exif.get(0x0112, 1) == 1
    assert exif[MAKE] == "TestCam"


def test_output_exif_has_orientation_1_and_keeps_other_tags(tmp_path: Path) -> None:
    src = tmp_path / "rotated.jpg"
    Image.fromarray(rgb8(4, 7)).save(src, exif=make_exif(6).tobytes())
    for ext in ("jpg", "png", "webp", "tiff"):
        out = tmp_path / f"out.{ext}"
        write(out, read(src))
        with Image.open(out) as im:
            exif = im.getexif()
            assert im.size == (4, 7)  # rotated once, not twice
            assert exif.get(0x0112, 1) == 1
            assert exif[MAKE] == "TestCam" and exif[SOFTWARE] == "pytest"
            assert exif.get_ifd(EXIF_IFD)[DATE_ORIGINAL] == "2021:02:03 04:05:06"


def test_tiff_source_exif_keeps_metadata_not_layout_tags(tmp_path: Path) -> None:
    src = tmp_path / "in.tif"
    Image.fromarray(rgb8()).save(src, exif=make_exif().tobytes())
    pic = read(src)
    exif = Image.Exif()
    exif.load(pic.exif)
    assert exif[MAKE] == "TestCam"
    assert 273 not in exif and 279 not in exif  # StripOffsets/StripByteCounts belong to the source file
    write(tmp_path / "out.jpg", pic)
    with Image.open(tmp_path / "out.jpg") as im:
        assert im.getexif()[MAKE] == "TestCam"


def test_16bit_picture_orientation_and_exif(tmp_path: Path) -> None:
    pixels = rgb16(4, 7)
    path = tmp_path / "deep.png"
    path.write_bytes(encode(Picture(pixels, exif=make_exif(6).tobytes()), "png"))
    pic = read(path)
    assert pic.bits == 16
    assert np.array_equal(pic.pixels, np.rot90(pixels, -1))  # orientation 6 = rotate 90 clockwise
    exif = Image.Exif()
    exif.load(pic.exif)
    assert exif[0x0112] == 1 and exif[MAKE] == "TestCam"


# ----------------------------------------------------------------------------------------------------------------
# ICC profiles


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "WEBP"])
def test_icc_profile_is_read_and_carried_to_the_output(tmp_path: Path, fmt: str) -> None:
    ext = {"JPEG": "jpg", "TIFF": "tif"}.get(fmt, fmt.lower())
    src = tmp_path / f"in.{ext}"
    Image.fromarray(rgb8()).save(src, fmt, icc_profile=SRGB)
    pic = read(src)
    assert pic.icc == SRGB
    out = tmp_path / f"out.{ext}"
    write(out, pic)
    with Image.open(out) as im:
        assert im.info.get("icc_profile") == SRGB


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_icc_profile_on_16bit_colour_output(tmp_path: Path, ext: str) -> None:
    out = tmp_path / f"deep.{ext}"
    write(out, Picture(rgb16(), icc=SRGB))
    assert read(out).icc == SRGB
    with Image.open(out) as im:
        assert im.info.get("icc_profile") == SRGB


# ----------------------------------------------------------------------------------------------------------------
# Bit depth


def test_16bit_gray_png_round_trips_bit_exactly(tmp_path: Path) -> None:
    values = np.random.default_rng(1).integers(0, 65536, (9, 11), dtype=np.uint16)
    values[0, :4] = [0, 1, 256, 65535]
    src = tmp_path / "gray16.png"
    Image.fromarray(values).save(src)
    pic = read(src)
    assert pic.bits == 16 and pic.pixels.dtype == np.uint16 and pic.is_gray
    assert np.array_equal(pic.pixels[:, :, 0], values)
    assert np.any(pic.pixels % 257 != 0)  # low bytes survived: not 8-bit data stretched to 16
    out = tmp_path / "out.png"
    write(out, pic)
    with Image.open(out) as im:
        assert im.mode.startswith("I;16")
        assert np.array_equal(np.asarray(im).astype(np.uint16), values)


def test_16bit_gray_tiff_round_trips_bit_exactly(tmp_path: Path) -> None:
    values = np.random.default_rng(2).integers(0, 65536, (9, 11), dtype=np.uint16)
    out = tmp_path / "gray16.tif"
    write(out, Picture(values))
    assert np.array_equal(read(out).pixels[:, :, 0], values)
    with Image.open(out) as im:
        assert np.array_equal(np.asarray(im).astype(np.uint16), values)


@pytest.mark.parametrize("channels,with_alpha", [(3, False), (3, True), (1, True)])
def test_16bit_colour_png_round_trips_at_full_depth(tmp_path: Path, channels: int, with_alpha: bool) -> None:
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 65536, (8, 12, channels), dtype=np.uint16)
    pixels[:4] = np.arange(12, dtype=np.uint16)[None, :, None] * 5000  # smooth rows use other PNG filters
    alpha = rng.integers(0, 65536, (8, 12), dtype=np.uint16) if with_alpha else None
    out = tmp_path / "deep.png"
    write(out, Picture(pixels, alpha))
    with Image.open(out) as im:  # a valid PNG for other readers too (Pillow reduces it to 8 bits)
        im.load()
        assert np.array_equal(np.asarray(im)[:, :, 0], (pixels[:, :, 0] >> 8).astype(np.uint8))
    pic = read(out)
    assert pic.bits == 16
    assert np.array_equal(pic.pixels, pixels)
    assert (pic.alpha is None) == (alpha is None)
    if alpha is not None:
        assert np.array_equal(pic.alpha, alpha)


def test_16bit_rgb_tiff_round_trips_at_full_depth(tmp_path: Path) -> None:
    pixels = rgb16(20, 30)
    alpha = np.random.default_rng(4).integers(0, 65536, (20, 30), dtype=np.uint16)
    out = tmp_path / "deep.tif"
    write(out, Picture(pixels, alpha))
    pic = read(out)
    assert pic.bits == 16 and np.array_equal(pic.pixels, pixels) and np.array_equal(pic.alpha, alpha)
    tifffile = pytest.importorskip("tifffile")
    assert np.array_equal(tifffile.imread(out), np.concatenate([pixels, alpha[:, :, None]], axis=2))


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_reads_16bit_rgb_tiff_from_another_writer(tmp_path: Path, compression: str | None) -> None:
    tifffile = pytest.importorskip("tifffile")
    pixels = rgb16(7, 9)
    src = tmp_path / "other.tif"
    tifffile.imwrite(src, pixels, photometric="rgb", compression=compression)
    pic = read(src)
    assert pic.bits == 16 and np.array_equal(pic.pixels, pixels)


def test_8bit_stays_8bit(tmp_path: Path) -> None:
    src = tmp_path / "rgb.png"
    Image.fromarray(rgb8()).save(src)
    pic = read(src)
    assert pic.bits == 8 and pic.pixels.dtype == np.uint8 and pic.pixels.shape == (6, 10, 3)


def test_16bit_to_8bit_formats_rounds_values(tmp_path: Path) -> None:
    values = np.array([[0, 257, 128 * 257, 65535, 383]], dtype=np.uint16)  # 383/257 = 1.49 -> 1
    out = tmp_path / "out.bmp"
    write(out, Picture(values))
    with Image.open(out) as im:
        assert np.array_equal(np.asarray(im.convert("L"))[0], [0, 1, 128, 255, 1])


# ----------------------------------------------------------------------------------------------------------------
# Gray, alpha, output formats


@pytest.mark.parametrize("ext", ["png", "jpg", "tif", "bmp"])
def test_gray_in_gives_gray_out(tmp_path: Path, ext: str) -> None:
    src = tmp_path / "gray.png"
    Image.fromarray(rgb8()[:, :, 0]).save(src)
    pic = read(src)
    assert pic.is_gray and pic.pixels.shape == (6, 10, 1)
    out = tmp_path / f"out.{ext}"
    write(out, pic)
    with Image.open(out) as im:
        assert im.mode == "L"


def test_rgba_alpha_is_separate_and_reattached(tmp_path: Path) -> None:
    rgba = np.random.default_rng(5).integers(0, 256, (6, 10, 4), dtype=np.uint8)
    src = tmp_path / "rgba.png"
    Image.fromarray(rgba).save(src)
    pic = read(src)
    assert pic.pixels.shape == (6, 10, 3) and pic.alpha is not None
    assert np.array_equal(pic.alpha, rgba[:, :, 3])
    for ext in ("png", "tif"):
        write(tmp_path / f"out.{ext}", pic)
        with Image.open(tmp_path / f"out.{ext}") as im:
            assert im.mode == "RGBA" and np.array_equal(np.asarray(im), rgba)
    write(tmp_path / "lossless.webp", pic, quality=100)
    with Image.open(tmp_path / "lossless.webp") as im:
        assert im.mode == "RGBA" and np.array_equal(np.asarray(im)[:, :, 3], rgba[:, :, 3])
    write(tmp_path / "out.jpg", pic)  # JPEG has no alpha: dropped
    with Image.open(tmp_path / "out.jpg") as im:
        assert im.mode == "RGB"


def test_gray_alpha_is_reattached_as_la(tmp_path: Path) -> None:
    la = np.random.default_rng(6).integers(0, 256, (6, 10, 2), dtype=np.uint8)
    src = tmp_path / "la.png"
    Image.merge("LA", [Image.fromarray(la[:, :, 0]), Image.fromarray(la[:, :, 1])]).save(src)
    pic = read(src)
    assert pic.is_gray and np.array_equal(pic.alpha, la[:, :, 1])
    write(tmp_path / "out.png", pic)
    with Image.open(tmp_path / "out.png") as im:
        assert im.mode == "LA" and np.array_equal(np.asarray(im), la)


@pytest.mark.parametrize(
    "name,fmt",
    [("a.png", "PNG"), ("a.JPG", "JPEG"), ("a.jpeg", "JPEG"), ("a.webp", "WEBP"), ("a.tif", "TIFF"),
     ("a.TIFF", "TIFF"), ("a.bmp", "BMP")],
)  # fmt: skip
def test_format_for_path(name: str, fmt: str) -> None:
    assert format_for_path(name) == fmt


@pytest.mark.parametrize("name", ["out.gif", "out.xyz", "out"])
def test_unknown_output_extension_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ImageError) as excinfo:
        write(tmp_path / name, Picture(rgb8()))
    assert_user_error(excinfo, tmp_path / name, ".png", ".jpg", ".webp", ".tif")
    assert not (tmp_path / name).exists()


def test_explicit_format_overrides_extension(tmp_path: Path) -> None:
    out = tmp_path / "picture.bin"
    write(out, Picture(rgb8()), format="png")
    with Image.open(out) as im:
        assert im.format == "PNG"


def test_jpeg_quality_and_subsampling(tmp_path: Path) -> None:
    smooth = np.linspace(0, 255, 64 * 64 * 3).reshape(64, 64, 3).astype(np.uint8)
    pic = Picture(np.clip(smooth.astype(int) + rgb8(64, 64) // 8, 0, 255).astype(np.uint8))
    sizes = {}
    for q in (50, 95):
        write(tmp_path / f"q{q}.jpg", pic, quality=q)
        sizes[q] = (tmp_path / f"q{q}.jpg").stat().st_size
    assert sizes[95] > sizes[50]
    with Image.open(tmp_path / "q95.jpg") as im:
        assert JpegImagePlugin.get_sampling(im) == 0  # 4:4:4 at high quality
    with Image.open(tmp_path / "q50.jpg") as im:
        assert JpegImagePlugin.get_sampling(im) == 2  # 4:2:0
    with pytest.raises(ImageError):
        write(tmp_path / "bad.jpg", pic, quality=0)


def test_encode_in_memory_for_the_web() -> None:
    data = encode(Picture(rgb8()), "jpg", quality=90)
    assert data[:2] == b"\xff\xd8"
    assert read(data).pixels.shape == (6, 10, 3)
    with pytest.raises(ImageError, match="unknown output format"):
        encode(Picture(rgb8()), "gif")


# ----------------------------------------------------------------------------------------------------------------
# Pillow modes


def _palette_image(gray: bool, transparency: int | None) -> Image.Image:
    img = Image.fromarray(np.arange(60, dtype=np.uint8).reshape(6, 10) % 4).convert("P")
    colours = [(0, 0, 0), (80, 80, 80), (160, 160, 160), (255, 255, 255)]
    if not gray:
        colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    img.putpalette([v for c in colours for v in c])
    if transparency is not None:
        img.info["transparency"] = transparency
    return img


@pytest.mark.parametrize(
    "make,fmt,channels,dtype,has_alpha",
    [
        (lambda: Image.fromarray(rgb8()[:, :, 0] > 128), "PNG", 1, np.uint8, False),  # mode 1
        (lambda: Image.fromarray(rgb8()[:, :, 0]), "PNG", 1, np.uint8, False),  # L
        (lambda: Image.fromarray(rgb8()[:, :, 0]).convert("LA"), "PNG", 1, np.uint8, True),
        (lambda: _palette_image(False, None), "PNG", 3, np.uint8, False),
        (lambda: _palette_image(False, 2), "PNG", 3, np.uint8, True),
        (lambda: _palette_image(True, None), "GIF", 1, np.uint8, False),  # gray palette -> gray
        (lambda: _palette_image(False, None).convert("PA"), "TIFF", 3, np.uint8, True),
        (lambda: Image.fromarray(rgb8()), "PNG", 3, np.uint8, False),
        (lambda: Image.fromarray(rgb8()).convert("RGBA"), "PNG", 3, np.uint8, True),
        (lambda: Image.fromarray(rgb8()).convert("CMYK"), "TIFF", 3, np.uint8, False),
        (lambda: Image.fromarray(rgb8()).convert("CMYK"), "JPEG", 3, np.uint8, False),
        (lambda: Image.fromarray(rgb8()).convert("YCbCr"), "TIFF", 3, np.uint8, False),
        (lambda: Image.new("LAB", (10, 6), (50, 128, 128)), "TIFF", 3, np.uint8, False),
        (lambda: Image.fromarray(rgb16()[:, :, 0]), "PNG", 1, np.uint16, False),  # I;16
        (lambda: Image.fromarray(rgb16()[:, :, 0].astype(np.int32) * 3), "TIFF", 1, np.uint16, False),  # I
        (lambda: Image.fromarray(rgb8()[:, :, 0].astype(np.float32)), "TIFF", 1, np.uint16, False),  # F
    ],
)
def test_every_mode_reads_into_a_valid_picture(tmp_path, make, fmt, channels, dtype, has_alpha) -> None:
    img = make()
    src = tmp_path / f"in.{fmt.lower()}"
    img.save(src, fmt)
    pic = read(src)
    assert pic.pixels.shape == (img.height, img.width, channels)
    assert pic.pixels.dtype == dtype
    assert (pic.alpha is not None) == has_alpha
    out = tmp_path / "out.png"
    write(out, pic)  # and it can be written again
    assert read(out).pixels.shape == pic.pixels.shape


def test_mode_values_are_converted_sensibly(tmp_path: Path) -> None:
    one = read(_save(tmp_path / "one.png", Image.fromarray(np.array([[False, True]]))))
    assert one.pixels[0, :, 0].tolist() == [0, 255]

    pal = read(_save(tmp_path / "pal.png", _palette_image(False, 2)))
    assert pal.alpha[0, :4].tolist() == [255, 255, 0, 255]  # palette index 2 is transparent
    assert pal.pixels[0, 0].tolist() == [255, 0, 0]

    cmyk = read(_save(tmp_path / "cyan.tif", Image.new("CMYK", (2, 2), (255, 0, 0, 0))))
    assert cmyk.pixels[0, 0].tolist() == [0, 255, 255]

    big = np.array([[0, 70000, -5, 300]], dtype=np.int32)  # I: negatives -> 0, scaled so the max is 65535
    assert read(_save(tmp_path / "i.tif", Image.fromarray(big))).pixels[0, :, 0].tolist() == [0, 65535, 0, 281]
    small = np.array([[0, 1000, 65535]], dtype=np.int32)  # I within 16 bits: kept as is
    assert read(_save(tmp_path / "i16.tif", Image.fromarray(small))).pixels[0, :, 0].tolist() == [0, 1000, 65535]

    f255 = np.array([[0.0, 51.0, 255.0, -3.0]], dtype=np.float32)  # F in 0..255
    assert read(_save(tmp_path / "f.tif", Image.fromarray(f255))).pixels[0, :, 0].tolist() == [0, 13107, 65535, 0]
    f1 = np.array([[0.0, 0.5, 1.0, np.nan]], dtype=np.float32)  # F in 0..1, NaN -> 0
    assert read(_save(tmp_path / "f1.tif", Image.fromarray(f1))).pixels[0, :, 0].tolist() == [0, 32768, 65535, 0]


def _save(path: Path, img: Image.Image) -> Path:
    img.save(path)
    return path


def test_transparency_key_becomes_alpha(tmp_path: Path) -> None:
    gray = np.array([[0, 10, 20]], dtype=np.uint8)
    pic = read(_save(tmp_path / "key.png", _with_info(Image.fromarray(gray), transparency=10)))
    assert pic.alpha[0].tolist() == [255, 0, 255]


def _with_info(img: Image.Image, **info: object) -> Image.Image:
    img.info.update(info)
    return img


@pytest.mark.parametrize("mode", ["La", "RGBa", "HSV", "RGBX", "PA", "I;16B", "1"])
def test_from_pil_accepts_in_memory_modes(mode: str) -> None:
    img = Image.fromarray(rgb8()).convert("RGBA").convert(mode) if mode != "I;16B" else Image.new(mode, (10, 6), 700)
    pic = from_pil(img)
    assert pic.pixels.shape[:2] == (6, 10) and pic.pixels.shape[2] in (1, 3)
    if mode == "I;16B":
        assert pic.bits == 16 and int(pic.pixels[0, 0, 0]) == 700


def test_to_pil_and_from_pil_round_trip() -> None:
    gray16 = Picture(rgb16()[:, :, :1], icc=None)
    assert to_pil(gray16).mode == "I;16"
    assert np.array_equal(from_pil(to_pil(gray16)).pixels, gray16.pixels)
    rgba = Picture(rgb8(), rgb8()[:, :, 0], icc=SRGB)
    img = to_pil(rgba)
    assert img.mode == "RGBA" and img.info["icc_profile"] == SRGB
    back = from_pil(img)
    assert np.array_equal(back.pixels, rgba.pixels) and np.array_equal(back.alpha, rgba.alpha)
    rotated = Image.fromarray(rgb8(4, 7))
    rotated.info["exif"] = make_exif(8).tobytes()
    assert from_pil(rotated).pixels.shape == (7, 4, 3)


# ----------------------------------------------------------------------------------------------------------------
# Multi-frame files: first frame


def test_animated_gif_gives_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert read(tmp_path / "anim.gif").pixels[0, 0].tolist() == [255, 0, 0]


def test_apng_gives_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in ((0, 255, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.png", save_all=True, append_images=frames[1:], duration=100)
    assert read(tmp_path / "anim.png").pixels[0, 0].tolist() == [0, 255, 0]


def test_multipage_tiff_gives_first_page(tmp_path: Path) -> None:
    pages = [Image.new("L", (8, 8), v) for v in (30, 200)]
    pages[0].save(tmp_path / "pages.tif", save_all=True, append_images=pages[1:])
    assert read(tmp_path / "pages.tif").pixels[0, 0, 0] == 30


# ----------------------------------------------------------------------------------------------------------------
# Decompression bombs


def test_max_pixels_is_checked(tmp_path: Path) -> None:
    src = _save(tmp_path / "small.png", Image.fromarray(rgb8(6, 10)))
    with pytest.raises(ImageError) as excinfo:
        read(src, max_pixels=59)
    assert str(excinfo.value) == (
        f"{src}: image is 10 x 6 = 60 pixels, over the limit of 59 (use --max-pixels to raise it)"
    )
    assert read(src, max_pixels=60).width == 10
    assert read(src, max_pixels=None).width == 10


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_bomb_is_refused_from_the_header_before_decoding(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header_only(100_000, 100_000))  # 30 GB of pixels if decoded
    with pytest.raises(ImageError) as excinfo:
        read(bomb)
    assert_user_error(excinfo, bomb, "100000 x 100000", "over the limit", "--max-pixels")


def test_pillow_global_limit_is_neither_used_nor_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    src = _save(tmp_path / "img.png", Image.fromarray(rgb8(6, 10)))
    assert read(src).width == 10  # our max_pixels decides, not Pillow's global
    assert Image.MAX_IMAGE_PIXELS == 10


def test_pillow_bomb_error_becomes_image_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _save(tmp_path / "img.png", Image.fromarray(rgb8()))

    def bomb(*args: object, **kwargs: object) -> None:
        raise Image.DecompressionBombError("Image size (999 pixels) exceeds limit")

    monkeypatch.setattr(Image, "open", bomb)
    with pytest.raises(ImageError) as excinfo:
        read(src)
    assert_user_error(excinfo, src, "too large")


def test_import_leaves_pillow_settings_alone() -> None:
    code = (
        "from PIL import Image, ImageFile; before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES); "
        "import srcnn.images; print(before == (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"


# ----------------------------------------------------------------------------------------------------------------
# Bad inputs


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError) as excinfo:
        read(tmp_path / "nope.png")
    assert_user_error(excinfo, tmp_path / "nope.png", "no such file")


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ImageError) as excinfo:
        read(tmp_path / "dir.png")
    assert_user_error(excinfo, tmp_path / "dir.png", "directory")


def test_zero_byte_file(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError) as excinfo:
        read(tmp_path / "empty.jpg")
    assert_user_error(excinfo, tmp_path / "empty.jpg", "empty")


def test_text_file_named_png(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("this is not a picture\n")
    with pytest.raises(ImageError) as excinfo:
        read(tmp_path / "notes.png")
    assert_user_error(excinfo, tmp_path / "notes.png", "not a recognised image")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "WEBP"])
def test_truncated_file(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"cut.{fmt.lower()}"
    Image.fromarray(rgb8(64, 64)).save(path, fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ImageError) as excinfo:
        read(path)
    assert_user_error(excinfo, path)
    assert "truncated" in str(excinfo.value) or "corrupt" in str(excinfo.value)


def test_garbage_after_a_valid_signature(tmp_path: Path) -> None:
    path = tmp_path / "junk.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    with pytest.raises(ImageError) as excinfo:
        read(path)
    assert_user_error(excinfo, path)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(tmp_path / "locked.png", Image.fromarray(rgb8()))

    def denied(fp: object, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(fp))

    monkeypatch.setattr(Image, "open", denied)  # chmod 0 would not stop root
    with pytest.raises(ImageError) as excinfo:
        read(path)
    assert_user_error(excinfo, path, "permission denied")


def test_read_from_bytes_and_streams(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(rgb8()).save(buf, "PNG")
    assert read(buf.getvalue()).format == "PNG"
    buf.seek(0)
    assert read(buf).pixels.shape == (6, 10, 3)
    with pytest.raises(ImageError) as excinfo:
        read(b"")
    assert_user_error(excinfo, "<bytes>", "empty")
    with pytest.raises(ImageError):
        read(b"GIF89a but not really")


# ----------------------------------------------------------------------------------------------------------------
# Atomic writes


def test_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    write(tmp_path / "out.png", Picture(rgb8()))
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_failed_write_keeps_the_old_file_and_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out.png"
    write(out, Picture(rgb8(seed=1)))
    before = out.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(ImageError) as excinfo:
        write(out, Picture(rgb8(seed=2)))
    assert_user_error(excinfo, out, "no space left")
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
    with pytest.raises(ImageError):
        write(tmp_path / "new.png", Picture(rgb8()))
    assert not (tmp_path / "new.png").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_interrupted_write_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupt(src: object, dst: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write(tmp_path / "out.png", Picture(rgb8()))
    assert list(tmp_path.iterdir()) == []


def test_write_to_missing_folder_or_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError) as excinfo:
        write(tmp_path / "nowhere" / "out.png", Picture(rgb8()))
    assert_user_error(excinfo, tmp_path / "nowhere" / "out.png", "does not exist")
    (tmp_path / "taken.png").mkdir()
    with pytest.raises(ImageError) as excinfo:
        write(tmp_path / "taken.png", Picture(rgb8()))
    assert_user_error(excinfo, tmp_path / "taken.png", "directory")


def test_overwrite_keeps_file_permissions(tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    write(out, Picture(rgb8()))
    out.chmod(0o600)
    write(out, Picture(rgb8(seed=3)))
    assert out.stat().st_mode & 0o777 == 0o600


# ----------------------------------------------------------------------------------------------------------------
# Picture and float conversion


def test_to_float_and_quantize() -> None:
    pic = Picture(np.array([[0, 128, 255]], dtype=np.uint8))
    f = pic.to_float()
    assert f.dtype == np.float32 and f.shape == (1, 3, 1) and f.min() == 0.0 and f.max() == 1.0
    assert np.array_equal(quantize(f, 8), pic.pixels)
    assert quantize(np.array([-0.5, 0.5, 1.5, np.nan]), 16).tolist() == [0, 32768, 65535, 0]
    assert quantize(np.array([0.5]), 16).dtype == np.uint16
    deep = Picture.from_float(np.full((2, 3, 3), 0.25), bits=16, alpha=np.ones((2, 3)), icc=SRGB)
    assert deep.bits == 16 and deep.alpha.max() == 65535 and deep.icc == SRGB
    assert np.allclose(deep.to_float(), 0.25, atol=1e-5)


def test_picture_rejects_bad_arrays() -> None:
    with pytest.raises(ValueError):
        Picture(np.zeros((2, 2, 3), dtype=np.float32))
    with pytest.raises(ValueError):
        Picture(np.zeros((2, 2, 2), dtype=np.uint8))
    with pytest.raises(ValueError):
        Picture(np.zeros((2, 2, 3), dtype=np.uint8), alpha=np.zeros((2, 2), dtype=np.uint16))
    assert Picture(np.zeros((2, 3), dtype=np.uint8)).pixels.shape == (2, 3, 1)


# ----------------------------------------------------------------------------------------------------------------
# Reliability round 2: one list of readable formats, formats kept as promised, odd files named directly


def test_one_list_of_readable_extensions_covers_every_format_read_opens(tmp_path: Path) -> None:
    """Folder scans (CLI, data.list_images, prepare) take what read() takes: GIF, TGA, PPM, ICO, JPEG 2000, ..."""
    from PIL import features

    import srcnn.data
    from srcnn.images import INPUT_EXTENSIONS, OUTPUT_EXTENSIONS

    assert srcnn.data.IMAGE_EXTENSIONS is INPUT_EXTENSIONS
    assert set(OUTPUT_EXTENSIONS) <= set(INPUT_EXTENSIONS)
    img = Image.fromarray(rgb8(6, 8))
    made = {".gif": "GIF", ".tga": "TGA", ".ppm": "PPM", ".pgm": "PPM", ".ico": "ICO", ".pcx": "PCX",
            ".sgi": "SGI", ".dib": "DIB", ".jp2": "JPEG2000", ".qoi": "QOI"}
    if features.check("avif"):
        made[".avif"] = "AVIF"
    for ext, fmt in made.items():
        assert ext in INPUT_EXTENSIONS, ext
        path = tmp_path / f"x{ext}"
        (img.convert("L") if ext == ".pgm" else img).save(path, fmt)
        assert read(path).pixels.shape[:2] == (6, 8), ext
    assert ".psd" in INPUT_EXTENSIONS and ".pdf" not in INPUT_EXTENSIONS and ".eps" not in INPUT_EXTENSIONS


def _ico_128_bmp() -> bytes:
    """A valid 128x128 32-bit ICO stored as BMP: its directory happens to look like a TGA header."""
    buf = io.BytesIO()
    Image.fromarray(np.dstack([rgb8(128, 128), np.full((128, 128), 200, np.uint8)])).save(
        buf, "ICO", sizes=[(128, 128)], bitmap_format="bmp")
    return buf.getvalue()


def test_a_valid_ico_is_not_misread_as_tga(tmp_path: Path) -> None:
    path = tmp_path / "icon.ico"
    path.write_bytes(_ico_128_bmp())
    pic = read(path)
    assert pic.format == "ICO" and pic.pixels.shape == (128, 128, 3) and pic.alpha is not None
    assert np.all(pic.alpha == 200)


def premultiplied_tiff16(pixels: np.ndarray, alpha: np.ndarray) -> bytes:
    """A 16-bit RGBA TIFF with associated (premultiplied) alpha, ExtraSamples = 1, as Photoshop or libvips write."""
    from srcnn.images import encode_tiff16

    stored = np.rint(pixels.astype(np.float64) * alpha[:, :, None] / 65535).astype(np.uint16)
    data = encode_tiff16(stored, alpha, None)
    at = data.index(struct.pack("<HHI", 338, 3, 1))  # ExtraSamples: 2 (unassociated) -> 1 (associated)
    return data[: at + 8] + struct.pack("<H", 1) + data[at + 10 :]


def test_16bit_premultiplied_rgba_tiff_is_read_and_written_at_16_bits(tmp_path: Path) -> None:
    pixels = rgb16(6, 10)
    alpha = np.tile(np.array([65535, 65535, 40000, 20000, 0], np.uint16), (6, 2))
    path = tmp_path / "assoc.tif"
    path.write_bytes(premultiplied_tiff16(pixels, alpha))
    pic = read(path)
    assert pic.bits == 16 and np.array_equal(pic.alpha, alpha)
    seen = alpha >= 20000
    assert np.abs(pic.pixels.astype(int) - pixels)[seen].max() <= 4  # straight colour again, to 16-bit precision
    assert np.all(pic.pixels[alpha == 0] == 0)
    write(tmp_path / "out.tif", pic)
    again = read(tmp_path / "out.tif")
    assert again.bits == 16 and np.array_equal(again.pixels, pic.pixels) and np.array_equal(again.alpha, alpha)


@pytest.mark.parametrize("key", [0, 1])
def test_1bit_png_with_a_transparency_key_keeps_it(tmp_path: Path, key: int) -> None:
    bits = (np.add.outer(np.arange(40), np.arange(50)) % 3 == 0)
    path = tmp_path / "bw.png"
    Image.fromarray(bits).convert("1").save(path, transparency=key)
    pic = read(path)
    assert pic.alpha is not None
    assert np.array_equal(pic.alpha == 0, bits == bool(key))  # the key's pixels are transparent, the rest opaque
    write(tmp_path / "out.png", pic)
    assert np.array_equal(read(tmp_path / "out.png").alpha, pic.alpha)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_fifo_or_device_is_refused_for_what_it_is(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageError) as excinfo:
        read(fifo)  # never opened: opening a FIFO for reading would wait for a writer
    assert_user_error(excinfo, fifo, "named pipe")
    assert "empty" not in str(excinfo.value)
    if Path("/dev/null").exists():
        with pytest.raises(ImageError) as excinfo:
            read("/dev/null")
        assert_user_error(excinfo, "/dev/null", "is a device")


@pytest.mark.parametrize("length", [238, 245, 255])
def test_output_names_up_to_255_bytes_are_written(tmp_path: Path, length: int) -> None:
    """The temporary name (.NAME.tmp-XXXXXXXXXXXX) is cut short instead of going over the 255-byte limit."""
    for stem_char in ("a", "\u00e9"):  # 1 and 2 bytes per character in UTF-8
        stem = stem_char * ((length - 4) // len(stem_char.encode()))
        name = stem + "x" * (length - 4 - len(stem.encode())) + ".png"
        assert len(name.encode()) == length
        write(tmp_path / name, Picture(rgb8()))
        assert np.array_equal(read(tmp_path / name).pixels, rgb8())
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
        (tmp_path / name).unlink()


def tiff_with_short_strip() -> bytes:
    """A deflate TIFF whose StripByteCounts claims more than the file holds: libtiff complains on stderr."""
    buf = io.BytesIO()
    Image.fromarray(rgb8(6, 8)).save(buf, "TIFF", compression="tiff_adobe_deflate")
    data = bytearray(buf.getvalue())
    (ifd,) = struct.unpack("<I", data[4:8])
    for i in range(struct.unpack("<H", data[ifd : ifd + 2])[0]):
        at = ifd + 2 + 12 * i
        if struct.unpack("<H", data[at : at + 2])[0] == 279:
            data[at + 8 : at + 12] = struct.pack("<I", struct.unpack("<I", data[at + 8 : at + 12])[0] + 1000)
    return bytes(data)


def test_libtiff_messages_go_into_the_one_line_error_not_onto_stderr(tmp_path: Path, capfd) -> None:
    path = tmp_path / "short.tif"
    path.write_bytes(tiff_with_short_strip())
    with pytest.raises(ImageError) as excinfo:
        read(path)
    assert_user_error(excinfo, path, "corrupt", "tifffillstrip")
    out, err = capfd.readouterr()
    assert err == "" and out == ""
