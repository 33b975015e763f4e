"""The 1-D correlation of DispNet-C and AutoDispNet-C, from differentiable tensor ops.

For rectified views a left pixel (y, x) with disparity delta is seen in the right view at
(y, x - delta). The correlation compares each left feature vector with the right feature
vectors at horizontal offsets d = -D .. D (kernel 1, strides 1, zero padding D):

    corr[k](y, x) = (1 / C) sum_c f_L(c, y, x) f_R(c, y, x + d),    d = k - D,

the channel mean of Caffe's `Correlation1D` and lmbspecialops (normalised by K^2 C with
K = 1), followed by a ReLU as in netdef_slim. A left disparity delta therefore peaks at channel
k = D - delta. The one-sided variant keeps the offsets d = -D .. 0 (D + 1 channels), the only
ones a positive left disparity can reach.

AutoDispNet's custom CUDA op has no second derivative, which is why the paper could not track
lambda_max or run DARTS-ES on S6 (Zela et al., footnote 3). Built from pad, slice, multiply,
mean and stack, this one is twice differentiable, so the alpha-Hessian of a disparity
supernet exists through it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def corr1d(left: torch.Tensor, right: torch.Tensor, max_displacement: int,
           one_sided: bool = False) -> torch.Tensor:
    """(B, C, H, W) x 2 -> (B, 2D + 1, H, W), or (B, D + 1, H, W) with `one_sided`.

    Channel k holds the offset d = k - D; the result is ReLU'd (non-negative)."""
    if left.shape != right.shape:
        raise ValueError(f"corr1d needs views of one shape, got {tuple(left.shape)} and "
                         f"{tuple(right.shape)}")
    if max_displacement < 0:
        raise ValueError(f"max_displacement must be >= 0, got {max_displacement}")
    D, width = max_displacement, left.shape[-1]
    padded = F.pad(right, (D, D))  # zeros beyond the image edges, width only
    last = 0 if one_sided else D
    channels = [(left * padded[..., D + d: D + d + width]).mean(dim=1)
                for d in range(-D, last + 1)]
    return F.relu(torch.stack(channels, dim=1))


def correlation_channels(max_displacement: int, one_sided: bool = False) -> int:
    """The output channels of `corr1d`: 2D + 1, or D + 1 one-sided."""
    return max_displacement + 1 if one_sided else 2 * max_displacement + 1
