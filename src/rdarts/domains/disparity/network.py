"""AutoDispNet-C: the encoder-decoder both the supernet and the evaluation network share.

Level l is resolution 1/2^l of the input. With C the base width, cells at level l have
C * 2^(l-2) channels per node (AutoDispNet: C = 42 gives 84 at 1/8 ... 672 at 1/64):

    stem1  conv 7x7 s2 + leaky ReLU (both views, shared)            level 1, m C channels
    stem2  conv 5x5 s2 + leaky ReLU (shared)                        level 2, 2 m C
    feature reduction cell on (stem2, stem2), shared by the views   level 3
    corr1d(left features, right features), D, ReLU                  level 3, 2D + 1
    enc0   normal cell on (concat(left, right features), corr)      level 3
    enc1.. reduction when the index is odd, else normal             down to level 3 + E/2
    pred   3x3 conv -> 1, ReLU, at the deepest level
    dec    upsampling cells, one per level up to level 2, each with
           (the two previous cells, the previous prediction bilinearly resized without value
           scaling and detached, the skip feature) and a prediction after it

The skip of level l is the left view's stem2 (l = 2), its feature cell (l = 3), else the
reduction cell that entered level l. Predictions are disparities in input pixels at every
scale; the finest (level 2) is resized to the input size. The stop-gradient on the previous
prediction (netdef's) changes gradients, never values: `stop_gradient=False` computes the
same function with its true gradient, which the alpha-Hessian needs (with the stop-gradient,
double backward would miss how the detached values depend on alpha, and the operator would
not even be symmetric). One genotype per cell type serves
every cell of that type, the siamese feature cell included (it is a `reduce` cell).
Inputs whose sizes are not multiples of 2^(deepest level) are resized up to the next ones and
the prediction resized back, its values scaled by the width ratio (AutoDispNet's evaluation).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rdarts.core.genotype import CellGenotype, Genotype
from rdarts.domains.disparity.cells import (
    BodyFactory,
    DiscreteBody,
    EncoderCell,
    UpsampleCell,
)
from rdarts.domains.disparity.correlation import corr1d, correlation_channels
from rdarts.domains.disparity.ops import ConvReLU, Prediction
from rdarts.errors import ConfigError


@dataclass(frozen=True)
class Topology:
    """The sizes of an AutoDispNet-C: base width C, stem multiplier m, encoder cells E (even;
    a normal and a reduction cell per level below 1/8), max displacement D, nodes per cell."""

    C: int = 8
    stem_multiplier: float = 2.0
    encoder_cells: int = 4
    max_displacement: int = 6
    one_sided: bool = False
    nodes: int = 3

    def __post_init__(self) -> None:
        if self.encoder_cells < 2 or self.encoder_cells % 2:
            raise ConfigError(f"encoder_cells must be even and >= 2, got {self.encoder_cells}")
        if self.C < 2 or self.C % 2:
            raise ConfigError(f"channels must be even and >= 2, got {self.C}")

    @property
    def deepest(self) -> int:
        """The level of the last encoder cell and the first prediction."""
        return 3 + self.encoder_cells // 2

    @property
    def levels(self) -> tuple[int, ...]:
        """The prediction levels, coarse to fine (deepest .. 2)."""
        return tuple(range(self.deepest, 1, -1))

    def width(self, level: int) -> int:
        """Channels per node of a cell at `level`."""
        return self.C * 2 ** (level - 2)

    @property
    def stems(self) -> tuple[int, int]:
        stem1 = max(1, round(self.C * self.stem_multiplier))
        return stem1, 2 * stem1


@dataclass(frozen=True, eq=False)
class DisparityOutput:
    """The predictions, coarse to fine as (level, (B, 1, h, w)), and the finest one resized to
    the input (`disparity`, input pixels)."""

    predictions: tuple[tuple[int, torch.Tensor], ...]
    disparity: torch.Tensor


class DispNetC(nn.Module):
    """The AutoDispNet-C skeleton around cells whose bodies `body` builds."""

    def __init__(self, topology: Topology, body: BodyFactory) -> None:
        super().__init__()
        self.topology = t = topology
        nodes = t.nodes
        stem1, stem2 = t.stems
        self.stem1 = ConvReLU(3, stem1, 7, stride=2)
        self.stem2 = ConvReLU(stem1, stem2, 5, stride=2)
        self.feature = EncoderCell(body, True, stem2, stem2, t.width(3), False)
        feature = nodes * t.width(3)
        self.encoder = nn.ModuleList()
        prev_prev, prev = 2 * feature, correlation_channels(t.max_displacement, t.one_sided)
        level, reduction_prev = 3, False
        self.skip_levels: dict[int, int] = {}  # encoder cell -> the level its output skips to
        for i in range(t.encoder_cells):
            reduction = i % 2 == 1
            level += reduction
            if reduction:
                self.skip_levels[i] = level
            self.encoder.append(EncoderCell(body, reduction, prev_prev, prev, t.width(level),
                                            reduction_prev))
            prev_prev, prev, reduction_prev = prev, nodes * t.width(level), reduction
        self.predict = nn.ModuleList([Prediction(prev)])
        self.decoder = nn.ModuleList()
        skips = {2: stem2, 3: feature,
                 **{lv: nodes * t.width(lv) for lv in self.skip_levels.values()}}
        for j, level in enumerate(t.levels[1:]):
            levels = (0, 1) if j == 0 else (2, 1)
            self.decoder.append(UpsampleCell(body, prev_prev, prev, skips[level],
                                             t.width(level), levels))
            prev_prev, prev = prev, nodes * t.width(level)
            self.predict.append(Prediction(prev))

    def run(self, left: torch.Tensor, right: torch.Tensor,
            weights: dict[str, torch.Tensor] | None, genotype: Genotype | None = None,
            stop_gradient: bool = True) -> DisparityOutput:
        height, width = left.shape[-2:]
        multiple = 2 ** self.topology.deepest
        size = (-(-height // multiple) * multiple, -(-width // multiple) * multiple)
        if size != (height, width):
            left, right = (F.interpolate(x, size=size, mode="bilinear", align_corners=False)
                           for x in (left, right))
        output = self._levels(left - 0.5, right - 0.5, weights, genotype, stop_gradient)
        disparity = output[-1][1]
        disparity = F.interpolate(disparity, size=(height, width), mode="bilinear",
                                  align_corners=False) * (width / size[1])
        return DisparityOutput(tuple(output), disparity)

    def _levels(self, left: torch.Tensor, right: torch.Tensor,
                weights: dict[str, torch.Tensor] | None, genotype: Genotype | None,
                stop_gradient: bool) -> list[tuple[int, torch.Tensor]]:
        def args(cell_type: str) -> tuple[torch.Tensor | None, CellGenotype | None]:
            if genotype is not None:
                return None, genotype.cell(cell_type)
            return (None if weights is None else weights[cell_type]), None

        batch = left.shape[0]
        stem = self.stem2(self.stem1(torch.cat([left, right])))  # both views at once
        features = self.feature(stem, stem, *args("reduce"))
        feature_left, feature_right = features[:batch], features[batch:]
        skips = {2: stem[:batch], 3: feature_left}
        s0 = torch.cat([feature_left, feature_right], dim=1)
        s1 = corr1d(feature_left, feature_right, self.topology.max_displacement,
                    self.topology.one_sided)
        for i, cell in enumerate(self.encoder):
            s0, s1 = s1, cell(s0, s1, *args(cell.cell_type))
            if i in self.skip_levels:
                skips[self.skip_levels[i]] = s1
        levels = self.topology.levels
        predictions = [(levels[0], self.predict[0](s1))]
        for cell, head, level in zip(self.decoder, self.predict[1:], levels[1:], strict=True):
            skip = skips[level]
            coarser = predictions[-1][1]
            previous = F.interpolate(coarser.detach() if stop_gradient else coarser,
                                     size=skip.shape[-2:], mode="bilinear", align_corners=False)
            s0, s1 = s1, cell(s0, s1, previous, skip, *args("upsample"))
            predictions.append((level, head(s1)))
        return predictions


class DisparityNetwork(DispNetC):
    """The evaluation network of a genotype (affine BN, only the kept edges)."""

    def __init__(self, genotype: Genotype, topology: Topology) -> None:
        def body(cell_type: str, C: int, strided: int) -> nn.Module:
            chosen = genotype.cell(cell_type)
            return DiscreteBody(chosen, genotype.inputs(cell_type), C, strided)

        super().__init__(topology, body)
        self.genotype = genotype

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> DisparityOutput:
        return self.run(left, right, None)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
