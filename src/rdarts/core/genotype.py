"""Genotypes: the discrete cells a search returns, as plain data (never Python source).

A genotype lists, per cell type and intermediate node, the kept incoming edges as (op name,
source state) pairs, and the states the cell output is made of (`<cell>_concat`: every
intermediate node). `derive` is the DARTS discretisation (spec section 3: per node the
`keep` strongest incoming edges, on each its strongest op, `none` excluded); `one_hot` turns a
genotype back into edge weights for the discretised one-shot model of the paper's Section 6;
`sample_genotype` draws a uniform architecture for RS-ws (spec section 9).

The JSON layout is DARTS': `{"normal": [[op, source], ...], "normal_concat": [2, 3, ...], ...}`
for any cell type names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from rdarts.core.space import CellLayout, CellSpace
from rdarts.errors import GenotypeError
from rdarts.userfiles import read_user_file

NodeEdges = tuple[tuple[str, int], ...]
CellGenotype = tuple[NodeEdges, ...]

DEFAULT_INPUTS = 2  # DARTS cells: c_{k-2}, c_{k-1}


class Genotype:
    """Kept (op, source) pairs per node of every cell type, and each cell's output states.

    `Genotype(normal=..., reduce=...)` builds an image genotype; `genotype.normal` reads a cell
    type by name, `genotype.cell(name)` likewise.
    """

    __slots__ = ("cells", "concat")

    def __init__(self, cells: Mapping[str, CellGenotype] | None = None,
                 concat: Mapping[str, Sequence[int]] | None = None,
                 **named: CellGenotype) -> None:
        chosen = {**(cells or {}), **named}
        if not chosen:
            raise GenotypeError("a genotype needs at least one cell type")
        normalised = {name: tuple(tuple((str(op), int(src)) for op, src in node)
                                  for node in nodes) for name, nodes in chosen.items()}
        object.__setattr__(self, "cells", normalised)
        given = dict(concat or {})
        object.__setattr__(self, "concat", {
            name: tuple(given.get(name, range(DEFAULT_INPUTS, DEFAULT_INPUTS + len(nodes))))
            for name, nodes in normalised.items()})

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Genotype is immutable")

    def __getattr__(self, name: str) -> CellGenotype:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return object.__getattribute__(self, "cells")[name]
        except KeyError:
            raise AttributeError(f"the genotype has no cell type {name!r}") from None

    def _key(self) -> tuple:
        return tuple(self.cells.items()), tuple(self.concat.items())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Genotype) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Genotype({self.to_dict()})"

    @property
    def cell_types(self) -> tuple[str, ...]:
        return tuple(self.cells)

    @property
    def nodes(self) -> int:
        return len(next(iter(self.cells.values())))

    def cell(self, cell_type: str) -> CellGenotype:
        try:
            return self.cells[cell_type]
        except KeyError:
            raise GenotypeError(f"the genotype has no {cell_type!r} cell; it has "
                                f"{', '.join(self.cells)}") from None

    def inputs(self, cell_type: str) -> int:
        """Input states of a cell type: the first concatenated state follows the inputs."""
        concat = self.concat[cell_type]
        return concat[0] if concat else DEFAULT_INPUTS

    def to_dict(self) -> dict[str, Any]:
        """The DARTS layout users know: lists of [op, source] plus the concat indices."""
        out: dict[str, Any] = {}
        for name, nodes in self.cells.items():
            out[name] = [[op, source] for node in nodes for op, source in node]
            out[f"{name}_concat"] = list(self.concat[name])
        return out

    def __str__(self) -> str:
        def cell(nodes: CellGenotype) -> str:
            return " | ".join(", ".join(f"{op}<-{src}" for op, src in node) for node in nodes)

        return "\n".join(f"{name}: {cell(nodes)}" for name, nodes in self.cells.items())


def genotype_from_dict(data: object, where: str = "genotype",
                       layouts: Sequence[CellLayout] | None = None) -> Genotype:
    """Parse the `to_dict` layout, checking structure (not op names: see `check_fits`).

    The pairs of a cell are grouped into nodes by the domain's `layouts` (inputs and kept
    edges per node); without them, by the cell's `_concat` (inputs = its first state, the same
    number of edges per node), or as a DARTS cell (2 inputs, 2 edges per node).
    """
    names = _cell_names(data, layouts)
    if not names:
        raise GenotypeError(f"{where}: expected a mapping with 'normal' and 'reduce' lists")
    by_layout = {layout.name: layout for layout in layouts or ()}
    cells, concats = {}, {}
    for name in names:
        pairs = _pairs(data[name], name, where)
        concat = data.get(f"{name}_concat")
        inputs, keeps = _grouping(name, pairs, concat, by_layout.get(name), where)
        nodes, start = [], 0
        for keep in keeps:
            nodes.append(tuple(pairs[start:start + keep]))
            start += keep
        cells[name] = tuple(nodes)
        concats[name] = tuple(range(inputs, inputs + len(nodes)))
    if len({len(nodes) for nodes in cells.values()}) > 1 and layouts is None:
        raise GenotypeError(f"{where}: normal and reduce cells have different node counts")
    genotype = Genotype(cells, concats)
    _check_sources(genotype, where)
    return genotype


def _cell_names(data: object, layouts: Sequence[CellLayout] | None) -> list[str]:
    if not isinstance(data, dict):
        return []
    if layouts is not None:
        return [layout.name for layout in layouts] if all(
            layout.name in data for layout in layouts) else []
    names = [k for k in data if not str(k).endswith("_concat")]
    if ("normal" in data and "reduce" not in data) or ("reduce" in data and "normal" not in data):
        return []
    return names


def _pairs(raw: object, name: str, where: str) -> list[tuple[str, int]]:
    if not isinstance(raw, list) or not raw:
        raise GenotypeError(f"{where}: '{name}' must be a non-empty list of [op, source] pairs")
    parsed = []
    for pair in raw:
        valid = isinstance(pair, list | tuple) and len(pair) == 2
        if not (valid and isinstance(pair[0], str) and isinstance(pair[1], int)
                and not isinstance(pair[1], bool)):
            raise GenotypeError(f"{where}: '{name}' entry {pair!r} is not [op, source]")
        parsed.append((pair[0], pair[1]))
    return parsed


def _grouping(name: str, pairs: list, concat: object, layout: CellLayout | None,
              where: str) -> tuple[int, tuple[int, ...]]:
    """(inputs, kept edges per node) of one cell of a genotype file."""
    if layout is not None:
        nodes = _nodes_for(layout, len(pairs))
        if nodes is None:
            raise GenotypeError(f"{where}: '{name}' has {len(pairs)} [op, source] pairs, which "
                                f"do not fit the {name} cell ({layout.keep} per node)")
        return layout.inputs, layout.keeps(nodes)
    if isinstance(concat, list) and concat and all(isinstance(c, int) for c in concat):
        inputs, nodes = concat[0], len(concat)
    else:
        inputs, nodes = DEFAULT_INPUTS, None
    per_node = len(pairs) // nodes if nodes else DEFAULT_INPUTS
    if nodes is None:
        nodes = len(pairs) // DEFAULT_INPUTS
    if per_node < 1 or per_node * nodes != len(pairs):
        raise GenotypeError(f"{where}: '{name}' must be a non-empty list of [op, source] pairs, "
                            f"{per_node if per_node >= 1 else DEFAULT_INPUTS} per node")
    return inputs, tuple(per_node for _ in range(nodes))


def _nodes_for(layout: CellLayout, pairs: int) -> int | None:
    for nodes in range(1, pairs + 1):
        total = sum(layout.keeps(nodes))
        if total == pairs:
            return nodes
        if total > pairs:
            return None
    return None


def _check_sources(genotype: Genotype, where: str) -> None:
    for cell_type, nodes in genotype.cells.items():
        inputs = genotype.inputs(cell_type)
        for node, edges in enumerate(nodes):
            sources = [source for _, source in edges]
            if len(set(sources)) != len(sources) or not all(
                    0 <= s < node + inputs for s in sources):
                raise GenotypeError(
                    f"{where}: node {node} of the {cell_type} cell needs "
                    f"{len(sources)} distinct sources in 0..{node + inputs - 1}, got {sources}"
                )


def check_fits(genotype: Genotype, space: CellSpace) -> None:
    """Raise GenotypeError unless the genotype has the space's cell types, nodes and kept
    edges, and every kept op is offered on its edge by `space` (and is not none)."""
    if set(genotype.cell_types) != set(space.cell_types):
        raise GenotypeError(f"genotype has cell types {', '.join(genotype.cell_types)}; space "
                            f"{space.name!r} has {', '.join(space.cell_types)}")
    for cell in space.cells:
        nodes = genotype.cell(cell.name)
        if len(nodes) != cell.nodes:
            raise GenotypeError(f"genotype has {len(nodes)} nodes, space {space.name!r} has "
                                f"{cell.nodes}")
        index = {endpoint: i for i, endpoint in enumerate(cell.endpoints)}
        for node, edges in enumerate(nodes):
            if len(edges) != cell.keep[node]:
                raise GenotypeError(f"node {node} of the {cell.name} cell keeps {len(edges)} "
                                    f"edges; space {space.name!r} keeps {cell.keep[node]}")
            for op, source in edges:
                offered = cell.edges[index[(node, source)]] if (node, source) in index else ()
                if op == "none" or op not in offered:
                    raise GenotypeError(
                        f"op {op!r} on node {node} <- {source} of the {cell.name} cell is not "
                        f"offered by space {space.name!r} (offered: {', '.join(offered)})"
                    )


def save_genotype(genotype: Genotype, path: str | Path) -> None:
    from rdarts.runs.atomic import atomic_write_text

    atomic_write_text(Path(path), json.dumps(genotype.to_dict(), indent=2) + "\n")


def load_genotype(path: str | Path, known: Mapping[str, dict] | None = None,
                  layouts: Sequence[CellLayout] | None = None) -> Genotype:
    """A genotype from a JSON file, a search run directory, or a published name in `known`."""
    known = known or {}
    if str(path) in known and not Path(path).exists():
        return genotype_from_dict(known[str(path)], where=str(path), layouts=layouts)
    path = Path(path)
    if path.is_dir():
        path = path / "genotype.json"
    data = read_user_file(path, "genotype file", "JSON", GenotypeError)
    return genotype_from_dict(data, where=str(path), layouts=layouts)


def derive(weights: Mapping[str, torch.Tensor], space: CellSpace) -> Genotype:
    """Discretise edge weights (softmax(alpha), one (E, |O|) matrix per cell type).

    Spec section 3 / DARTS: per node keep the `keep` incoming edges whose strongest op is
    strongest, and on each the strongest op, ignoring `none` in both rankings. `none` is looked
    up in each edge's own op list, which the reference code gets wrong for heterogeneous
    spaces. Ties go to the earlier edge / op; kept edges are listed in source order.
    """
    cells = {}
    for cell in space.cells:
        rows = weights[cell.name].detach().to("cpu", torch.float64).tolist()
        best: list[tuple[float, str]] = []
        for ops, row in zip(cell.edges, rows, strict=True):
            candidates = [(w, -k, op) for k, (op, w) in enumerate(zip(ops, row, strict=True))
                          if op != "none"]
            weight, _, op = max(candidates)
            best.append((weight, op))
        nodes = []
        for node in range(cell.nodes):
            first = cell.first_edge(node)
            incoming = range(cell.inputs + node)
            strongest = sorted(incoming, key=lambda source: (-best[first + source][0], source))
            kept = sorted(strongest[: cell.keep[node]])
            nodes.append(tuple((best[first + source][1], source) for source in kept))
        cells[cell.name] = tuple(nodes)
    return Genotype(cells, {cell.name: cell.concat for cell in space.cells})


def sample_genotype(space: CellSpace, generator: torch.Generator) -> Genotype:
    """A uniformly random architecture of `space` (RS-ws, spec section 9): per node `keep`
    distinct sources, on each a uniformly chosen op other than `none`."""
    cells = {}
    for cell in space.cells:
        nodes = []
        for node in range(cell.nodes):
            first = cell.first_edge(node)
            order = torch.randperm(cell.inputs + node, generator=generator)
            sources = sorted(order[: cell.keep[node]].tolist())
            edges = []
            for source in sources:
                ops = [op for op in cell.edges[first + source] if op != "none"]
                pick = int(torch.randint(len(ops), (1,), generator=generator))
                edges.append((ops[pick], source))
            nodes.append(tuple(edges))
        cells[cell.name] = tuple(nodes)
    return Genotype(cells, {cell.name: cell.concat for cell in space.cells})


def one_hot(genotype: Genotype, space: CellSpace) -> dict[str, torch.Tensor]:
    """Edge weights that select exactly the genotype: 1 for each kept op, 0 elsewhere.

    Feeding these to the search network instead of softmax(alpha) gives the discretised
    one-shot model of the paper's Section 6 (search weights kept).
    """
    check_fits(genotype, space)
    weights = {}
    for cell in space.cells:
        index = {endpoint: i for i, endpoint in enumerate(cell.endpoints)}
        matrix = torch.zeros(cell.alpha_shape)
        for node, edges in enumerate(genotype.cell(cell.name)):
            for op, source in edges:
                edge = index[(node, source)]
                matrix[edge, cell.edges[edge].index(op)] = 1.0
        weights[cell.name] = matrix
    return weights
