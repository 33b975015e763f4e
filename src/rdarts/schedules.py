"""Pure schedule functions of the epoch: no state, so a resumed run recomputes them exactly."""

from __future__ import annotations

import math


def cosine_lr(epoch: float, epochs: int, lr_max: float, lr_min: float) -> float:
    """Cosine annealing from lr_max at epoch 0 towards lr_min at epoch `epochs` (SGDR without
    restarts, as DARTS' search and evaluation use it; spec section 3). `epoch` may be
    fractional (epoch + step / steps) for annealing every step."""
    if epochs <= 0:
        return lr_max
    return lr_min + (lr_max - lr_min) * (1.0 + math.cos(math.pi * epoch / epochs)) / 2.0


def linear_ramp(epoch: int, epochs: int, maximum: float) -> float:
    """p(e) = p_max * e / (epochs - 1): ScheduledDropPath and the Cutout probability ramp
    (spec section 4); reaches the maximum in the last epoch."""
    if epochs <= 1:
        return maximum
    return maximum * min(epoch, epochs - 1) / (epochs - 1)
