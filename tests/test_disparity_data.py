"""The disparity domain's data layer: StereoSet, the flying-shapes generator's exactness and
determinism, NaN-aware downsampling, summable EPE, and the PFM / Sintel file formats."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rdarts.domains.disparity import shapes as shapes_module
from rdarts.domains.disparity.formats import (
    decode_sintel_disparity,
    encode_sintel_disparity,
    read_pfm,
    read_sintel_disparity,
    write_pfm,
)
from rdarts.domains.disparity.shapes import flying_shapes, render_layers
from rdarts.domains.disparity.stereo import StereoSet, downsample_disparity, epe
from rdarts.domains.disparity.textures import fashion_mnist_pool
from rdarts.errors import DataError

H, W = 32, 64


@pytest.fixture(scope="module")
def train_set() -> StereoSet:
    return flying_shapes("train", 6, seed=3, height=H, width=W)


def _warp(right: torch.Tensor, disparity: torch.Tensor) -> torch.Tensor:
    """The right view sampled at x - d (torch's grid_sample: an implementation apart from
    the generator's numpy row interpolation)."""
    n, _, h, w = right.shape
    x = torch.arange(w, dtype=torch.float32).expand(n, h, w) - disparity[:, 0]
    y = torch.arange(h, dtype=torch.float32)[:, None].expand(n, h, w)
    grid = torch.stack([(2 * x + 1) / w - 1, (2 * y + 1) / h - 1], -1)
    return F.grid_sample(right, grid, mode="bilinear", align_corners=False)


# generator ----------------------------------------------------------------------------------


def test_generator_is_deterministic_and_each_sample_depends_only_on_its_index(train_set):
    again = flying_shapes("train", 6, seed=3, height=H, width=W)
    late = flying_shapes("train", 2, seed=3, height=H, width=W, start=4)
    for name in ("left", "right", "disparity", "disparity_right", "noc"):
        assert torch.equal(getattr(train_set, name), getattr(again, name))
        assert torch.equal(getattr(train_set, name)[4:], getattr(late, name))
    other_seed = flying_shapes("train", 1, seed=4, height=H, width=W)
    other_split = flying_shapes("val", 1, seed=3, height=H, width=W)
    assert not torch.equal(other_seed.left, train_set.left[:1])
    assert not torch.equal(other_split.left, train_set.left[:1])


def test_generated_sets_have_the_documented_types_and_ranges(train_set):
    assert train_set.left.shape == (6, 3, H, W) and train_set.left.dtype == torch.float32
    assert train_set.left.min() >= 0 and train_set.left.max() <= 1
    assert torch.equal(train_set.left * 255, (train_set.left * 255).round())  # 8-bit levels
    assert train_set.valid.all() and (train_set.disparity > 0).all()
    assert train_set.disparity.max() <= 28 * W / 128 + 1e-4
    assert train_set.noc.dtype == torch.bool and 0.4 < train_set.noc.float().mean() < 1


def test_warping_the_right_view_by_the_ground_truth_gives_the_left_view(train_set):
    warped = _warp(train_set.right, train_set.disparity)
    noc = train_set.noc[:, None].expand_as(warped)
    error = (warped - train_set.left).abs()[noc]
    wrong = (_warp(train_set.right, train_set.disparity + 1.5) - train_set.left).abs()[noc]
    assert error.median() < 0.01 and error.mean() < 0.03
    assert wrong.mean() > 3 * error.mean()


def test_ground_truth_maps_agree_where_visible_and_disagree_where_occluded(train_set):
    d, d_right = train_set.disparity[:, 0], train_set.disparity_right[:, 0]
    target = torch.arange(W).expand_as(d) - d
    back = d_right.gather(2, target.round().clamp(0, W - 1).long())
    in_frame = target >= 0
    noc, occluded = train_set.noc, ~train_set.noc & in_frame
    assert ((back - d).abs()[noc] < 1).float().mean() > 0.97
    # an occluded pixel's match shows something closer (larger disparity)
    assert occluded.any() and ((back - d)[occluded] > 0.5).float().mean() > 0.9
    assert not (train_set.noc & ~in_frame).any()


def _scene(layer_disparity: float, background: tuple[float, float, float]):
    """A background and one fronto-parallel rectangle over columns [20, 36), rows [8, 24)."""
    margin, grid = 12, W + 24
    rng = np.random.default_rng(0)
    texture = np.stack([np.broadcast_to(rng.uniform(0, 1, (3, 1, grid)), (3, H, grid))
                        for _ in range(2)]).copy()
    mask = np.zeros((2, H, grid), np.float32)
    mask[0] = 1
    mask[1, 8:24, margin + 20 : margin + 36] = 1
    planes = np.array([background, (layer_disparity, 0, 0)])
    return texture, mask, planes, margin


def test_a_fronto_parallel_layer_has_its_plane_value_and_exact_right_view():
    texture, mask, planes, margin = _scene(7.25, (2.0, 0.0, 0.0))
    out = render_layers(texture, mask, planes, margin)
    assert np.all(out["disparity"][8:24, 20:36] == 7.25)
    assert np.all(out["disparity"][:8] == 2.0)
    # right pixel x_R inside the layer shows its texture at u = x_R + 7.25 (np.interp)
    columns = np.arange(14, 28)
    expected = np.interp(columns + 7.25, np.arange(-margin, W + margin), texture[1, 0, 10])
    np.testing.assert_allclose(out["right"][0, 10, 14:28], expected, atol=1e-6)
    # background left of the layer is hidden in the right view: x - 2 in [20 - 7.25, 36 - 7.25)
    x = np.arange(W)
    band = (x - 2.0 >= 20 - 7.25) & (x - 2.0 < 36 - 7.25) & ((x < 20) | (x >= 36))
    clear = (np.abs(x - 2.0 - (20 - 7.25)) > 1) & (np.abs(x - 2.0 - (36 - 7.25)) > 1)
    assert np.array_equal(~out["noc"][12, clear & (x >= 2)], band[clear & (x >= 2)])
    assert not out["noc"][0, :2].any() and out["noc"][0, 2:].all()  # out of frame: x - 2 < 0


def test_a_slanted_background_follows_its_plane():
    texture, mask, planes, margin = _scene(10.0, (3.0, 0.02, -0.01))
    out = render_layers(texture, mask, planes, margin)
    y, x = np.mgrid[0:H, 0:W]
    plane = 3.0 + 0.02 * (x - W / 2) - 0.01 * (y - H / 2)
    np.testing.assert_allclose(out["disparity"][:8], plane[:8], rtol=1e-12)
    # the right view's disparity at x_R is the plane at its preimage u = x_R + d(u)
    u = x[:8] + out["disparity_right"][:8]
    np.testing.assert_allclose(out["disparity_right"][:8],
                               3.0 + 0.02 * (u - W / 2) - 0.01 * (y[:8] - H / 2), atol=1e-9)


def test_texture_pools_are_disjoint_and_each_split_uses_its_own(monkeypatch):
    train, test = fashion_mnist_pool("train"), fashion_mnist_pool("test")
    assert {image.tobytes() for image in train}.isdisjoint(image.tobytes() for image in test)
    asked = []

    def recording(part):
        asked.append(part)
        return fashion_mnist_pool(part)

    monkeypatch.setattr(shapes_module, "fashion_mnist_pool", recording)
    for split in ("train", "val", "test", "test-shift"):
        flying_shapes(split, 1, height=16, width=32)
    assert asked == ["train", "train", "test", "test"]


def test_test_shift_has_larger_disparities_and_lower_contrast():
    test = flying_shapes("test", 12, seed=1, height=H, width=W)
    shift = flying_shapes("test-shift", 12, seed=1, height=H, width=W)
    assert shift.disparity.max() > 28 * W / 128 >= test.disparity.max()
    assert shift.left.std(dim=(1, 2, 3)).mean() < 0.8 * test.left.std(dim=(1, 2, 3)).mean()


def test_generator_rejects_bad_arguments():
    with pytest.raises(DataError, match="unknown flying-shapes split 'tset'"):
        flying_shapes("tset", 2)
    with pytest.raises(DataError, match="count >= 1"):
        flying_shapes("train", 0)


# StereoSet, downsampling, EPE ---------------------------------------------------------------


def test_stereo_set_subset_to_concat_and_shape_checks(train_set):
    part = train_set.subset([4, 1])
    assert torch.equal(part.left[0], train_set.left[4])
    assert torch.equal(part.noc[1], train_set.noc[1])
    assert len(train_set.subset(slice(0, 3))) == 3 and len(part.to("cpu")) == 2
    joined = StereoSet.concat([part, StereoSet(part.left, part.right, part.disparity)])
    assert len(joined) == 4 and joined.noc is None and joined.disparity_right is None
    nan = train_set.disparity.clone()
    nan[0, 0, 0, 0] = torch.nan
    assert StereoSet(train_set.left, train_set.right, nan).valid.sum() == nan.numel() - 1
    with pytest.raises(DataError, match=r"disparity must have shape \(6, 1, 32, 64\)"):
        StereoSet(train_set.left, train_set.right, train_set.disparity[:, :, :16])


def test_downsampling_averages_without_rescaling_and_skips_nan():
    ramp = torch.arange(8.0).expand(1, 1, 8, 8).clone()
    half = downsample_disparity(ramp, 2)
    assert half.shape == (1, 1, 4, 4)
    # interior output columns: the tent is symmetric about the block centres 2i + 0.5
    torch.testing.assert_close(half[0, 0, 1:3, 1:3], torch.tensor([[2.5, 4.5], [2.5, 4.5]]))
    # the first column sees the zero padding as invalid: (0*.75 + 1*.75 + 2*.25) / 1.75
    torch.testing.assert_close(half[0, 0, 1, 0], torch.tensor(1.25 / 1.75))
    constant = torch.full((2, 1, 12, 16), 5.0)
    constant[0, 0, :, :6] = torch.nan  # the whole tent footprint (x < 6) of output column 0
    out = downsample_disparity(constant, 4)
    assert out.shape == (2, 1, 3, 4) and torch.isnan(out[0, 0, :, 0]).all()
    torch.testing.assert_close(out[0, 0, :, 1:], torch.full((3, 3), 5.0))
    torch.testing.assert_close(downsample_disparity(constant, 1), constant, equal_nan=True)


def test_epe_sums_are_over_finite_ground_truth_and_add_up():
    disparity = torch.tensor([[[[1.0, 2.0, torch.nan], [4.0, 5.0, 6.0]]]])
    prediction = torch.tensor([[[[1.5, 0.0, 9.0], [4.0, 5.0, 3.0]]]])
    total, pixels = epe(prediction, disparity)
    assert pixels == 5 and total == pytest.approx(0.5 + 2 + 3)
    mask = torch.tensor([[[True, True, True], [False, False, True]]])[:, None]
    assert epe(prediction, disparity, mask) == (pytest.approx(5.5), 3)
    rows = [epe(prediction[..., i : i + 1, :], disparity[..., i : i + 1, :]) for i in range(2)]
    assert sum(r.epe_sum for r in rows) == total and sum(r.pixels for r in rows) == pixels


# file formats -------------------------------------------------------------------------------


@pytest.mark.parametrize("little_endian", [True, False])
@pytest.mark.parametrize("shape", [(5, 7), (4, 6, 3)])
def test_pfm_round_trip(tmp_path, little_endian, shape):
    array = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    write_pfm(tmp_path / "a.pfm", array, little_endian=little_endian)
    header = (tmp_path / "a.pfm").read_bytes()[:2]
    assert header == (b"PF" if len(shape) == 3 else b"Pf")
    np.testing.assert_array_equal(read_pfm(tmp_path / "a.pfm"), array)


@pytest.mark.parametrize(("scale", "fmt"), [(b"-1.0", "<4f"), (b"1.0", ">4f")])
def test_pfm_rows_are_stored_bottom_to_top_and_the_scale_sign_is_the_byte_order(
    tmp_path, scale, fmt
):
    (tmp_path / "b.pfm").write_bytes(b"Pf\n2 2\n" + scale + b"\n" + struct.pack(fmt, 1, 2, 3, 4))
    np.testing.assert_array_equal(read_pfm(tmp_path / "b.pfm"), [[3, 4], [1, 2]])


def test_malformed_pfm_files_raise_one_line_data_errors(tmp_path):
    path = tmp_path / "c.pfm"
    write_pfm(path, np.ones((3, 4), np.float32))
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(DataError, match=r"c\.pfm: a 4x3 Pf PFM holds 48 data bytes; found 44"):
        read_pfm(path)
    path.write_bytes(b"P6\n4 3\n255\n" + bytes(36))
    with pytest.raises(DataError, match="not a PFM file"):
        read_pfm(path)
    path.write_bytes(b"Pf\nfour 3\n-1\n" + bytes(48))
    with pytest.raises(DataError, match="malformed PFM header"):
        read_pfm(path)
    with pytest.raises(DataError, match=r"cannot read .*missing\.pfm"):
        read_pfm(tmp_path / "missing.pfm")


def test_sintel_disparity_decoding_matches_hand_computed_values(tmp_path):
    rgb = np.array([[[1, 2, 3], [255, 255, 255], [0, 0, 0]]], np.uint8)
    expected = [[4 + 2 / 64 + 3 / 16384, 1020 + 255 / 64 + 255 / 16384, 0]]
    np.testing.assert_allclose(decode_sintel_disparity(rgb), expected, rtol=1e-7)
    disparity = np.array([[0.5, 17.25, 300.0001]])
    np.testing.assert_allclose(decode_sintel_disparity(encode_sintel_disparity(disparity)),
                               disparity, atol=2**-14)
    from PIL import Image

    Image.fromarray(rgb, "RGB").save(tmp_path / "d.png")
    np.testing.assert_allclose(read_sintel_disparity(tmp_path / "d.png"), expected, rtol=1e-7)
    Image.fromarray(rgb[..., 0], "L").save(tmp_path / "gray.png")
    with pytest.raises(DataError, match="must be an RGB PNG"):
        read_sintel_disparity(tmp_path / "gray.png")
