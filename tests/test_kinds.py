"""The two kinds of network (pre- and post-upsampling) behind one Enhancer, tiler, runner and ONNX export."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from srcnn.checkpoint import WeightsError, load_weights, save_weights
from srcnn.cli import main
from srcnn.enhance import Enhancer, load_model
from srcnn.images import read
from srcnn.model import FSRCNN, CompactSR
from srcnn.tiling import forward_whole

CPU = torch.device("cpu")


def tiny_post(scale: int = 3) -> CompactSR:
    """conv 5x5 -> conv 3x3 -> pixel shuffle x scale, random weights (the shape of the code, not a trained net)."""
    torch.manual_seed(0)
    m = CompactSR(channels=1, head=5, width=8, depth=0, scale=scale, anchor=False)
    for p in m.parameters():
        p.data.normal_(0, 0.2)
    return m.eval()


def random_fsrcnn(scale: int, channels: int = 1) -> FSRCNN:
    torch.manual_seed(scale)
    m = FSRCNN(channels=channels, d=12, s=6, m=2, scale=scale)
    for p in m.parameters():
        p.data.normal_(0, 0.15)
    return m.eval()


def random_cells(scale: int, channels: int, cell: int) -> CompactSR:
    """A CompactSR on cell x cell cells of its input (model.unshuffle), random weights, anchored."""
    torch.manual_seed(10 * scale + cell)
    m = CompactSR(channels=channels, head=3, width=8, depth=1, scale=scale, anchor=True, unshuffle=cell)
    for p in m.parameters():
        p.data.normal_(0, 0.15)
    return m.eval()


NETS = [("tiny-x3", lambda: tiny_post(3)), ("fsrcnn-x2", lambda: random_fsrcnn(2)),
        ("fsrcnn-x3-rgb", lambda: random_fsrcnn(3, 3)), ("fsrcnn-x4", lambda: random_fsrcnn(4)),
        ("compact-x2-anchor", lambda: CompactSR(3, 3, 8, 2, 2, True).eval()),
        ("cells-x2-rgb", lambda: random_cells(2, 3, 2)), ("cells-x1", lambda: random_cells(1, 1, 2)),
        ("cells3-x3", lambda: random_cells(3, 1, 3))]


@pytest.mark.parametrize("name,make", NETS, ids=[n for n, _ in NETS])
@pytest.mark.parametrize("tile", [5, 16, 33])
def test_tiled_equals_untiled_at_odd_sizes(name, make, tile):
    model = make()
    x = torch.rand(1, model.config.channels, 41, 29)
    whole = forward_whole(model, x, model.receptive_radius).clamp(0, 1)  # the picture's edge px continue outward
    out = Enhancer(name, model, model.scale, {}, CPU)(x, tile=tile)
    assert out.shape == (1, model.config.channels, 41 * model.scale, 29 * model.scale)
    assert (out - whole).abs().max().item() < 1e-5


@pytest.mark.parametrize("name,make", NETS, ids=[n for n, _ in NETS])
def test_onnx_runtime_equals_torch(name, make):
    pytest.importorskip("onnxruntime")
    model = make()
    x = torch.rand(1, model.config.channels, 23, 31)
    torch_out = Enhancer(name, model, model.scale, {}, CPU)(x, tile=9)
    ort_out = Enhancer(name, model, model.scale, {}, CPU, backend="onnxruntime")(x, tile=9)
    assert (torch_out - ort_out).abs().max().item() < 1e-5


def test_enhance_cli_with_a_post_upsampling_weights_file(tmp_path):
    w = tmp_path / "tiny.safetensors"
    save_weights(w, tiny_post(3), {"scale": 3, "task": "sr"})
    src = tmp_path / "p.png"
    Image.fromarray((np.random.default_rng(0).random((17, 23, 3)) * 255).astype(np.uint8)).save(src)
    for s, size in (("3", (51, 69)), ("2", (34, 46)), ("1.5", (26, 35))):  # not its factor: net, then bicubic
        out = tmp_path / f"o{s}.png"
        assert main(["enhance", str(src), "-m", str(w), "-s", s, "-o", str(out), "--quiet"]) == 0
        assert read(out).pixels.shape == (*size, 3)
    # without -s: the network's own factor, from the weights' metadata
    assert main(["enhance", str(src), "-m", str(w), "-o", str(tmp_path / "d.png"), "--quiet"]) == 0
    assert read(tmp_path / "d.png").pixels.shape == (51, 69, 3)


def test_post_upsampling_picture_path_matches_the_network_on_y(tmp_path):
    """Y goes through the network at the source size; gray stays gray (a network trained on gray takes it raw)."""
    w = tmp_path / "f.safetensors"
    save_weights(w, random_fsrcnn(2), {"scale": 2, "color": "gray"})
    enh = load_model(w)
    gray = (np.random.default_rng(1).random((19, 21, 1)) * 255).astype(np.uint8)
    from srcnn.images import Picture

    out = enh.enhance_picture(Picture(pixels=gray), scale=2).pixels
    ref = forward_whole(enh.model, torch.from_numpy(gray[..., 0].astype(np.float32) / 255)[None, None],
                        enh.receptive_radius).clamp(0, 1)
    assert out.shape == (38, 42, 1)
    assert np.abs(out[..., 0].astype(int) - np.round(ref[0, 0].numpy() * 255).astype(int)).max() <= 1


def test_weights_round_trip_keeps_the_kind(tmp_path):
    for make in (lambda: random_fsrcnn(3), lambda: CompactSR(3, 3, 8, 1, 4, True)):
        m = make()
        save_weights(tmp_path / "w.safetensors", m, {"scale": m.scale})
        back, meta = load_weights(tmp_path / "w.safetensors")
        assert type(back) is type(m) and back.scale == m.scale and back.upsampling == "post"
        x = torch.rand(1, m.config.channels, 9, 11)
        with torch.no_grad():
            assert torch.equal(back(x), m(x))


def test_a_foreign_three_conv_network_of_another_shape_is_refused(tmp_path, capsys):
    """Three 4-D convolutions that do not chain as SRCNN's (here 1 -> 16 -> 8 -> 4 channels, x2 pixel shuffle)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 5, padding=2), torch.nn.Conv2d(16, 8, 3, padding=1),
                              torch.nn.Conv2d(8, 4, 3, padding=1))
    pth = tmp_path / "espcn.pth"
    torch.save(net.state_dict(), pth)
    with pytest.raises(WeightsError, match="do not chain"):
        load_weights(pth)
    src = tmp_path / "p.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(src)
    assert main(["enhance", str(src), "-m", str(pth)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "do not chain" in err[0] and "Traceback" not in err[0]


def test_training_samples_of_a_post_upsampling_net_are_low_resolution():
    """Post-upsampling nets train on (LR, HR) pairs: input (C, p/s, p/s) = the bicubic shrink of the target."""
    from srcnn.data import PhotoPatches, make_val_images, realistic_chains
    from srcnn.degrade import Degradation, downscale

    rng = np.random.default_rng(0)
    photos = [rng.random((60, 75)).astype(np.float32), rng.random((90, 66)).astype(np.float32)]
    ds = PhotoPatches(photos, 24, Degradation(scale=3), seed=1, upsample=False)
    for i in range(5):
        inp, target = ds[i]
        assert inp.shape == (1, 8, 8) and target.shape == (1, 24, 24)
    # the cached LR photo is the whole photo's bicubic shrink: interior patches match it exactly
    k = 0
    whole = np.clip(downscale(ds.photos[k], 3), 0, 1)
    assert np.allclose(ds.cached[k], whole)
    val = make_val_images([("a", photos[0])], Degradation(scale=3), upsample=False)
    assert tuple(val[0].input.shape) == (1, 20, 25) and val[0].target_y.shape == (60, 75)
    # realistic chains: RGB, LR patches at the chain's scale, 8-bit levels
    rgb = [rng.random((80, 96, 3)).astype(np.float32)]
    real = PhotoPatches(rgb, 32, realistic_chains(2, "mixed"), seed=0, upsample=False)
    inp, target = real[3]
    assert inp.shape == (3, 16, 16) and target.shape == (3, 32, 32)
    assert torch.allclose(inp * 255, (inp * 255).round(), atol=1e-3)
    with pytest.raises(ValueError, match="post-upsampling"):
        PhotoPatches(rgb, 32, realistic_chains(2, "mixed"), upsample=True)


@pytest.mark.parametrize("kind", ["pre", "post"])
def test_tile_count_is_the_progress_total(kind, tmp_path):
    """The CLI's and the web page's progress total: tiles of the output (pre) or of the source (post)."""
    from srcnn.images import Picture
    from srcnn.model import SRCNN

    model = SRCNN(n1=8, n2=4).eval() if kind == "pre" else random_fsrcnn(3)
    enh = Enhancer(kind, model, 3, {}, CPU)
    ticks: list[int] = []
    pic = Picture(pixels=np.zeros((50, 70, 3), np.uint8))
    enh.enhance_picture(pic, scale=3, tile=32, progress=ticks.append)
    assert ticks[-1] == len(ticks) == enh.tile_count(50, 70, 3, 32)
    assert enh.tile_count(50, 70, 3, 32) == (35 if kind == "pre" else 6)


def test_realistic_patches_are_the_corners_of_one_degraded_window_and_replay_by_index():
    """Four consecutive items share one degraded (2p)^2 window (a quarter of the degradation work per patch);
    item i depends only on (seed, i), in any order, so a resumed run sees the same samples."""
    from srcnn.data import REALISTIC_GROUP, PhotoPatches, realistic_chains

    rng = np.random.default_rng(3)
    photos = [rng.random((90, 100, 3)).astype(np.float32)]
    ds = PhotoPatches(photos, 32, realistic_chains(2, "mixed"), seed=5, upsample=False, augment=False)
    corners = [ds[i][1] for i in range(REALISTIC_GROUP)]
    window = torch.cat([torch.cat(corners[:2], 2), torch.cat(corners[2:], 2)], 1)  # (3, 64, 64)
    region = torch.from_numpy(photos[0]).permute(2, 0, 1)
    found = [(y, x) for y in range(0, 90 - 63, 2) for x in range(0, 100 - 63, 2)
             if torch.equal(region[:, y : y + 64, x : x + 64], window)]
    assert len(found) == 1
    fresh = PhotoPatches(photos, 32, realistic_chains(2, "mixed"), seed=5, upsample=False, augment=False)
    assert torch.equal(fresh[6][0], ds[6][0]) and torch.equal(fresh[2][0], ds[2][0])


def test_reused_windows_cut_degradation_work_keep_batches_mixed_and_replay_by_index(monkeypatch):
    """data.reuse = 4: each degraded window serves four groups, so the chain runs 4x less often; a batch of 16
    still holds four windows; later uses cut other patches than the corners; item i depends only on (seed, i)."""
    from srcnn.data import REALISTIC_GROUP, REUSE_SPAN, PhotoPatches, realistic_chains

    rng = np.random.default_rng(3)
    photos = [rng.random((90, 100, 3)).astype(np.float32), rng.random((80, 96, 3)).astype(np.float32)]
    n = REALISTIC_GROUP * REUSE_SPAN * 4  # one full block: REUSE_SPAN windows, each used 4 times

    def count(reuse: int) -> tuple[PhotoPatches, list[int]]:
        ds = PhotoPatches(photos, 32, realistic_chains(2, "mixed"), seed=5, upsample=False, augment=False,
                          reuse=reuse)
        calls: list[int] = []
        real = ds._degrade_window
        monkeypatch.setattr(ds, "_degrade_window", lambda w: (calls.append(w), real(w))[1])
        return ds, calls

    once, calls_once = count(1)
    items_once = [once[i] for i in range(n)]
    reused, calls_reused = count(4)
    items = [reused[i] for i in range(n)]
    assert len(calls_once) == n // REALISTIC_GROUP and len(calls_reused) == REUSE_SPAN  # 4x fewer chains
    assert items[:REALISTIC_GROUP * REUSE_SPAN][0][1].equal(items_once[0][1])  # first use: the corners, as before
    batch = [reused._windows_of(i) for i in range(16)]
    assert len(set(batch)) == 16 // REALISTIC_GROUP
    later = [items[i][1] for i in range(REALISTIC_GROUP * REUSE_SPAN, 2 * REALISTIC_GROUP * REUSE_SPAN)]
    first = [items[i][1] for i in range(REALISTIC_GROUP * REUSE_SPAN)]
    assert sum(any(t.equal(f) for f in first) for t in later) < len(later) // 4  # mostly new patches
    fresh, _ = count(4)
    for i in (n - 1, 70, 3):  # any order
        assert torch.equal(fresh[i][0], items[i][0]) and torch.equal(fresh[i][1], items[i][1])
    with pytest.raises(ValueError, match="reuse"):
        PhotoPatches(photos, 32, realistic_chains(2, "mixed"), upsample=False, reuse=0)


@pytest.mark.parametrize("to_scale", [4, 1])
def test_a_compact_net_of_another_scale_starts_as_the_x2_net_then_a_resize(to_scale):
    """Fine-tuning between scales (model.init_from with another scale): the x4 net starts as the x2 net followed
    by a nearest-neighbour x2, the x1 net as the x2 net followed by a 2x2 mean, so no run starts from noise."""
    import torch.nn.functional as F

    torch.manual_seed(1)
    x2 = CompactSR(channels=3, head=3, width=8, depth=2, scale=2, anchor=True).eval()
    for p in x2.parameters():
        p.data.normal_(0, 0.1)
    other = CompactSR(channels=3, head=3, width=8, depth=2, scale=to_scale, anchor=True).eval()
    other.load_other_scale(x2)
    x = torch.rand(1, 3, 9, 11)
    with torch.no_grad():
        y2 = x2(x)
        want = F.interpolate(y2, scale_factor=2, mode="nearest") if to_scale == 4 else F.avg_pool2d(y2, 2)
        assert torch.allclose(other(x), want, atol=1e-6)
    with pytest.raises(ValueError, match="more than the scale"):
        CompactSR(channels=3, head=3, width=16, depth=2, scale=4).load_other_scale(x2)


def test_a_wider_deeper_compact_net_starts_as_the_smaller_one_and_every_new_weight_learns():
    """Growing a shipped model (model.init_from a narrower, shallower CompactSR): step 0 gives the same output,
    and one backward pass reaches the new units and layers, so the extra capacity is not dead weight."""
    import torch.nn.functional as F

    torch.manual_seed(2)
    small = CompactSR(channels=3, head=3, width=8, depth=2, scale=2, anchor=True)
    for p in small.parameters():
        p.data.normal_(0, 0.1)
    big = CompactSR(channels=3, head=3, width=12, depth=4, scale=4, anchor=True)
    big.load_from(small)  # another scale and wider and deeper at once
    x = torch.rand(2, 3, 9, 11)
    with torch.no_grad():
        want = F.interpolate(small(x), scale_factor=2, mode="nearest")
        assert torch.allclose(big(x), want, atol=1e-5)
    F.mse_loss(big(x), torch.rand(2, 3, 36, 44)).backward()
    assert big.tail.weight.grad[:, 8:].abs().sum() > 0  # the tail starts to see the new units
    assert all(m.weight.grad.abs().sum() > 0 for m in big.body if isinstance(m, torch.nn.Conv2d))
    with pytest.raises(ValueError, match="not a narrower or shallower"):
        CompactSR(channels=3, head=3, width=4, depth=4, scale=2).grow_from(small)


def test_a_net_on_cells_starts_as_the_per_pixel_net_of_its_cell_scale_on_the_cell_means():
    """real-x4's network handed to an x2 net on 2x2 cells (model.init_from): step 0 is the x4 net on the 2x2
    means of the input, minus its own anchor, plus the cell net's (the input enlarged x2), so no run starts from
    noise; odd sizes repeat the right and bottom edges to whole cells, and the tiler puts tiles on the cell grid."""
    import torch.nn.functional as F

    from srcnn.tiling import split_even

    torch.manual_seed(3)
    x4 = CompactSR(channels=3, head=3, width=8, depth=2, scale=4, anchor=True).eval()
    for p in x4.parameters():
        p.data.normal_(0, 0.1)
    cells = CompactSR(channels=3, head=3, width=8, depth=3, scale=2, anchor=True, unshuffle=2).eval()
    cells.load_from(x4)  # cells from the per-px net, and one layer deeper
    x = torch.rand(1, 3, 10, 12)
    with torch.no_grad():
        mean = F.avg_pool2d(x, 2)
        want = x4(mean) - F.interpolate(mean, scale_factor=4, mode="nearest") \
            + F.interpolate(x, scale_factor=2, mode="nearest")
        assert torch.allclose(cells(x), want, atol=1e-5)
        odd = torch.rand(1, 3, 7, 9)
        assert cells(odd).shape == (1, 3, 14, 18)
        assert torch.equal(cells(odd), cells(F.pad(odd, (0, 1, 0, 1), mode="replicate"))[..., :14, :18])
    assert cells.receptive_radius % cells.align == 0 and cells.align == 2
    assert all(a % 2 == 0 for a, _ in split_even(37, 8, 2)) and split_even(37, 8, 2)[-1][1] == 37
    with pytest.raises(ValueError, match="cells"):
        CompactSR(3, 3, 8, 2, 2, True, unshuffle=2).load_cells_from(CompactSR(3, 3, 8, 2, 2, True))
