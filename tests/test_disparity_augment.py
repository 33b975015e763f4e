"""Stereo augmentation (spec section 6): F = 0 is the identity in the cpu preset, flips swap
the views and take the right ground truth, horizontal scale multiplies disparity, draws are
reproducible from the generator, and the paper preset uses DispNet's means."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from rdarts.domains.disparity import augment as augment_module
from rdarts.domains.disparity.augment import PRESETS, Param, augment
from rdarts.domains.disparity.shapes import flying_shapes
from rdarts.domains.disparity.stereo import StereoSet

H, W = 32, 64


@pytest.fixture(scope="module")
def batch() -> StereoSet:
    return flying_shapes("train", 4, seed=7, height=H, width=W)


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _with(monkeypatch, **changes: Param) -> str:
    """A preset: the cpu one (identity at F = 0) with some parameters fixed by their means."""
    monkeypatch.setitem(PRESETS, "test", {**PRESETS["cpu"], **changes})
    return "test"


def _shifted_pair(disparity: float, n: int = 2) -> StereoSet:
    """Views of a smooth horizontal texture, the right one the left shifted by `disparity`."""
    x = torch.arange(W, dtype=torch.float32)
    texture = lambda u: 0.5 + 0.4 * torch.sin(2 * math.pi * u / 16)  # noqa: E731
    left = texture(x).expand(n, 3, H, W).clone()
    right = texture(x + disparity).expand(n, 3, H, W).clone()
    full = torch.full((n, 1, H, W), disparity)
    return StereoSet(left, right, full, full.clone())


def _warp_error(pairs: StereoSet) -> torch.Tensor:
    """Mean |left - right(x - d)| over pixels whose match is well inside the frame."""
    n, _, h, w = pairs.right.shape
    x = torch.arange(w, dtype=torch.float32).expand(n, h, w) - pairs.disparity[:, 0]
    y = torch.arange(h, dtype=torch.float32)[:, None].expand(n, h, w)
    grid = torch.stack([(2 * x + 1) / w - 1, (2 * y + 1) / h - 1], -1)
    warped = F.grid_sample(pairs.right, grid, align_corners=False)
    inside = ((x >= 1) & (x <= w - 2))[:, None].expand_as(warped)
    if pairs.noc is not None:
        inside = inside & pairs.noc[:, None]
    return (warped - pairs.left).abs()[inside].mean()


def test_factor_zero_is_the_identity_in_the_cpu_preset(batch):
    out = augment(batch, 0.0, _generator())
    for name in ("left", "right", "disparity", "disparity_right"):
        torch.testing.assert_close(getattr(out, name), getattr(batch, name), atol=1e-5, rtol=0)
    assert torch.equal(out.noc, batch.noc)


def test_paper_preset_uses_dispnet_means_even_at_factor_zero():
    pairs = _shifted_pair(4.0)
    out = augment(pairs, 0.0, _generator(), preset="paper")  # zoom e^0.2, no squeeze
    torch.testing.assert_close(out.disparity, torch.full_like(out.disparity, 4 * math.exp(0.2)))
    assert out.noc is None and (out.left - pairs.left).abs().max() > 0.01  # noise and colour


def test_a_flip_mirrors_and_swaps_the_views_and_takes_the_right_ground_truth(batch, monkeypatch):
    preset = _with(monkeypatch, flip=Param("bernoulli", 1.0, 0.0))
    out = augment(batch, 0.0, _generator(), preset=preset)
    torch.testing.assert_close(out.left, batch.right.flip(-1), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.right, batch.left.flip(-1), atol=1e-5, rtol=0)
    assert torch.equal(out.disparity, batch.disparity_right.flip(-1))
    assert torch.equal(out.disparity_right, batch.disparity.flip(-1))
    assert out.noc is None and (out.disparity > 0).all()
    # the flipped pair is still a stereo pair: its left view warps from its right view
    warped = StereoSet(out.left, out.right, out.disparity)
    assert _warp_error(warped) < 0.05 < _warp_error(StereoSet(batch.right, batch.left,
                                                              batch.disparity))
    no_right = StereoSet(batch.left, batch.right, batch.disparity)
    assert torch.equal(augment(no_right, 0.0, _generator(), preset=preset).disparity,
                       batch.disparity)  # without right ground truth flips are skipped


def test_horizontal_scale_multiplies_disparity_and_keeps_the_pair_consistent(monkeypatch):
    pairs = _shifted_pair(4.0)
    preset = _with(monkeypatch, zoom=Param("uniform", math.log(1.5), 0.0, exp=True),
                   squeeze=Param("uniform", math.log(1.2), 0.0, exp=True))
    out = augment(pairs, 0.0, _generator(), preset=preset)
    torch.testing.assert_close(out.disparity, torch.full_like(out.disparity, 4 * 1.5 * 1.2))
    assert out.noc is None
    assert _warp_error(out) < 0.01
    wrong = StereoSet(out.left, out.right, pairs.disparity)  # the unscaled disparity no longer fits
    assert _warp_error(wrong) > 5 * _warp_error(out)


def test_draws_come_from_the_generator(batch):
    first = augment(batch, 1.0, _generator(3))
    again = augment(batch, 1.0, _generator(3))
    other = augment(batch, 1.0, _generator(4))
    for name in ("left", "right", "disparity", "disparity_right"):
        assert torch.equal(getattr(first, name), getattr(again, name))
    assert not torch.allclose(first.left, other.left)
    assert first.left.min() >= 0 and first.left.max() <= 1
    valid = first.valid
    assert valid.float().mean() > 0.99 and (first.disparity[valid] > 0).all()


def test_the_factor_scales_the_spread(batch):
    """A larger F moves the views further from the input on average (spread_eff = F spread)."""
    change = [(augment(batch, f, _generator(1)).left - batch.left).abs().mean() for f in
              (0.1, 0.5, 2.0)]
    assert change[0] < change[1] < change[2]
    assert augment_module._Sampler(PRESETS["cpu"], 4.0, "variance", _generator()).multiplier == 2
