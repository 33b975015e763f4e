"""The mixed edge of the continuous relaxation, and ScheduledDropPath on a path's output.

DARTS Eq. (1): an edge computes sum_o w[o] * op_o(x) with w = softmax(alpha_edge). The ops are
modules a domain builds; `none` contributes nothing, so it is never computed (its alpha still
receives the softmax-coupled gradient).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Drop whole samples of `x` with probability `drop_prob`, scaling survivors by 1/(1-p).

    ScheduledDropPath (Zoph et al. 2018; the paper's Section 5.1) applied to a path's output.
    """
    if drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.dim() - 1)
    mask = torch.empty(shape, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep


class MixedEdge(nn.Module):
    """sum_o w[o] * op_o(x) over the edge's candidate ops; `none` is never computed.

    `fused`: the same sum in fewer tensor operations, forward and backward (on a CPU a
    small op costs its dispatch more than its arithmetic): the edge's weights are split once
    (`unbind`, one op instead of one indexing per op) and each term after the first is added
    by `addcmul` (multiply and add in one op, so rounded once where the loop rounds twice).
    """

    def __init__(self, op_names: tuple[str, ...], build: Callable[[str], nn.Module],
                 fused: bool = False) -> None:
        super().__init__()
        self.computed = [k for k, name in enumerate(op_names) if name != "none"]
        self.ops = nn.ModuleList(build(op_names[k]) for k in self.computed)
        self.fused = fused

    def single(self, x: torch.Tensor, position: int) -> torch.Tensor:
        """Only the op at `position` of the edge's list (a discrete choice, weight 1)."""
        return self.ops[self.computed.index(position)](x)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return self._fused_sum(x, weights)
        out = weights[self.computed[0]] * self.ops[0](x)
        for k, op in zip(self.computed[1:], self.ops[1:], strict=True):
            out = out + weights[k] * op(x)
        return out

    def _fused_sum(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        w = weights.unbind(0)
        out = w[self.computed[0]] * self.ops[0](x)
        for k, op in zip(self.computed[1:], self.ops[1:], strict=True):
            out = torch.addcmul(out, w[k], op(x))
        return out
