"""Genotypes: the discrete cells a search returns, as plain data (never Python source).

A genotype lists, per cell type and intermediate node, the two kept incoming edges as
(op name, source state) pairs; the cell output concatenates all N nodes (states 2..N+1).
`derive` implements the DARTS discretisation of spec section 3; `one_hot` turns a genotype back
into edge weights for the discretised one-shot model of the paper's Section 6.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from rdarts.core.space import CELL_TYPES, SearchSpace, edge_endpoints
from rdarts.errors import GenotypeError
from rdarts.userfiles import read_user_file

NodeEdges = tuple[tuple[str, int], ...]
CellGenotype = tuple[NodeEdges, ...]

EDGES_PER_NODE = 2


@dataclass(frozen=True)
class Genotype:
    """Kept (op, source) pairs per node for the normal and the reduction cell."""

    normal: CellGenotype
    reduce: CellGenotype

    @property
    def nodes(self) -> int:
        return len(self.normal)

    @property
    def concat(self) -> tuple[int, ...]:
        """States concatenated into the cell output: every intermediate node."""
        return tuple(range(2, self.nodes + 2))

    def cell(self, cell_type: str) -> CellGenotype:
        return self.normal if cell_type == "normal" else self.reduce

    def to_dict(self) -> dict:
        """The DARTS layout users know: lists of [op, source] plus the concat indices."""
        return {
            "normal": [[op, source] for node in self.normal for op, source in node],
            "normal_concat": list(self.concat),
            "reduce": [[op, source] for node in self.reduce for op, source in node],
            "reduce_concat": list(self.concat),
        }

    def __str__(self) -> str:
        def cell(nodes: CellGenotype) -> str:
            return " | ".join(", ".join(f"{op}<-{src}" for op, src in node) for node in nodes)

        return f"normal: {cell(self.normal)}\nreduce: {cell(self.reduce)}"


def genotype_from_dict(data: object, where: str = "genotype") -> Genotype:
    """Parse the `to_dict` layout, checking structure (not op names: see `check_fits`)."""
    if not isinstance(data, dict) or "normal" not in data or "reduce" not in data:
        raise GenotypeError(f"{where}: expected a mapping with 'normal' and 'reduce' lists")
    cells = {}
    for cell_type in CELL_TYPES:
        pairs = data[cell_type]
        if not isinstance(pairs, list) or not pairs or len(pairs) % EDGES_PER_NODE:
            raise GenotypeError(
                f"{where}: '{cell_type}' must be a non-empty list of [op, source] pairs, "
                f"{EDGES_PER_NODE} per node"
            )
        parsed = []
        for pair in pairs:
            valid = isinstance(pair, list | tuple) and len(pair) == 2
            if not (valid and isinstance(pair[0], str) and isinstance(pair[1], int)):
                raise GenotypeError(f"{where}: '{cell_type}' entry {pair!r} is not [op, source]")
            parsed.append((pair[0], pair[1]))
        cells[cell_type] = tuple(
            tuple(parsed[i : i + EDGES_PER_NODE]) for i in range(0, len(parsed), EDGES_PER_NODE)
        )
    if len(cells["normal"]) != len(cells["reduce"]):
        raise GenotypeError(f"{where}: normal and reduce cells have different node counts")
    genotype = Genotype(**cells)
    _check_sources(genotype, where)
    return genotype


def _check_sources(genotype: Genotype, where: str) -> None:
    for cell_type in CELL_TYPES:
        for node, edges in enumerate(genotype.cell(cell_type)):
            sources = [source for _, source in edges]
            if len(set(sources)) != len(sources) or not all(0 <= s < node + 2 for s in sources):
                raise GenotypeError(
                    f"{where}: node {node} of the {cell_type} cell needs "
                    f"{EDGES_PER_NODE} distinct sources in 0..{node + 1}, got {sources}"
                )


def check_fits(genotype: Genotype, space: SearchSpace) -> None:
    """Raise GenotypeError unless every kept op is offered on its edge by `space` (and not none)."""
    if genotype.nodes != space.nodes:
        raise GenotypeError(
            f"genotype has {genotype.nodes} nodes, space {space.name!r} has {space.nodes}"
        )
    index = {endpoint: i for i, endpoint in enumerate(edge_endpoints(space.nodes))}
    for cell_type in CELL_TYPES:
        for node, edges in enumerate(genotype.cell(cell_type)):
            for op, source in edges:
                offered = space.edges(cell_type)[index[(node, source)]]
                if op == "none" or op not in offered:
                    raise GenotypeError(
                        f"op {op!r} on node {node} <- {source} of the {cell_type} cell is not "
                        f"offered by space {space.name!r} (offered: {', '.join(offered)})"
                    )


# Published cells, as data: DARTS (second order) from Liu et al. (2019), their Figure 4.
KNOWN_GENOTYPES: dict[str, dict] = {
    "darts_v2": {
        "normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 0],
                   ["sep_conv_3x3", 1], ["sep_conv_3x3", 1], ["skip_connect", 0],
                   ["skip_connect", 0], ["dil_conv_3x3", 2]],
        "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1], ["skip_connect", 2],
                   ["max_pool_3x3", 1], ["max_pool_3x3", 0], ["skip_connect", 2],
                   ["skip_connect", 2], ["max_pool_3x3", 1]],
    },
}


def save_genotype(genotype: Genotype, path: str | Path) -> None:
    from rdarts.runs.rundir import atomic_write_text

    atomic_write_text(Path(path), json.dumps(genotype.to_dict(), indent=2) + "\n")


def load_genotype(path: str | Path) -> Genotype:
    """A genotype from a JSON file, a search run directory, or a known name (`darts_v2`)."""
    if str(path) in KNOWN_GENOTYPES and not Path(path).exists():
        return genotype_from_dict(KNOWN_GENOTYPES[str(path)], where=str(path))
    path = Path(path)
    if path.is_dir():
        path = path / "genotype.json"
    data = read_user_file(path, "genotype file", "JSON", GenotypeError)
    return genotype_from_dict(data, where=str(path))


def derive(weights: dict[str, torch.Tensor], space: SearchSpace) -> Genotype:
    """Discretise edge weights (softmax(alpha), one (E, |O|) matrix per cell type).

    Spec section 3 / DARTS: per node keep the 2 incoming edges whose strongest op is strongest,
    and on each the strongest op, ignoring `none` in both rankings. `none` is looked up in each
    edge's own op list, which the reference code gets wrong for heterogeneous spaces. Ties go to
    the earlier edge / op; kept edges are listed in source order (a canonical form).
    """
    cells = {cell_type: _derive_cell(weights[cell_type], space, cell_type)
             for cell_type in CELL_TYPES}
    return Genotype(**cells)


def _derive_cell(weights: torch.Tensor, space: SearchSpace, cell_type: str) -> CellGenotype:
    edge_ops = space.edges(cell_type)
    rows = weights.detach().to("cpu", torch.float64).tolist()
    best: list[tuple[float, str]] = []
    for ops, row in zip(edge_ops, rows, strict=True):
        candidates = [(w, -k, op) for k, (op, w) in enumerate(zip(ops, row, strict=True))
                      if op != "none"]
        weight, _, op = max(candidates)
        best.append((weight, op))
    nodes = []
    for node in range(space.nodes):
        first = node * (node + 3) // 2
        incoming = range(node + 2)
        strongest = sorted(incoming, key=lambda source: (-best[first + source][0], source))
        kept = sorted(strongest[:EDGES_PER_NODE])
        nodes.append(tuple((best[first + source][1], source) for source in kept))
    return tuple(nodes)


def sample_genotype(space: SearchSpace, generator: torch.Generator) -> Genotype:
    """A uniformly random architecture of `space` (RS-ws, spec section 9): per node two
    distinct sources, on each a uniformly chosen op other than `none`."""
    cells = {}
    for cell_type in CELL_TYPES:
        nodes = []
        for node in range(space.nodes):
            first = node * (node + 3) // 2
            order = torch.randperm(node + 2, generator=generator)
            sources = sorted(order[:EDGES_PER_NODE].tolist())
            edges = []
            for source in sources:
                ops = [op for op in space.edges(cell_type)[first + source] if op != "none"]
                pick = int(torch.randint(len(ops), (1,), generator=generator))
                edges.append((ops[pick], source))
            nodes.append(tuple(edges))
        cells[cell_type] = tuple(nodes)
    return Genotype(**cells)


def one_hot(genotype: Genotype, space: SearchSpace) -> dict[str, torch.Tensor]:
    """Edge weights that select exactly the genotype: 1 for each kept op, 0 elsewhere.

    Feeding these to the search network instead of softmax(alpha) gives the discretised
    one-shot model of the paper's Section 6 (search weights kept).
    """
    check_fits(genotype, space)
    index = {endpoint: i for i, endpoint in enumerate(edge_endpoints(space.nodes))}
    weights = {}
    for cell_type in CELL_TYPES:
        matrix = torch.zeros(space.alpha_shape(cell_type))
        for node, edges in enumerate(genotype.cell(cell_type)):
            for op, source in edges:
                edge = index[(node, source)]
                matrix[edge, space.edges(cell_type)[edge].index(op)] = 1.0
        weights[cell_type] = matrix
    return weights
