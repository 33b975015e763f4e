"""The one-shot (search) network of DARTS for images; alpha lives apart (rdarts.core.alpha).

The supernet holds only the network weights w. Its forward pass takes the edge weights (one
(E, |O|) matrix per cell type, normally softmax(alpha)) explicitly, so that the hypergradient
and curvature code can evaluate L(w, alpha) at any w (functional calls) and any alpha
(including the one-hot alpha of a discretised genotype) without copying the model.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from rdarts.core.alpha import EdgeWeights
from rdarts.core.genotype import CellGenotype, Genotype
from rdarts.core.mixed import MixedEdge, drop_path
from rdarts.core.space import CellSpace, first_edge
from rdarts.domains.image.batched import BatchedSearchCell
from rdarts.domains.image.ops import FactorizedReduce, ReLUConvBN, build_op


def _search_op(name: str, C: int, stride: int) -> nn.Module:
    """Search-network op: non-affine BN everywhere, and after pooling too (spec section 2)."""
    op = build_op(name, C, stride, affine=False)
    if "pool" in name:
        return nn.Sequential(op, nn.BatchNorm2d(C, affine=False))
    return op


class SearchCell(nn.Module):
    """A DARTS cell with a mixed edge from every earlier state to every intermediate node."""

    def __init__(self, space: CellSpace, reduction: bool, C_prev_prev: int, C_prev: int,
                 C: int, reduction_prev: bool, fused: bool = False) -> None:
        super().__init__()
        self.reduction = reduction
        self.nodes = space.nodes
        self.fused = fused
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(C_prev_prev, C, affine=False)
        else:
            self.preprocess0 = ReLUConvBN(C_prev_prev, C, 1, 1, 0, affine=False)
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0, affine=False)
        cell = space.cell("reduce" if reduction else "normal")
        self.op_names = cell.edges
        self.edges = nn.ModuleList(
            MixedEdge(ops, partial(_search_op, C=C, stride=2 if reduction and source < 2 else 1),
                      fused=fused)
            for (_, source), ops in zip(cell.endpoints, cell.edges, strict=True)
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor,
                drop_prob: float = 0.0, chosen: CellGenotype | None = None) -> torch.Tensor:
        if chosen is not None:
            return self._forward_chosen(s0, s1, chosen, drop_prob)
        if self.fused:
            return self._forward_fused(s0, s1, weights, drop_prob)
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        edge = 0
        for _ in range(self.nodes):
            node = 0
            for h in states:
                out = self.edges[edge](h, weights[edge])
                node = node + (drop_path(out, drop_prob) if self.training else out)
                edge += 1
            states.append(node)
        return torch.cat(states[2:], dim=1)

    def _forward_fused(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor,
                       drop_prob: float) -> torch.Tensor:
        """The same cell with fewer ops (`mixed_sum: fused`): the edges' rows split once, and
        a node starts from its first edge's output instead of adding it to 0 (a copy)."""
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        rows = weights.unbind(0)
        edge = 0
        for _ in range(self.nodes):
            outs = []
            for h in states:
                out = self.edges[edge](h, rows[edge])
                outs.append(drop_path(out, drop_prob) if self.training else out)
                edge += 1
            node = outs[0]
            for out in outs[1:]:
                node = node + out
            states.append(node)
        return torch.cat(states[2:], dim=1)

    def _forward_chosen(self, s0: torch.Tensor, s1: torch.Tensor, chosen: CellGenotype,
                        drop_prob: float) -> torch.Tensor:
        """The cell with only a genotype's edges and ops: what one-hot weights select, without
        running the ops whose weight is 0 (RS-ws training and scoring, discretisation)."""
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node, edges in enumerate(chosen):
            first = first_edge(node)
            total = 0
            for op, source in edges:
                edge = first + source
                out = self.edges[edge].single(states[source], self.op_names[edge].index(op))
                total = total + (drop_path(out, drop_prob) if self.training else out)
            states.append(total)
        return torch.cat(states[2:], dim=1)


class Supernet(nn.Module):
    """Stem, `layers` search cells (reductions at layers//3 and 2*layers//3), pooling, linear.

    Spec section 3: stem 3x3 conv to 3C + BN; channels double at each reduction; the cell
    output concatenates all N intermediate nodes (multiplier N, not a hard-coded 4).
    `mixed_sum`: how the cells compute their mixed edges: `loop` (edge by edge, op by op, as
    DARTS' code), `fused` (the same with fewer ops, `MixedEdge`) or `batched` (the edges leaving
    a state together, `BatchedSearchCell`); all equal within fp32 rounding.
    """

    def __init__(self, space: CellSpace, C: int = 16, num_classes: int = 10,
                 layers: int = 8, in_channels: int = 3, stem_multiplier: int = 3,
                 mixed_sum: str = "loop") -> None:
        super().__init__()
        if layers < 3:
            raise ValueError(f"the search network needs at least 3 cells, got {layers}")
        self.space = space
        C_curr = stem_multiplier * C
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False), nn.BatchNorm2d(C_curr)
        )
        C_prev_prev, C_prev, C_curr = C_curr, C_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                C_curr *= 2
            cell: nn.Module = SearchCell(space, reduction, C_prev_prev, C_prev, C_curr,
                                         reduction_prev, fused=mixed_sum == "fused")
            self.cells.append(BatchedSearchCell(cell) if mixed_sum == "batched" else cell)
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, space.nodes * C_curr
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def forward(self, x: torch.Tensor, weights: EdgeWeights | None,
                drop_path_prob: float = 0.0, genotype: Genotype | None = None) -> torch.Tensor:
        """Logits with edge weights (softmax(alpha), or any (E, |O|) matrices), or with a
        genotype's discrete choice (`genotype`, `weights` ignored): the latter equals one-hot
        weights but runs only the chosen ops."""
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            cell_type = "reduce" if cell.reduction else "normal"
            if genotype is not None:
                s0, s1 = s1, cell(s0, s1, None, drop_path_prob, genotype.cell(cell_type))
            else:
                s0, s1 = s1, cell(s0, s1, weights[cell_type], drop_path_prob)
        return self.classifier(self.global_pooling(s1).flatten(1))
