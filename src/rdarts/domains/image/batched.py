"""Mixed edges computed together (`mixed_sum: batched`): the edges that leave the same states
run each op once, as one stacked call, instead of once per edge.

Why: at small CPU scales a search iteration is dispatch-bound (a profile of a second-order
iteration at 5 cells, C = 8: about 100k tensor operations, 41% of the time outside the
convolutions; docs/benchmarks.md has the measurements, and where batching pays). DARTS
Eq. (1) sums sum_o w[e, o] * op_o(x) edge by edge; every state feeds several edges, and for
the same op those edges differ only in their weights. Stacking those weights turns one call
per edge into one call per (state, op):

- a parametric op (sep/dil conv, skip_connect at stride 2 = factorized reduce) over the T
  edges that offer it: depthwise convs grouped over T*C channels, the 1x1 convs as one
  batched matmul with T (C, C) matrices, BN over T*C channels (BN statistics are per channel,
  so that is T separate BNs); the ReLU that starts each op is computed once per state;
- a parameter-free op (identity, pooling with its non-affine BN) once per state: all edges
  leaving the state compute the same tensor (their pooling BNs always see the same input in
  the mixed forward, so their statistics stay identical and one BN stands for all of them);
- noise (S4) per edge at node time, in the loop's order, so the random stream (an edge's
  noise, then its drop path, edge by edge) is the loop's.

Phase 0 holds the edges leaving the two cell inputs (known when the cell starts); phase j + 1
those leaving node j. The cell is built from a loop `SearchCell` and copies its weights, so the
same seed gives the same initial supernet and the search equals the loop within fp32 rounding
(tests/test_batched_cell.py). RS-ws's single-path forward has nothing to batch and is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rdarts.core.mixed import drop_path
from rdarts.core.space import first_edge
from rdarts.domains.image.ops import (
    DilConv,
    FactorizedReduce,
    Identity,
    Noise,
    SepConv,
    shifted_grid,
)
from rdarts.errors import ConfigError


def _stacked_bn(norms: Sequence[nn.BatchNorm2d]) -> nn.BatchNorm2d:
    """One BN over the concatenated channels of `norms`, with their statistics (and affine
    parameters, if any): per-channel statistics make it the same as the separate BNs."""
    first = norms[0]
    bn = nn.BatchNorm2d(sum(n.num_features for n in norms), eps=first.eps,
                        momentum=first.momentum, affine=first.affine)
    with torch.no_grad():
        bn.running_mean.copy_(torch.cat([n.running_mean for n in norms]))
        bn.running_var.copy_(torch.cat([n.running_var for n in norms]))
        bn.num_batches_tracked.copy_(first.num_batches_tracked)
        if first.affine:
            bn.weight.copy_(torch.cat([n.weight for n in norms]))
            bn.bias.copy_(torch.cat([n.bias for n in norms]))
    return bn


def _pointwise(weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """T 1x1 convs at once: (T, C_out, C) matrices on x of shape (N, T*C, H, W)."""
    n, _, height, width = x.shape
    edges, _, channels = weight.shape
    out = torch.matmul(weight, x.reshape(n, edges, channels, height * width))
    return out.reshape(n, -1, height, width)


def _expanded(inputs: Sequence[torch.Tensor], counts: Sequence[int]) -> torch.Tensor:
    """(N, T*C, H, W): each source's (N, C, H, W) state repeated for its `count` edges."""
    blocks = [x.unsqueeze(1).expand(-1, count, -1, -1, -1)
              for x, count in zip(inputs, counts, strict=True)]
    stacked = blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=1)
    return stacked.flatten(1, 2)


def _fanned_out(weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(N, k, C', H, W): k 1x1 convs (weight (k, C', C)) of one (N, C, H, W) input, as one
    matmul with the k matrices stacked, so the input is never repeated k times."""
    n, channels, height, width = x.shape
    edges, out_channels, _ = weight.shape
    out = torch.matmul(weight.reshape(edges * out_channels, channels),
                       x.reshape(n, channels, height * width))
    return out.reshape(n, edges, out_channels, height, width)


class _OnRepeatedInputs(nn.Module):
    """A stacked op whose T edges each need their own copy of the input (a depthwise conv
    grouped over T*C channels): `forward` takes the repeated (N, T*C, H, W) tensor."""

    def forward_sources(self, inputs: Sequence[torch.Tensor],
                        counts: Sequence[int]) -> torch.Tensor:
        """The op on each source's `count` edges: (N, T*C, H', W')."""
        return self(_expanded(inputs, counts))


class StackedDilConv(_OnRepeatedInputs):
    """T `DilConv`s without their leading ReLU (the caller applies it once per state)."""

    def __init__(self, convs: Sequence[DilConv]) -> None:
        super().__init__()
        depthwise = [c[1] for c in convs]
        first = depthwise[0]
        self.stride, self.padding, self.dilation = first.stride, first.padding, first.dilation
        self.depthwise = nn.Parameter(torch.cat([m.weight.detach() for m in depthwise]))
        self.pointwise = nn.Parameter(torch.stack([c[2].weight.detach()[:, :, 0, 0]
                                                   for c in convs]))
        self.bn = _stacked_bn([c[3] for c in convs])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(x, self.depthwise, stride=self.stride, padding=self.padding,
                     dilation=self.dilation, groups=self.depthwise.shape[0])
        return self.bn(_pointwise(self.pointwise, y))


class StackedSepConv(_OnRepeatedInputs):
    """T `SepConv`s without their leading ReLU: stacked DilConv, ReLU, stacked DilConv."""

    def __init__(self, convs: Sequence[SepConv]) -> None:
        super().__init__()
        self.first = StackedDilConv([c[0] for c in convs])
        self.relu = nn.ReLU()  # modules, not .relu(): tests swap them for a smooth function
        self.second = StackedDilConv([c[1] for c in convs])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.relu(self.first(x)))


class StackedFactorizedReduce(nn.Module):
    """T `FactorizedReduce`s (skip_connect at stride 2) without their leading ReLU: the even
    and the one-pixel-shifted sub-sampling, taken once per source state, and each source's
    edges' 1x1 convs as one matmul (`_fanned_out`): the full-resolution state is never
    repeated per edge."""

    def __init__(self, reduces: Sequence[FactorizedReduce]) -> None:
        super().__init__()
        self.even = nn.Parameter(torch.stack([r.conv_even.weight.detach()[:, :, 0, 0]
                                              for r in reduces]))
        self.odd = nn.Parameter(torch.stack([r.conv_odd.weight.detach()[:, :, 0, 0]
                                             for r in reduces]))
        self.bn = _stacked_bn([r.bn for r in reduces])

    def forward_sources(self, inputs: Sequence[torch.Tensor],
                        counts: Sequence[int]) -> torch.Tensor:
        """(N, T*C, H', W'): per edge its even half, then its odd half (the loop's cat)."""
        parts = []
        for x, even, odd in zip(inputs, self.even.split(list(counts)),
                                self.odd.split(list(counts)), strict=True):
            parts.append(torch.cat([_fanned_out(even, x[:, :, ::2, ::2]),
                                    _fanned_out(odd, shifted_grid(x))], dim=2))
        out = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        return self.bn(out.flatten(1, 2))


STACKED = {SepConv: StackedSepConv, DilConv: StackedDilConv,
           FactorizedReduce: StackedFactorizedReduce}


@dataclass(frozen=True)
class _Use:
    """One op on one edge of a phase: which edge (position in the phase), which column of
    the edge's weight row, and where its output lies (the stacked op's row, or its source)."""

    position: int
    column: int
    row: int


@dataclass(frozen=True)
class _Phase:
    """The edges leaving `sources`, source by source (nodes in order within a source)."""

    sources: tuple[int, ...]
    edges: tuple[int, ...]
    edge_sources: tuple[int, ...]
    counts: tuple[int, ...]  # edges per source
    uniform: bool  # every edge offers the same ops in the same columns


@dataclass(frozen=True)
class _OpPlan:
    """What the forward pass needs of one op in a phase, decided once at build time: its
    column (uniform phases), and how many of each source's edges offer it."""

    column: int
    counts: tuple[int, ...]  # per source of the phase

    def sources(self, phase: _Phase) -> tuple[int, ...]:
        return tuple(s for s, k in zip(phase.sources, self.counts, strict=True) if k)


def _op_plans(phase: _Phase, uses: dict[str, list[_Use]]) -> dict[str, _OpPlan]:
    """Each op's plan, in the order of its column (the loop's order of adding them)."""
    plans = {}
    for name in sorted(uses, key=lambda n: uses[n][0].column):
        sources = [phase.edge_sources[use.position] for use in uses[name]]
        plans[name] = _OpPlan(uses[name][0].column,
                              tuple(sources.count(s) for s in phase.sources))
    return plans


class BatchedSearchCell(nn.Module):
    """The DARTS search cell of `loop_cell`, its mixed edges computed phase by phase.

    Takes over the loop cell's preprocessing and copies its edges' weights into stacked ops
    (see the module docstring), so both compute the same function.
    """

    def __init__(self, loop_cell: nn.Module) -> None:
        super().__init__()
        self.reduction, self.nodes = loop_cell.reduction, loop_cell.nodes
        self.preprocess0, self.preprocess1 = loop_cell.preprocess0, loop_cell.preprocess1
        self.op_names = loop_cell.op_names
        self.relu = nn.ReLU()  # the stacked ops' leading ReLU, once per state
        self.first_edge = [first_edge(node) for node in range(self.nodes)]
        self.phases = [self._phase(sources) for sources in
                       [(0, 1), *((node + 2,) for node in range(self.nodes - 1))]]
        self.stacked = nn.ModuleDict()
        self.shared = nn.ModuleDict()
        self.noise: dict[int, tuple[int, nn.Module]] = {}
        self.uses: list[dict[str, list[_Use]]] = []
        self.plans: list[dict[str, _OpPlan]] = []  # per phase, ops in column order
        for index, phase in enumerate(self.phases):
            uses = self._build_phase(index, phase, loop_cell.edges)
            self.uses.append(uses)
            self.plans.append(_op_plans(phase, uses))
            # the edges' weight rows, gathered without a host-to-device copy per call
            self.register_buffer(f"edge_index{index}", torch.tensor(phase.edges),
                                 persistent=False)

    def _phase(self, sources: tuple[int, ...]) -> _Phase:
        edges = [(self.first_edge[node] + source, source) for source in sources
                 for node in range(max(0, source - 1), self.nodes)]
        ops = {self.op_names[edge] for edge, _ in edges}
        edge_sources = tuple(s for _, s in edges)
        return _Phase(sources, tuple(e for e, _ in edges), edge_sources,
                      tuple(edge_sources.count(s) for s in sources), uniform=len(ops) == 1)

    def _build_phase(self, index: int, phase: _Phase,
                     loop_edges: nn.ModuleList) -> dict[str, list[_Use]]:
        """Stack or share the loop edges' op modules of one phase; return each op's uses."""
        uses: dict[str, list[_Use]] = {}
        modules: dict[str, list[nn.Module]] = {}
        for position, (edge, source) in enumerate(zip(phase.edges, phase.edge_sources,
                                                      strict=True)):
            mixed = loop_edges[edge]
            for slot, column in enumerate(mixed.computed):
                name, module = self.op_names[edge][column], mixed.ops[slot]
                if isinstance(module, Noise):
                    self.noise.setdefault(edge, (column, module))
                    continue
                if type(module) in STACKED:
                    found = modules.setdefault(name, [])
                    row = len(found)
                    found.append(module)
                else:
                    row = source
                    key = f"p{index}_s{source}_{name}"
                    if not isinstance(module, Identity) and key not in self.shared:
                        self.shared[key] = module
                uses.setdefault(name, []).append(_Use(position, column, row))
        for name, found in modules.items():
            self.stacked[f"p{index}_{name}"] = STACKED[type(found[0])](found)
        return uses

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor,
                drop_prob: float = 0.0, chosen: object | None = None) -> torch.Tensor:
        if chosen is not None:
            raise ConfigError("mixed_sum batched computes mixed edges; a single path (RS-ws) "
                              "has nothing to batch: use mixed_sum loop or fused")
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        outputs: dict[int, torch.Tensor] = {}
        outputs.update(self._run_phase(0, states, weights))
        for node in range(self.nodes):
            total = None
            for source in range(node + 2):
                out = self._edge_output(self.first_edge[node] + source, outputs, weights,
                                        states[source])
                if self.training:
                    out = drop_path(out, drop_prob)
                total = out if total is None else total + out
            states.append(total)
            if node + 1 < self.nodes:
                outputs.update(self._run_phase(node + 1, states, weights))
        return torch.cat(states[2:], dim=1)

    def _edge_output(self, edge: int, outputs: dict[int, torch.Tensor], weights: torch.Tensor,
                     source: torch.Tensor) -> torch.Tensor:
        """The edge's mixed output with its noise term (drawn now, in the loop's order)."""
        out = outputs.pop(edge, None)
        if edge in self.noise:
            column, noise = self.noise[edge]
            term = weights[edge, column] * noise(source)
            out = term if out is None else out + term
        if out is None:
            raise ValueError(f"edge {edge} computes no op (every op is 'none')")
        return out

    def _run_phase(self, index: int, states: list[torch.Tensor],
                   weights: torch.Tensor) -> dict[int, torch.Tensor]:
        """Every op of the phase once; the weighted sum per edge (stacked when uniform)."""
        phase, plans = self.phases[index], self.plans[index]
        if not plans:  # only noise (S4) or none leaves these states: drawn at node time
            return {}
        relus: dict[int, torch.Tensor] = {}
        results: dict[str, torch.Tensor | dict[int, torch.Tensor]] = {}
        for name, plan in plans.items():
            key = f"p{index}_{name}"
            if key in self.stacked:
                results[name] = self._stacked_op(key, plan, phase, states, relus)
            else:
                results[name] = {s: self._shared_op(f"p{index}_s{s}_{name}", states[s])
                                 for s in plan.sources(phase)}
        if phase.uniform:
            rows = weights.index_select(0, getattr(self, f"edge_index{index}"))
            return self._uniform_sum(phase, plans, results, rows)
        return self._edge_sums(phase, self.uses[index], results, weights)

    def _stacked_op(self, key: str, plan: _OpPlan, phase: _Phase,
                    states: list[torch.Tensor], relus: dict[int, torch.Tensor]) -> torch.Tensor:
        """(N, T, C, H', W'): the op on the T edges that offer it, inputs ReLU'd once."""
        inputs, counts = [], []
        for source, count in zip(phase.sources, plan.counts, strict=True):
            if count:
                if source not in relus:
                    relus[source] = self.relu(states[source])
                inputs.append(relus[source])
                counts.append(count)
        out = self.stacked[key].forward_sources(inputs, counts)
        return out.unflatten(1, (sum(counts), -1))

    def _shared_op(self, key: str, state: torch.Tensor) -> torch.Tensor:
        return self.shared[key](state) if key in self.shared else state

    def _uniform_sum(self, phase: _Phase, plans: dict[str, _OpPlan],
                     results: dict, rows: torch.Tensor) -> dict[int, torch.Tensor]:
        """All edges offer the same ops: per source state, one multiply-add per op over its
        edges' (N, k, ...) stack, in the edge's op order (as the loop adds them). A
        parameter-free op's output is broadcast over the k edges, not copied k times, so
        the backward pass keeps one tensor of it, as the loop does."""
        counts = list(phase.counts)
        totals: list[torch.Tensor | None] = [None] * len(counts)
        for name, plan in plans.items():  # in column order
            w_blocks = rows[:, plan.column].reshape(1, -1, 1, 1, 1).split(counts, dim=1)
            result = results[name]
            blocks = ([result[s].unsqueeze(1) for s in phase.sources]
                      if isinstance(result, dict) else result.split(counts, dim=1))
            for i, (w, y) in enumerate(zip(w_blocks, blocks, strict=True)):
                total = totals[i]
                totals[i] = w * y if total is None else torch.addcmul(total, w, y)
        outputs = [edge for total in totals if total is not None for edge in total.unbind(1)]
        return dict(zip(phase.edges, outputs, strict=True))

    def _edge_sums(self, phase: _Phase, uses: dict[str, list[_Use]], results: dict,
                   weights: torch.Tensor) -> dict[int, torch.Tensor]:
        """Edges with different ops (S1, per-edge spaces): each edge's sum from the stacked
        outputs' rows, in its op order."""
        terms: dict[int, list[tuple[int, torch.Tensor]]] = {}
        for name, name_uses in uses.items():
            result = results[name]
            rows = result if isinstance(result, dict) else dict(enumerate(result.unbind(1)))
            for use in name_uses:
                edge = phase.edges[use.position]
                terms.setdefault(edge, []).append((use.column, rows[use.row]))
        sums = {}
        for edge, edge_terms in terms.items():
            edge_terms.sort(key=lambda term: term[0])
            total = None
            for column, y in edge_terms:
                w = weights[edge, column]
                total = w * y if total is None else torch.addcmul(total, w, y)
            sums[edge] = total
        return sums
