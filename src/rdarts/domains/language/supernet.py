"""The recurrent search cell (DARTS `model_search.py: DARTSCellSearch`; spec section 2).

Per time step: the highway node s_0 (as in the derived cell), then `s_0 = BN(s_0)`; node i
(i = 1..8) reads every earlier state j at once through ONE weight matrix W_i, shared by all
its incoming edges and by all ops (DARTS A.1.2):

    [c_ij | h_ij] = (s_j m_h) W_i,
    s_i = BN( sum_j sum_{o != none} p_ij,o (s_j + sigmoid(c_ij) (f_o(h_ij) - s_j)) ),

p_ij = softmax(alpha_ij) over the edge's ops (`none` keeps its softmax mass and adds 0). The
output is the mean of s_1..s_8. BN is one `BatchNorm1d(H, affine=False)` reused for s_0 and
every node at every step: batch statistics in training mode; in eval mode (the one-shot
validation perplexity) running statistics blended over all nodes and steps, as the reference.

With `genotype=` (RS-ws) only the sampled path runs: node i reads its one predecessor.
"""

from __future__ import annotations

import torch
from torch import nn

from rdarts.core.genotype import Genotype
from rdarts.core.space import CellSpace
from rdarts.domains.language.model import (
    ACTIVATIONS,
    INIT_RANGE,
    Dropouts,
    LMOutput,
    Masks,
    RecurrentLM,
    _apply,
)
from rdarts.errors import SpaceError


class RecurrentSupernet(RecurrentLM):
    """The one-shot language model; forward `(tokens, hidden, edge_weights, masks=,
    genotype=)` with edge_weights = {"recurrent": softmax(alpha)} of shape (E, |O|)."""

    def __init__(self, space: CellSpace, vocabulary: int, size: int, dropouts: Dropouts,
                 ar: float = 0.0, tar: float = 0.0) -> None:
        super().__init__(vocabulary, size, dropouts, ar, tar)
        self.cell = space.cell("recurrent")
        if len(set(self.cell.edges)) != 1:  # one W_i serves all edges of node i, op by op
            raise SpaceError(f"space {space.name!r}: the recurrent search cell needs the same "
                             "ops on every edge")
        self.Ws = nn.ParameterList(
            nn.Parameter(torch.empty(size, 2 * size).uniform_(-INIT_RANGE, INIT_RANGE))
            for _ in range(self.cell.nodes))
        self.bn = nn.BatchNorm1d(size, affine=False)

    def mixed_step(self, x: torch.Tensor, h_prev: torch.Tensor, masks: Masks,
                   weights: torch.Tensor) -> torch.Tensor:
        states = [self.bn(self.highway(x, h_prev, masks))]
        for node, W in enumerate(self.Ws):
            first, count = self.cell.first_edge(node), self.cell.inputs + node
            S = torch.stack(states)  # (count, B, H): every predecessor at once
            c, h = (_apply(S, masks.hidden) @ W).chunk(2, dim=-1)
            c = torch.sigmoid(c)
            s = torch.zeros_like(states[0])
            for k, op in enumerate(self.cell.edges[first]):
                if op == "none":
                    continue
                p = weights[first:first + count, k].view(count, 1, 1)
                s = s + (p * (S + c * (ACTIVATIONS[op](h) - S))).sum(dim=0)
            states.append(self.bn(s))
        return torch.stack(states[1:]).mean(dim=0)

    def path_step(self, x: torch.Tensor, h_prev: torch.Tensor, masks: Masks,
                  nodes: list[tuple[str, int]]) -> torch.Tensor:
        states = [self.bn(self.highway(x, h_prev, masks))]
        for (op, source), W in zip(nodes, self.Ws, strict=True):
            s_prev = states[source]
            c, h = (_apply(s_prev, masks.hidden) @ W).chunk(2, dim=-1)
            states.append(self.bn(s_prev + torch.sigmoid(c) * (ACTIVATIONS[op](h) - s_prev)))
        return torch.stack(states[1:]).mean(dim=0)

    def forward(self, tokens: torch.Tensor, hidden: torch.Tensor,
                edge_weights: dict[str, torch.Tensor] | None, *, masks: Masks | None = None,
                genotype: Genotype | None = None) -> LMOutput:
        if genotype is not None:
            nodes = [(op, source) for ((op, source),) in genotype.cell("recurrent")]
            return self.run(tokens, hidden, masks,
                            lambda x, h, m: self.path_step(x, h, m, nodes))
        assert edge_weights is not None
        weights = edge_weights["recurrent"]
        return self.run(tokens, hidden, masks,
                        lambda x, h, m: self.mixed_step(x, h, m, weights))
