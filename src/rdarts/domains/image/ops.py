"""Candidate operations of a cell edge (spec section 2).

Every op maps C channels to C channels; on the edges of a reduction cell that leave the two
cell inputs, it sub-samples with stride 2. `build_op(name, C, stride, affine)` is the single
entry point; the search network passes ``affine=False`` (and puts a non-affine BN after
pooling), the evaluation network ``affine=True``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

OpFactory = Callable[[int, int, bool], nn.Module]

PARAMETER_FREE_OPS = frozenset({"none", "noise", "skip_connect", "max_pool_3x3", "avg_pool_3x3"})


def _output_size(size: int, stride: int) -> int:
    """Spatial size after a stride-`stride` op with 'same' padding: ceil(size / stride)."""
    return -(-size // stride)


class Zero(nn.Module):
    """`none`: zeros of the output shape. The mixed edge never runs it (spec section 2)."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class Noise(nn.Module):
    """`noise` (S4): fresh i.i.d. N(0, 1) of the output shape on every call, input ignored.

    It stays random at evaluation time too, as in the paper, which makes it harmful: DARTS
    choosing it is the failure the paper's Section 3 exposes.
    """

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        shape = (batch, channels, _output_size(height, self.stride),
                 _output_size(width, self.stride))
        return torch.randn(shape, device=x.device, dtype=x.dtype)


class Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class ReLUConvBN(nn.Sequential):
    """ReLU, KxK conv, BN: the cell preprocessing of c_{k-1} and c_{k-2}."""

    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, padding: int,
                 affine: bool) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


def shifted_grid(x: torch.Tensor) -> torch.Tensor:
    """What a 1x1 stride-2 conv sees of the input shifted by one pixel (DARTS' `x[:, :, 1:,
    1:]`, zero-padded back to H x W): the odd rows and columns, with a zero row / column
    where H / W is odd. Taken directly, it skips padding and differentiating the whole
    full-resolution tensor (8x faster at 32x32, and equal: tests/test_ops.py)."""
    grid = x[:, :, 1::2, 1::2]
    if x.shape[-2] % 2 or x.shape[-1] % 2:
        grid = F.pad(grid, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))
    return grid


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing pixels: two 1x1 stride-2 convs, the second on the
    input shifted by one pixel, concatenated (skip_connect at stride 2, and c_{k-2} after a
    reduction cell). Odd sizes are zero-padded so both halves agree on ceil(H / 2); the
    shifted half is computed on `shifted_grid` (a 1x1 conv at stride 1 on the sampled grid)."""

    def __init__(self, C_in: int, C_out: int, affine: bool) -> None:
        super().__init__()
        if C_out % 2:
            raise ValueError(f"FactorizedReduce needs an even channel count, got {C_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_even = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_odd = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        odd = F.conv2d(shifted_grid(x), self.conv_odd.weight)
        return self.bn(torch.cat([self.conv_even(x), odd], dim=1))


class DilConv(nn.Sequential):
    """ReLU, depthwise KxK conv (dilation d), 1x1 conv, BN."""

    def __init__(self, C: int, kernel: int, stride: int, padding: int, dilation: int,
                 affine: bool) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C, C, kernel, stride=stride, padding=padding, dilation=dilation,
                      groups=C, bias=False),
            nn.Conv2d(C, C, 1, bias=False),
            nn.BatchNorm2d(C, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two stacked DilConv with dilation 1; the stride applies to the first depthwise conv."""

    def __init__(self, C: int, kernel: int, stride: int, padding: int, affine: bool) -> None:
        super().__init__(
            DilConv(C, kernel, stride, padding, 1, affine),
            DilConv(C, kernel, 1, padding, 1, affine),
        )


def _skip(C: int, stride: int, affine: bool) -> nn.Module:
    return Identity() if stride == 1 else FactorizedReduce(C, C, affine)


OPS: dict[str, OpFactory] = {
    "none": lambda C, stride, affine: Zero(stride),
    "noise": lambda C, stride, affine: Noise(stride),
    "skip_connect": _skip,
    "max_pool_3x3": lambda C, stride, affine: nn.MaxPool2d(3, stride=stride, padding=1),
    "avg_pool_3x3": lambda C, stride, affine: nn.AvgPool2d(
        3, stride=stride, padding=1, count_include_pad=False
    ),
    "sep_conv_3x3": lambda C, stride, affine: SepConv(C, 3, stride, 1, affine),
    "sep_conv_5x5": lambda C, stride, affine: SepConv(C, 5, stride, 2, affine),
    "dil_conv_3x3": lambda C, stride, affine: DilConv(C, 3, stride, 2, 2, affine),
    "dil_conv_5x5": lambda C, stride, affine: DilConv(C, 5, stride, 4, 2, affine),
}

OP_NAMES: tuple[str, ...] = tuple(OPS)


def build_op(name: str, C: int, stride: int, affine: bool) -> nn.Module:
    """Instantiate op `name` for C channels; callers validate names through the search space."""
    return OPS[name](C, stride, affine)


def is_identity(op_name: str, stride: int) -> bool:
    """True for the ops that drop path must never touch: skip_connect at stride 1."""
    return op_name == "skip_connect" and stride == 1
