"""The architecture parameters alpha: one (E, |O|) matrix per cell type (paper Section 2).

Kept out of every supernet so that the two optimisers of the bilevel problem (paper Eq. 1-2)
never see each other's parameters, and so that hypergradients and curvature can evaluate
L(w, alpha) at any alpha. Initialised as 1e-3 * N(0, 1) (spec section 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from rdarts.core.space import CellSpace

EdgeWeights = dict[str, torch.Tensor]


class Architecture(nn.Module):
    """alpha per cell type of `space`, shared by all cells of that type."""

    def __init__(self, space: CellSpace, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.cell_types = space.cell_types
        self.alpha = nn.ParameterDict({
            name: nn.Parameter(1e-3 * torch.randn(space.alpha_shape(name), generator=generator))
            for name in self.cell_types
        })

    def parameters_list(self) -> list[nn.Parameter]:
        """alpha in the space's cell-type order (the order of every flattened alpha vector)."""
        return [self.alpha[name] for name in self.cell_types]

    def forward(self) -> EdgeWeights:
        """softmax(alpha) per edge: the continuous relaxation of the paper's Eq. (1)."""
        return edge_weights(self.parameters_list(), self.cell_types)


def edge_weights(alpha: Sequence[torch.Tensor], cell_types: Sequence[str]) -> EdgeWeights:
    """softmax over each edge's ops, for alpha given in `cell_types` order."""
    return {name: a.softmax(dim=-1) for name, a in zip(cell_types, alpha, strict=True)}


def alpha_entry_names(space: CellSpace) -> list[str]:
    """'cell/edge<i>(node<-source)/op' for every alpha entry, in flattened cell-type order."""
    names = []
    for cell in space.cells:
        for edge, ((node, source), ops) in enumerate(zip(cell.endpoints, cell.edges,
                                                         strict=True)):
            names.extend(f"{cell.name}/edge{edge}(n{node}<-{source})/{op}" for op in ops)
    return names
