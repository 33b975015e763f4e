"""The image ops against their textbook forms."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rdarts.domains.image.ops import FactorizedReduce, shifted_grid


def _darts_factorized_reduce(module: FactorizedReduce, x: torch.Tensor) -> torch.Tensor:
    """DARTS' own expression: the shifted half from the full-resolution input, shifted by
    one pixel and zero-padded back, through the stride-2 conv."""
    x = F.relu(x)
    shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
    return module.bn(torch.cat([module.conv_even(x), module.conv_odd(shifted)], dim=1))


@pytest.mark.parametrize("size", [(8, 8), (7, 7), (8, 7), (5, 6)])
def test_shifted_grid_is_what_the_stride_two_conv_sees(size: tuple[int, int]) -> None:
    x = torch.randn(2, 3, *size)
    padded = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
    assert torch.equal(shifted_grid(x), padded[:, :, ::2, ::2])


@pytest.mark.parametrize("size", [8, 7])
def test_factorized_reduce_equals_darts_expression(size: int) -> None:
    torch.manual_seed(0)
    module = FactorizedReduce(6, 8, affine=True)
    x = torch.randn(4, 6, size, size, requires_grad=True)
    ours = module(x)
    grads = torch.autograd.grad((ours ** 2).sum(), [x, *module.parameters()])
    theirs = _darts_factorized_reduce(module, x)
    reference = torch.autograd.grad((theirs ** 2).sum(), [x, *module.parameters()])
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    for g, r in zip(grads, reference, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5)
