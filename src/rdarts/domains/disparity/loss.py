"""The multi-scale L1 loss and the EPE of disparity predictions (DispNet, AutoDispNet).

At each prediction level l the loss is the mean |d_hat_l - d_l| over the pixels with known
ground truth, where d_l is the ground truth downsampled by 2^l with a tent-weighted average of
its valid pixels and NOT rescaled (flownet2's Downsample and L1 loss layers), so every scale
predicts input pixels. For one-channel disparity L1 is the end-point error. The levels are
weighted as netdef's defaults: 1/4 at 1/4 resolution, 1/8 at 1/8, 1/16 coarser. The EPE is
the mean absolute error of the full-resolution prediction over pixels with finite ground
truth, no occlusion mask (netdef's accuracy).
"""

from __future__ import annotations

import torch

from rdarts.domains.disparity.network import DisparityOutput
from rdarts.domains.disparity.stereo import downsample_disparity, epe

LEVEL_WEIGHTS = {2: 1 / 4, 3: 1 / 8}
COARSE_WEIGHT = 1 / 16


def level_weight(level: int) -> float:
    return LEVEL_WEIGHTS.get(level, COARSE_WEIGHT)


def masked_l1(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean |prediction - target| over finite targets (0 when there are none)."""
    valid = torch.isfinite(target)
    error = (prediction - torch.where(valid, target, torch.zeros_like(target))).abs()
    return torch.where(valid, error, torch.zeros_like(error)).sum() / valid.sum().clamp_min(1)


def multiscale_loss(outputs: DisparityOutput, disparity: torch.Tensor) -> torch.Tensor:
    """sum_l w_l mean |d_hat_l - downsample(d, 2^l)| over the predictions' levels."""
    total = disparity.new_zeros(())
    for level, prediction in outputs.predictions:
        target = downsample_disparity(disparity, 2 ** level)
        total = total + level_weight(level) * masked_l1(prediction, target)
    return total


@torch.no_grad()
def epe_sums(outputs: DisparityOutput, disparity: torch.Tensor,
             mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Summable EPE statistics of the full-resolution prediction: `epe_sum`, `pixels`."""
    sums = epe(outputs.disparity, disparity, mask)
    return {"epe_sum": sums.epe_sum, "pixels": sums.pixels}
