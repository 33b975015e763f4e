"""The stereo data type and the two operations every consumer of disparity needs.

A `StereoSet` holds rectified stereo pairs and their ground truth as stacked tensors, on the
CPU or already on the device (the image domain's rule: data on the device, batches by
indexing). Disparity is the left view's, positive, in input pixels: the left pixel x matches
the right pixel x - d. Unknown ground truth is NaN, so "valid" is one rule (`isfinite`)
everywhere: the loss, EPE and the NaN-skipping downsampling of spec section 4.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F

from rdarts.errors import DataError

__all__ = ["EpeSums", "StereoSet", "downsample_disparity", "epe"]

Indices = torch.Tensor | Sequence[int] | slice


@dataclass(frozen=True, eq=False)  # tensors have no single truth value: compare by identity
class StereoSet:
    """N rectified stereo pairs with left-view (and optionally right-view) disparity.

    left, right: (N, 3, H, W) float32 in [0, 1]. disparity: (N, 1, H, W) float32, positive,
    NaN where unknown. disparity_right: the right view's disparity (right pixel x matches left
    x + d), needed by the flip augmentation (spec section 6), or None. noc: (N, H, W) bool,
    True where the left pixel is visible in the right view and inside its frame, or None.
    """

    left: torch.Tensor
    right: torch.Tensor
    disparity: torch.Tensor
    disparity_right: torch.Tensor | None = None
    noc: torch.Tensor | None = None

    def __post_init__(self) -> None:
        # A malformed loader shows here, not as a shape error inside the correlation layer.
        if self.left.dim() != 4 or self.left.shape[1] != 3:
            raise DataError(f"left views must be (N, 3, H, W); found {tuple(self.left.shape)}")
        n, _, h, w = self.left.shape
        expected = {
            "right": (self.right, (n, 3, h, w)),
            "disparity": (self.disparity, (n, 1, h, w)),
            "disparity_right": (self.disparity_right, (n, 1, h, w)),
            "noc": (self.noc, (n, h, w)),
        }
        for name, (tensor, shape) in expected.items():
            if tensor is not None and tuple(tensor.shape) != shape:
                raise DataError(f"{name} must have shape {shape}; found {tuple(tensor.shape)}")
        if self.noc is not None and self.noc.dtype != torch.bool:
            raise DataError(f"noc must be a bool mask; found {self.noc.dtype}")

    def __len__(self) -> int:
        return self.left.shape[0]

    @property
    def valid(self) -> torch.Tensor:
        """(N, 1, H, W) bool: pixels with known ground truth (finite disparity)."""
        return torch.isfinite(self.disparity)

    def _map(self, function) -> StereoSet:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return StereoSet(**{k: None if v is None else function(v) for k, v in fields.items()})

    def subset(self, indices: Indices) -> StereoSet:
        """The pairs at `indices` (a slice, a sequence, or an index tensor), in that order."""
        if not isinstance(indices, slice | torch.Tensor):
            indices = torch.as_tensor(list(indices), dtype=torch.long)
        if isinstance(indices, torch.Tensor):
            indices = indices.to(self.left.device)
        return self._map(lambda t: t[indices])

    def to(self, device: torch.device | str) -> StereoSet:
        """The same set on `device` (non-blocking copies where the source is pinned)."""
        return self._map(lambda t: t.to(device, non_blocking=True))

    @staticmethod
    def concat(sets: Sequence[StereoSet]) -> StereoSet:
        """One set holding the pairs of `sets` in order; optional fields survive only where
        every part has them."""
        if not sets:
            raise DataError("cannot concatenate an empty list of stereo sets")
        fields = {}
        for f in dataclasses.fields(StereoSet):
            parts = [getattr(s, f.name) for s in sets]
            fields[f.name] = None if any(p is None for p in parts) else torch.cat(parts)
        return StereoSet(**fields)


def _tent_kernel(factor: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """1-D tent weights over 2*factor input pixels around an output pixel's centre.

    Output pixel i covers input pixels [i*f, (i+1)*f) with centre i*f + (f-1)/2; taps start
    f//2 pixels before the block and the weight falls linearly to zero at distance f.
    """
    taps = torch.arange(2 * factor, dtype=dtype, device=device)
    offsets = taps - factor // 2 - (factor - 1) / 2
    return (1 - offsets.abs() / factor).clamp(min=0)


def downsample_disparity(disparity: torch.Tensor, factor: int) -> torch.Tensor:
    """Ground truth at 1/factor resolution for the multi-scale loss (spec section 4).

    A tent-weighted average over the valid (finite) pixels only, as flownet2's Downsample
    layer: NaN where no valid pixel falls under the tent. Values are NOT rescaled, so every
    prediction scale is in input-pixel units. `disparity` is (..., H, W); the result is
    (..., H // factor, W // factor).
    """
    if factor < 1 or int(factor) != factor:
        raise ValueError(f"the downsampling factor must be a positive integer; got {factor}")
    factor = int(factor)
    if factor == 1:
        return disparity
    *lead, h, w = disparity.shape
    flat = disparity.reshape(-1, 1, h, w)
    valid = torch.isfinite(flat)
    tent = _tent_kernel(factor, flat.dtype, flat.device)
    kernel = (tent[:, None] * tent[None, :])[None, None]
    before, after = factor // 2, factor - factor // 2
    pad = (before, after, before, after)  # zero padding counts as invalid: it adds no weight

    def blur(x: torch.Tensor) -> torch.Tensor:
        out = F.conv2d(F.pad(x, pad), kernel, stride=factor)
        return out[..., : h // factor, : w // factor]

    total = blur(torch.where(valid, flat, torch.zeros_like(flat)))
    weight = blur(valid.to(flat.dtype))
    out = torch.where(weight > 0, total / weight.clamp(min=1e-12), torch.nan)
    return out.reshape(*lead, h // factor, w // factor)


class EpeSums(NamedTuple):
    """Summable end-point-error statistics: EPE = epe_sum / pixels over any set of batches."""

    epe_sum: torch.Tensor
    pixels: torch.Tensor


def epe(
    prediction: torch.Tensor, disparity: torch.Tensor, mask: torch.Tensor | None = None
) -> EpeSums:
    """Sum of |prediction - ground truth| over pixels with finite ground truth, and their count.

    For one-channel disparity the end-point error is the absolute error (spec section 4:
    netdef_slim's EPE, no occlusion mask). `mask` (broadcastable bool, e.g. `noc[:, None]`)
    restricts the pixels further, for the non-occluded EPE logged beside the headline one.
    Sums rather than means, so that batches of any size combine exactly.
    """
    if prediction.shape != disparity.shape:
        raise ValueError(
            f"prediction {tuple(prediction.shape)} and disparity {tuple(disparity.shape)} "
            "differ in shape; resize the prediction to the ground truth first"
        )
    valid = torch.isfinite(disparity)
    if mask is not None:
        valid = valid & mask
    error = (prediction - torch.where(valid, disparity, torch.zeros_like(disparity))).abs()
    return EpeSums(torch.where(valid, error, torch.zeros_like(error)).sum(), valid.sum())
