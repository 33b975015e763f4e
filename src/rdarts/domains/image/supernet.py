"""The one-shot (search) network of DARTS, and the architecture parameters alpha kept apart.

The supernet holds only the network weights w. Its forward pass takes the edge weights (one
(E, |O|) matrix per cell type, normally softmax(alpha)) explicitly, so that the hypergradient
and curvature code can evaluate L(w, alpha) at any w (functional calls) and any alpha
(including the one-hot alpha of a discretised genotype) without copying the model.
"""

from __future__ import annotations

import torch
from torch import nn

from rdarts.core.genotype import CellGenotype, Genotype
from rdarts.core.space import CELL_TYPES, SearchSpace, edge_endpoints
from rdarts.domains.image.ops import FactorizedReduce, ReLUConvBN, build_op

EdgeWeights = dict[str, torch.Tensor]


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Drop whole samples of `x` with probability `drop_prob`, scaling survivors by 1/(1-p).

    ScheduledDropPath (Zoph et al. 2018; the paper's Section 5.1) applied to a path's output.
    """
    if drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep


def _search_op(name: str, C: int, stride: int) -> nn.Module:
    """Search-network op: non-affine BN everywhere, and after pooling too (spec section 2)."""
    op = build_op(name, C, stride, affine=False)
    if "pool" in name:
        return nn.Sequential(op, nn.BatchNorm2d(C, affine=False))
    return op


class MixedEdge(nn.Module):
    """sum_o w[o] * op_o(x) over the edge's candidate ops; `none` is never computed."""

    def __init__(self, op_names: tuple[str, ...], C: int, stride: int) -> None:
        super().__init__()
        self.computed = [k for k, name in enumerate(op_names) if name != "none"]
        self.ops = nn.ModuleList(_search_op(op_names[k], C, stride) for k in self.computed)

    def single(self, x: torch.Tensor, position: int) -> torch.Tensor:
        """Only the op at `position` of the edge's list (a discrete choice, weight 1)."""
        return self.ops[self.computed.index(position)](x)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        out = weights[self.computed[0]] * self.ops[0](x)
        for k, op in zip(self.computed[1:], self.ops[1:], strict=True):
            out = out + weights[k] * op(x)
        return out


class SearchCell(nn.Module):
    """A DARTS cell with a mixed edge from every earlier state to every intermediate node."""

    def __init__(self, space: SearchSpace, reduction: bool, C_prev_prev: int, C_prev: int,
                 C: int, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.nodes = space.nodes
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(C_prev_prev, C, affine=False)
        else:
            self.preprocess0 = ReLUConvBN(C_prev_prev, C, 1, 1, 0, affine=False)
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0, affine=False)
        cell_type = "reduce" if reduction else "normal"
        self.op_names = space.edges(cell_type)
        self.edges = nn.ModuleList(
            MixedEdge(ops, C, stride=2 if reduction and source < 2 else 1)
            for (_, source), ops in zip(edge_endpoints(space.nodes), space.edges(cell_type),
                                        strict=True)
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor,
                drop_prob: float = 0.0, chosen: CellGenotype | None = None) -> torch.Tensor:
        if chosen is not None:
            return self._forward_chosen(s0, s1, chosen, drop_prob)
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


    def _forward_chosen(self, s0: torch.Tensor, s1: torch.Tensor, chosen: CellGenotype,
                        drop_prob: float) -> torch.Tensor:
        """The cell with only a genotype's edges and ops: what one-hot weights select, without
        running the ops whose weight is 0 (RS-ws training and scoring, discretisation)."""
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node, edges in enumerate(chosen):
            first = node * (node + 3) // 2
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
    """

    def __init__(self, space: SearchSpace, C: int = 16, num_classes: int = 10,
                 layers: int = 8, in_channels: int = 3, stem_multiplier: int = 3) -> None:
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
            self.cells.append(
                SearchCell(space, reduction, C_prev_prev, C_prev, C_curr, reduction_prev)
            )
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


class Architecture(nn.Module):
    """alpha: one (E, |O|) matrix per cell type, shared by all cells of that type.

    Initialised as 1e-3 * N(0, 1) (spec section 1). Kept out of the supernet so that the two
    optimisers of the bilevel problem (paper Eq. 1-2) never see each other's parameters.
    """

    def __init__(self, space: SearchSpace, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.alpha = nn.ParameterDict({
            cell_type: nn.Parameter(1e-3 * torch.randn(space.alpha_shape(cell_type),
                                                       generator=generator))
            for cell_type in CELL_TYPES
        })

    def parameters_list(self) -> list[nn.Parameter]:
        return [self.alpha[cell_type] for cell_type in CELL_TYPES]

    def forward(self) -> EdgeWeights:
        """softmax(alpha) per edge: the continuous relaxation of the paper's Eq. (1)."""
        return edge_weights(self.parameters_list())


def edge_weights(alpha: list[torch.Tensor]) -> EdgeWeights:
    """softmax over each edge's ops, for alpha given in CELL_TYPES order."""
    return {cell_type: a.softmax(dim=-1) for cell_type, a in zip(CELL_TYPES, alpha, strict=True)}


def alpha_entry_names(space: SearchSpace) -> list[str]:
    """'cell/edge<i>(node<-source)/op' for every alpha entry, in flattened CELL_TYPES order."""
    names = []
    endpoints = edge_endpoints(space.nodes)
    for cell_type in CELL_TYPES:
        for edge, ((node, source), ops) in enumerate(zip(endpoints, space.edges(cell_type),
                                                         strict=True)):
            names.extend(f"{cell_type}/edge{edge}(n{node}<-{source})/{op}" for op in ops)
    return names
