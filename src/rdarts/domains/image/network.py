"""The discrete network of a genotype, trained from scratch for the final evaluation.

Spec section 10 / DARTS: the cells keep only the genotype's ops (affine BN, no BN after
pooling), drop path hits every non-identity op output during training, an auxiliary head after
cell 2*layers//3 adds 0.4 x its loss, and channels double at the two reduction cells. S4's
`noise` op stays random at test time, as in the paper.
"""

from __future__ import annotations

import torch
from torch import nn

from rdarts.core.genotype import Genotype
from rdarts.core.mixed import drop_path
from rdarts.domains.image.ops import FactorizedReduce, ReLUConvBN, build_op, is_identity


class Cell(nn.Module):
    """A discrete cell: each node sums its two kept (op, source) edges."""

    def __init__(self, genotype: Genotype, reduction: bool, C_prev_prev: int, C_prev: int,
                 C: int, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(C_prev_prev, C, affine=True)
        else:
            self.preprocess0 = ReLUConvBN(C_prev_prev, C, 1, 1, 0, affine=True)
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0, affine=True)
        cell = genotype.reduce if reduction else genotype.normal
        self.sources = [source for node in cell for _, source in node]
        strides = [2 if reduction and source < 2 else 1 for source in self.sources]
        names = [op for node in cell for op, _ in node]
        self.ops = nn.ModuleList(build_op(name, C, stride, affine=True)
                                 for name, stride in zip(names, strides, strict=True))
        self.droppable = [not is_identity(name, stride)
                          for name, stride in zip(names, strides, strict=True)]
        self.nodes = len(cell)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(self.nodes):
            total = 0
            for edge in (2 * node, 2 * node + 1):
                h = self.ops[edge](states[self.sources[edge]])
                if self.training and self.droppable[edge]:
                    h = drop_path(h, drop_prob)
                total = total + h
            states.append(total)
        return torch.cat(states[2:], dim=1)


class AuxiliaryHead(nn.Module):
    """DARTS' auxiliary classifier on the 2*layers//3 cell's output.

    For 32x32 inputs that map is 8x8 and pooled as DARTS does (5x5, stride 3 -> 2x2); smaller
    maps (Fashion-MNIST's 7x7) are pooled adaptively to the same 2x2.
    """

    def __init__(self, C: int, num_classes: int) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.pool = nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False)
        self.adaptive_pool = nn.AdaptiveAvgPool2d(2)
        self.features = nn.Sequential(
            nn.Conv2d(C, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        x = self.pool(x) if min(x.shape[-2:]) >= 8 else self.adaptive_pool(x)
        return self.classifier(self.features(x).flatten(1))


class Network(nn.Module):
    """Stem, `layers` discrete cells, global pooling, linear (+ auxiliary head)."""

    def __init__(self, genotype: Genotype, C: int = 36, num_classes: int = 10, layers: int = 20,
                 auxiliary: bool = True, in_channels: int = 3, stem_multiplier: int = 3) -> None:
        super().__init__()
        if layers < 3:
            raise ValueError(f"the network needs at least 3 cells, got {layers}")
        C_curr = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(C_curr))
        C_prev_prev, C_prev, C_curr = C_curr, C_curr, C
        self.cells = nn.ModuleList()
        self.auxiliary_after = 2 * layers // 3
        reduction_prev = False
        auxiliary_channels = 0
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                C_curr *= 2
            self.cells.append(Cell(genotype, reduction, C_prev_prev, C_prev, C_curr,
                                   reduction_prev))
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, genotype.nodes * C_curr
            if i == self.auxiliary_after:
                auxiliary_channels = C_prev
        self.auxiliary_head = AuxiliaryHead(auxiliary_channels, num_classes) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def forward(self, x: torch.Tensor, drop_path_prob: float = 0.0
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits, and the auxiliary logits in training mode when the head exists."""
        logits_aux = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, drop_path_prob)
            if i == self.auxiliary_after and self.auxiliary_head is not None and self.training:
                logits_aux = self.auxiliary_head(s1)
        return self.classifier(self.global_pooling(s1).flatten(1)), logits_aux


def count_parameters(model: nn.Module, include_auxiliary: bool = False) -> int:
    """Parameters of the network; the auxiliary head is excluded, as papers report it."""
    return sum(p.numel() for name, p in model.named_parameters()
               if include_auxiliary or not name.startswith("auxiliary_head."))
