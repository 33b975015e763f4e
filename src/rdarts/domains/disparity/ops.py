"""The ops of the disparity cells and the layers around them (AutoDispNet-C).

Cell edges use rdarts' standard ReLU-Conv-BN ops, as on S1-S5, so that S6 results compare
with the image spaces (a deviation from AutoDispNet, whose SepConv is conv-then-activation and
whose BN is off): `sep_conv_3x3` is two ReLU-depthwise-pointwise-BN blocks, `max_pool_3x3`
pools (followed by a non-affine BN in the search network, as on images), `skip_connect` is
the identity, or a factorised reduction at stride 2. The search network's BN is non-affine,
the evaluation network's affine. Stems and the cell pre-processing are AutoDispNet's
ConvReLU: a convolution with bias followed by a leaky ReLU (slope 0.1), no BN; upsampling is a
4x4 transposed convolution with stride 2 and a leaky ReLU.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from rdarts.domains.image.ops import FactorizedReduce, Identity, SepConv

LEAKY_SLOPE = 0.1

OpFactory = Callable[[int, int, bool], nn.Module]


def _skip(C: int, stride: int, affine: bool) -> nn.Module:
    return Identity() if stride == 1 else FactorizedReduce(C, C, affine)


OPS: dict[str, OpFactory] = {
    "sep_conv_3x3": lambda C, stride, affine: SepConv(C, 3, stride, 1, affine),
    "max_pool_3x3": lambda C, stride, affine: nn.MaxPool2d(3, stride=stride, padding=1),
    "skip_connect": _skip,
}
OP_NAMES: tuple[str, ...] = tuple(OPS)
PARAMETER_FREE_OPS = frozenset({"max_pool_3x3", "skip_connect"})


def search_op(name: str, C: int, stride: int) -> nn.Module:
    """A supernet edge's op: non-affine BN, and after pooling too (as the image supernet)."""
    op = OPS[name](C, stride, False)
    if "pool" in name:
        return nn.Sequential(op, nn.BatchNorm2d(C, affine=False))
    return op


def network_op(name: str, C: int, stride: int) -> nn.Module:
    """An evaluation network's op: affine BN."""
    return OPS[name](C, stride, True)


class ConvReLU(nn.Sequential):
    """Convolution (with bias, 'same' padding) and a leaky ReLU: stems and pre-processing."""

    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(nn.Conv2d(C_in, C_out, kernel, stride=stride, padding=kernel // 2),
                         nn.LeakyReLU(LEAKY_SLOPE))


class UpConv(nn.Sequential):
    """A 4x4 transposed convolution with stride 2 (exactly twice the resolution) and a leaky
    ReLU: AutoDispNet's `up`."""

    def __init__(self, C_in: int, C_out: int) -> None:
        super().__init__(nn.ConvTranspose2d(C_in, C_out, 4, stride=2, padding=1),
                         nn.LeakyReLU(LEAKY_SLOPE))


class Prediction(nn.Module):
    """A 3x3 convolution to one channel and a ReLU: a non-negative disparity in input pixels
    (AutoDispNet predicts negative disparities through a negated ReLU; the sign is ours)."""

    def __init__(self, C_in: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(C_in, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))
