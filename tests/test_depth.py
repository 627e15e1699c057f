"""No silent damage to 16-bit images: dark, low-range gray and colour stay near bicubic on flat areas."""

from __future__ import annotations

import numpy as np
import pytest

from srcnn.enhance import load_model
from srcnn.images import Picture
from srcnn.zoo import available

LEVEL = 257  # one 8-bit level in 16-bit units


def _cases() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [("flat 500, gray", np.full((40, 48, 1), 500, np.uint16)),
            ("flat 500, colour", np.full((40, 48, 3), 500, np.uint16)),
            ("12 bits in 16, 0..30, gray", (rng.random((40, 48, 1)) * 30).astype(np.uint16)),
            ("291..694 textured, gray", (291 + rng.random((40, 48, 1)) * 403).astype(np.uint16)),
            ("291..694 textured, colour", (291 + rng.random((40, 48, 3)) * 403).astype(np.uint16))]


@pytest.mark.parametrize("name", [c.name for c in available()])
def test_dark_low_range_16_bit_images_are_not_clipped_or_framed(name):
    """A dark 16-bit gray picture is fed to Y networks as the Y of R = G = B (in [16, 235]), as colour is."""
    model, bicubic = load_model(name), load_model("bicubic")
    for label, px in _cases():
        pic = Picture(pixels=px)
        out = model.enhance_picture(pic, scale=2).pixels.astype(np.int64)
        ref = bicubic.enhance_picture(pic, scale=2).pixels.astype(np.int64)
        m = 24  # interior: beyond the network's reach of the border
        inner = np.abs(out - ref)[m:-m, m:-m]
        if label.startswith("flat"):  # the picture's edge px continue outward (the tiler): no frame at the border
            whole = np.abs(out - ref)
            assert whole.max() <= 2 * LEVEL, f"{name}, {label}: a frame of {whole.max()} (16-bit levels)"
        if label.startswith("flat") or label.startswith("12"):  # within a few levels: on average one at most
            assert inner.mean() <= LEVEL, f"{name}, {label}: interior off bicubic by {inner.mean():.0f} on average"
            assert inner.max() <= 2 * LEVEL, f"{name}, {label}: interior off bicubic by {inner.max()} (16-bit levels)"
        else:  # textured: the network may sharpen, but never clip the picture to black
            assert out[m:-m, m:-m].min() > 0, f"{name}, {label}: interior clipped to 0"
        # textured: the border may differ from bicubic by a few 8-bit levels (the network sharpens there too)
        assert np.abs(out - ref).max() <= 4 * LEVEL, f"{name}, {label}: a frame of {np.abs(out - ref).max()}"
        if px.shape[2] == 1:  # gray and the same picture in colour give the same gray
            rgb = model.enhance_picture(Picture(pixels=np.repeat(px, 3, axis=2)), scale=2).pixels.astype(np.int64)
            if model.model is not None and model.model.config.channels == 3:  # an RGB net: gray = its R, G, B mean
                rgb = np.rint(rgb.mean(axis=2, keepdims=True)).astype(np.int64)
            assert np.abs(rgb - out).max() <= 2
