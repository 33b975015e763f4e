"""L(w, alpha; batch): the objective of both levels of DARTS' bilevel problem (paper Eq. 1-2).

The domain owns the loss (cross-entropy, the multi-scale L1 of disparity, the NLL of a language
model); the objective evaluates it for any weights w and any alpha with a `functional_call` on
the one supernet, so hypergradients and Hessians need no model copies. Auxiliary evaluations
run on scratch copies of the BN buffers, leaving the search's running statistics untouched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from rdarts.core.alpha import edge_weights

Tensors = dict[str, torch.Tensor]
LossOf = Callable[[Any, Any], torch.Tensor]  # (outputs, batch) -> scalar loss


def scratch_buffers(model: nn.Module) -> Tensors:
    """Copies of the BN buffers, so auxiliary passes leave the running statistics untouched."""
    return {name: buffer.clone() for name, buffer in model.named_buffers()}


@dataclass(eq=False)
class Watch:
    """The outputs of the last evaluation on one batch (see `Objective.watching`)."""

    batch: Any
    outputs: Any = None


class Objective:
    """The domain's loss of `model` at given weights and alpha on a batch.

    The model's forward is `model(*batch.inputs, edge_weights, **forward)` with one softmax
    matrix per cell type; `forward` carries the step's options (drop path).
    """

    def __init__(self, model: nn.Module, loss: LossOf, cell_types: Sequence[str]) -> None:
        self.model = model
        self.loss = loss
        self.cell_types = tuple(cell_types)
        self._watch: Watch | None = None

    @contextlib.contextmanager
    def watching(self, batch: Any) -> Iterator[Watch]:
        """Within the block, keep the outputs of the last evaluation on `batch` in the
        yielded `Watch` (an RNN's hidden state after the alpha batch, to carry on); the
        objective itself keeps no reference after the block."""
        self._watch = Watch(batch)
        try:
            yield self._watch
        finally:
            self._watch = None

    def weights(self) -> Tensors:
        return dict(self.model.named_parameters())

    def outputs(self, params: Mapping[str, torch.Tensor], alpha: Sequence[torch.Tensor],
                batch: Any, buffers: Tensors | None = None,
                forward: Mapping[str, Any] | None = None) -> Any:
        state = {**(scratch_buffers(self.model) if buffers is None else buffers), **params}
        weights = edge_weights(alpha, self.cell_types)
        options = {**getattr(batch, "options", {}), **(forward or {})}
        outputs = functional_call(self.model, state, (*batch.inputs, weights), options)
        if self._watch is not None and batch is self._watch.batch:
            self._watch.outputs = outputs
        return outputs

    def __call__(self, params: Mapping[str, torch.Tensor], alpha: Sequence[torch.Tensor],
                 batch: Any, buffers: Tensors | None = None,
                 forward: Mapping[str, Any] | None = None) -> torch.Tensor:
        """L(w = params, alpha; batch)."""
        return self.loss(self.outputs(params, alpha, batch, buffers, forward), batch)
