"""The S6 supernet: AutoDispNet-C with a mixed edge on every edge of every cell (Zela et al.
Section 5; the search network of AutoDispNet, whose sizes the paper does not publish).

One alpha matrix per cell type, shared by all cells of that type: `reduce` serves the siamese
feature cell and the encoder's reduction cells, `normal` the encoder's normal cells,
`upsample` the decoder. BN is non-affine. The forward is `(left, right, edge_weights,
genotype=, stop_gradient=)`: with a genotype (RS-ws) only its edges and ops run, which equals
one-hot weights; curvature probes pass `stop_gradient=False` (the same values, the true
alpha-Hessian).
"""

from __future__ import annotations

import torch
from torch import nn

from rdarts.core.genotype import Genotype
from rdarts.core.space import CellSpace
from rdarts.domains.disparity.cells import MixedBody
from rdarts.domains.disparity.network import DisparityOutput, DispNetC, Topology
from rdarts.errors import SpaceError

CELL_TYPES = ("normal", "reduce", "upsample")


class DisparitySupernet(DispNetC):
    """The one-shot AutoDispNet-C over `space` (cell types normal, reduce, upsample)."""

    def __init__(self, space: CellSpace, topology: Topology) -> None:
        if tuple(sorted(space.cell_types)) != tuple(sorted(CELL_TYPES)):
            raise SpaceError(f"space {space.name!r} has cell types "
                             f"{', '.join(space.cell_types)}; a disparity supernet needs "
                             f"{', '.join(CELL_TYPES)}")
        if topology.nodes != space.nodes:
            raise SpaceError(f"the topology has {topology.nodes} nodes per cell, space "
                             f"{space.name!r} {space.nodes}")

        def body(cell_type: str, C: int, strided: int) -> nn.Module:
            return MixedBody(space.cell(cell_type), C, strided)

        super().__init__(topology, body)
        self.space = space

    def forward(self, left: torch.Tensor, right: torch.Tensor,
                edge_weights: dict[str, torch.Tensor] | None,
                genotype: Genotype | None = None,
                stop_gradient: bool = True) -> DisparityOutput:
        return self.run(left, right, edge_weights, genotype, stop_gradient)
