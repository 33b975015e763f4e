"""The cells of AutoDispNet-C, for the supernet (mixed edges) and the evaluation network (the
genotype's edges only).

A cell body runs the nodes over its input states: node i sums its incoming edges (every
earlier state in the supernet, the kept ones in a genotype); the output concatenates the
intermediate nodes (3C channels for 3 nodes). Around the body:

- `EncoderCell` (normal, reduce): s0 pre-processed by a 3x3 ConvReLU with stride 2 when the
  previous cell reduced (s0 is then one level finer), else by a 1x1 ConvReLU; s1 by a 1x1
  ConvReLU. In a reduction cell the edges leaving the two inputs have stride 2.
- `UpsampleCell`: four inputs at the cell's (finer) level, all edges stride 1: the two
  previous cells, each pre-processed and brought up by as many transposed convolutions as it
  is levels coarser (AutoDispNet's `up(pre(s))`; an input already at the cell's level gets the
  1x1 ConvReLU only), the previous prediction (resized by the network) through a 1x1 ConvReLU
  from one channel, and the skip feature through a 1x1 ConvReLU. Node 0 sums all four.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from rdarts.core.genotype import CellGenotype
from rdarts.core.mixed import MixedEdge
from rdarts.core.space import CellType
from rdarts.domains.disparity.ops import ConvReLU, UpConv, network_op, search_op

Body = Callable[[list[torch.Tensor], torch.Tensor | None], torch.Tensor]


class MixedBody(nn.Module):
    """Every edge of a cell type as a mixed edge (the continuous relaxation, DARTS Eq. 1)."""

    def __init__(self, cell: CellType, C: int, strided_inputs: int = 0) -> None:
        super().__init__()
        self.cell = cell
        self.edges = nn.ModuleList(
            MixedEdge(ops, lambda name, s=source: search_op(
                name, C, 2 if s < strided_inputs else 1))
            for (_, source), ops in zip(cell.endpoints, cell.edges, strict=True))

    def forward(self, states: list[torch.Tensor], weights: torch.Tensor | None,
                chosen: CellGenotype | None = None) -> torch.Tensor:
        """Nodes from edge weights (E, |O|), or only the ops a genotype keeps (`chosen`,
        weights ignored: equal to one-hot weights without running the others; RS-ws)."""
        states = list(states)
        for node in range(self.cell.nodes):
            first = self.cell.first_edge(node)
            if chosen is not None:
                total = sum(self.edges[first + source].single(
                    states[source], self.cell.edges[first + source].index(op))
                    for op, source in chosen[node])
            else:
                assert weights is not None
                total = sum(self.edges[first + source](h, weights[first + source])
                            for source, h in enumerate(states))
            states.append(total)
        return torch.cat(states[self.cell.inputs:], dim=1)


class DiscreteBody(nn.Module):
    """Only the edges a genotype keeps, each with its one op (affine BN)."""

    def __init__(self, chosen: CellGenotype, inputs: int, C: int,
                 strided_inputs: int = 0) -> None:
        super().__init__()
        self.chosen = chosen
        self.inputs = inputs
        self.ops = nn.ModuleList(network_op(op, C, 2 if source < strided_inputs else 1)
                                 for node in chosen for op, source in node)

    def forward(self, states: list[torch.Tensor], weights: torch.Tensor | None = None,
                chosen: CellGenotype | None = None) -> torch.Tensor:
        states = list(states)
        index = 0
        for node in self.chosen:
            total = 0
            for _, source in node:
                total = total + self.ops[index](states[source])
                index += 1
            states.append(total)
        return torch.cat(states[self.inputs:], dim=1)


BodyFactory = Callable[[str, int, int], nn.Module]  # (cell type, C, strided inputs) -> body


class EncoderCell(nn.Module):
    """A normal or reduction cell on (s0, s1); output 3C channels at s1's level (one level
    coarser for a reduction cell)."""

    def __init__(self, body: BodyFactory, reduction: bool, C_prev_prev: int, C_prev: int,
                 C: int, reduction_prev: bool) -> None:
        super().__init__()
        self.cell_type = "reduce" if reduction else "normal"
        self.reduction = reduction
        self.preprocess0 = (ConvReLU(C_prev_prev, C, 3, stride=2) if reduction_prev
                            else ConvReLU(C_prev_prev, C, 1))
        self.preprocess1 = ConvReLU(C_prev, C, 1)
        self.body = body(self.cell_type, C, 2 if reduction else 0)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor | None,
                chosen: CellGenotype | None = None) -> torch.Tensor:
        return self.body([self.preprocess0(s0), self.preprocess1(s1)], weights, chosen)


def _bring_up(C_in: int, C: int, levels: int) -> nn.Module:
    """1x1 ConvReLU to C channels, then `levels` transposed convolutions (x2 each)."""
    return nn.Sequential(ConvReLU(C_in, C, 1), *(UpConv(C, C) for _ in range(levels)))


class UpsampleCell(nn.Module):
    """An upsampling cell: inputs (s0, s1, prediction, skip), output 3C channels at the skip's
    level. `levels` says how many levels coarser s0 and s1 are than the output."""

    def __init__(self, body: BodyFactory, C_prev_prev: int, C_prev: int, C_skip: int, C: int,
                 levels: Sequence[int]) -> None:
        super().__init__()
        self.cell_type = "upsample"
        self.pre0 = _bring_up(C_prev_prev, C, levels[0])
        self.pre1 = _bring_up(C_prev, C, levels[1])
        self.pre_pred = ConvReLU(1, C, 1)
        self.pre_skip = ConvReLU(C_skip, C, 1)
        self.body = body(self.cell_type, C, 0)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, prediction: torch.Tensor,
                skip: torch.Tensor, weights: torch.Tensor | None,
                chosen: CellGenotype | None = None) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1), self.pre_pred(prediction),
                  self.pre_skip(skip)]
        return self.body(states, weights, chosen)
