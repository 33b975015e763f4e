"""Cell spaces as plain data: named cell types, each with its inputs, nodes and per-edge ops.

Every domain of the paper searches cells (Section 2): a cell type has `inputs` input states
(0 .. inputs-1) and `nodes` intermediate nodes; node i (state inputs + i) receives one edge
from every earlier state, so edges are numbered node by node and node i has inputs + i of
them. The genotype keeps `keep[i]` incoming edges of node i. Examples:

- image cells (normal, reduce): 2 inputs, keep 2 per node; E = N (N + 3) / 2 (spec 1);
- the S6 upsampling cell: 4 inputs, 3 nodes, node 0 keeps all 4 of its inputs;
- the recurrent cell: 1 input (the highway node s_0), 8 nodes, keep 1 (one predecessor).

Within a cell type every edge offers the same number of ops, so alpha is an (E, |O|) matrix
per cell type; the ops themselves may differ per edge (S1). The core validates structure; op
names are validated against the list the domain passes (`known_ops`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rdarts.errors import SpaceError

EdgeOps = tuple[str, ...]


def num_edges(nodes: int, inputs: int = 2) -> int:
    """E = sum_i (inputs + i) over the nodes: N (N + 3) / 2 for two inputs (spec section 1)."""
    return nodes * inputs + nodes * (nodes - 1) // 2


def edge_endpoints(nodes: int, inputs: int = 2) -> list[tuple[int, int]]:
    """(node, source state) of every edge, in order: node 0 <- 0..inputs-1; node 1 <- ..."""
    return [(node, source) for node in range(nodes) for source in range(inputs + node)]


def first_edge(node: int, inputs: int = 2) -> int:
    """Index of the first edge into `node` (the edges of earlier nodes come before it)."""
    return num_edges(node, inputs)


@dataclass(frozen=True)
class CellType:
    """One cell type: its inputs, nodes, kept edges per node and the ops of every edge."""

    name: str
    inputs: int
    nodes: int
    edges: tuple[EdgeOps, ...]
    keep: tuple[int, ...] = ()  # per node; () means 2 per node (DARTS), capped by the inputs

    def __post_init__(self) -> None:
        if not self.keep:
            object.__setattr__(self, "keep", tuple(min(2, self.inputs + i)
                                                   for i in range(max(self.nodes, 0))))

    @property
    def num_edges(self) -> int:
        return num_edges(self.nodes, self.inputs)

    @property
    def endpoints(self) -> list[tuple[int, int]]:
        return edge_endpoints(self.nodes, self.inputs)

    @property
    def alpha_shape(self) -> tuple[int, int]:
        return (self.num_edges, len(self.edges[0]) if self.edges else 0)

    @property
    def concat(self) -> tuple[int, ...]:
        """States concatenated (or averaged) into the cell output: every intermediate node."""
        return tuple(range(self.inputs, self.inputs + self.nodes))

    def first_edge(self, node: int) -> int:
        return first_edge(node, self.inputs)

    def with_nodes(self, nodes: int) -> CellType:
        """The same uniform cell type with another node count (edge 0's ops everywhere)."""
        keep = self.keep[0] if len(set(self.keep)) == 1 else None
        if keep is None:
            raise SpaceError(f"the {self.name} cell keeps a different number of edges per node; "
                             "its node count is fixed")
        edges = tuple(self.edges[0] for _ in range(num_edges(nodes, self.inputs)))
        keeps = tuple(min(keep, self.inputs + i) for i in range(nodes))
        return CellType(self.name, self.inputs, nodes, edges, keeps)


@dataclass(frozen=True)
class CellSpace:
    """A search space: named cell types, each with one alpha matrix (paper Section 2).

    `edges(name)` and attribute access by cell name (`space.normal`) give a cell type's edge
    op lists, as the image spaces always had.
    """

    name: str
    cells: tuple[CellType, ...]
    known_ops: tuple[str, ...] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        validate(self)

    @property
    def cell_types(self) -> tuple[str, ...]:
        return tuple(cell.name for cell in self.cells)

    def cell(self, name: str) -> CellType:
        for cell in self.cells:
            if cell.name == name:
                return cell
        raise SpaceError(f"unknown cell type {name!r}; known: {', '.join(self.cell_types)}")

    def edges(self, cell_type: str) -> tuple[EdgeOps, ...]:
        return self.cell(cell_type).edges

    def __getattr__(self, name: str) -> tuple[EdgeOps, ...]:
        if name.startswith("_") or name in ("cells", "name", "known_ops"):
            raise AttributeError(name)
        for cell in self.__dict__.get("cells", ()):
            if cell.name == name:
                return cell.edges
        raise AttributeError(f"space {self.__dict__.get('name')!r} has no cell type {name!r}")

    @property
    def nodes(self) -> int:
        """The intermediate nodes per cell (every built-in space has one count for all types)."""
        return self.cells[0].nodes

    @property
    def num_edges(self) -> int:
        return self.cells[0].num_edges

    def alpha_shape(self, cell_type: str) -> tuple[int, int]:
        return self.cell(cell_type).alpha_shape

    @property
    def num_alpha(self) -> int:
        """|alpha| over all cell types (56 for S1, 84 for S3, 224 for darts, 99 for S6)."""
        return sum(rows * cols for rows, cols in (c.alpha_shape for c in self.cells))

    def ops(self) -> list[str]:
        """Every op the space offers somewhere, sorted."""
        return sorted({op for cell in self.cells for edge in cell.edges for op in edge})

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "nodes": self.nodes,
                **{cell.name: [list(ops) for ops in cell.edges] for cell in self.cells}}


def validate(space: CellSpace) -> None:
    """Raise SpaceError naming the first problem (N < 1, edge count, unknown op, ragged lists)."""
    if not space.cells:
        raise SpaceError(f"space {space.name!r} has no cell types")
    for cell in space.cells:
        if not isinstance(cell.nodes, int) or cell.nodes < 1:
            raise SpaceError(f"space {space.name!r}: nodes must be an integer >= 1, "
                             f"got {cell.nodes!r}")
        if len(cell.edges) != cell.num_edges:
            raise SpaceError(
                f"space {space.name!r}: the {cell.name} cell has {len(cell.edges)} edges, "
                f"expected {cell.num_edges} for {cell.nodes} nodes"
            )
        if len(cell.keep) != cell.nodes or not all(
                1 <= k <= cell.inputs + i for i, k in enumerate(cell.keep)):
            raise SpaceError(f"space {space.name!r}: the {cell.name} cell keeps {cell.keep} "
                             f"edges per node; node i has {cell.inputs} + i incoming edges")
        for index, ops in enumerate(cell.edges):
            _validate_edge(space, cell.name, index, ops, len(cell.edges[0]))


def _validate_edge(space: CellSpace, cell_type: str, index: int, ops: EdgeOps,
                   width: int) -> None:
    where = f"space {space.name!r}: edge {index} of the {cell_type} cell"
    if not ops:
        raise SpaceError(f"{where} has no ops")
    for op in ops:
        if space.known_ops is not None and op not in space.known_ops:
            raise SpaceError(f"{where}: unknown op {op!r}; known ops: "
                             f"{', '.join(space.known_ops)}")
    if len(set(ops)) != len(ops):
        raise SpaceError(f"{where} lists an op twice: {list(ops)}")
    if len(ops) != width:
        raise SpaceError(
            f"{where} has {len(ops)} ops but edge 0 has {width}; every edge of a cell type "
            "must offer the same number of ops"
        )
    if all(op == "none" for op in ops):
        raise SpaceError(f"{where} offers only 'none'")


@dataclass(frozen=True)
class CellLayout:
    """What a domain fixes about a cell type, whatever the space: its name, its inputs and
    how many edges each node keeps ("all" keeps every incoming edge of that node)."""

    name: str
    inputs: int
    keep: int | Sequence[int | str] = 2

    def keeps(self, nodes: int) -> tuple[int, ...]:
        if isinstance(self.keep, int):
            return tuple(min(self.keep, self.inputs + i) for i in range(nodes))
        keeps = list(self.keep)[:nodes]
        return tuple(self.inputs + i if k == "all" else int(k) for i, k in enumerate(keeps))

    def uniform(self, ops: EdgeOps, nodes: int) -> CellType:
        edges = tuple(tuple(ops) for _ in range(num_edges(nodes, self.inputs)))
        return CellType(self.name, self.inputs, nodes, edges, self.keeps(nodes))


def uniform_space(name: str, layouts: Iterable[CellLayout], ops: EdgeOps, nodes: int,
                  known_ops: Sequence[str] | None = None) -> CellSpace:
    """A space whose every edge of every cell type offers `ops`."""
    return CellSpace(name, tuple(layout.uniform(ops, nodes) for layout in layouts),
                     tuple(known_ops) if known_ops is not None else None)


def space_from_dict(data: dict, layouts: Sequence[CellLayout], known_ops: Sequence[str],
                    default_name: str = "custom", where: str = "space",
                    default_nodes: int = 4) -> CellSpace:
    """Build and validate a space from a YAML/JSON mapping.

    Format: ``name``, ``nodes``, and per cell type (by the domain's cell names) either ``ops``
    (one list for every edge) or ``edges`` (one list per edge), or a top-level ``ops`` for all.
    """
    nodes = data.get("nodes", default_nodes)
    if not isinstance(nodes, int) or nodes < 1:
        raise SpaceError(f"{where}: 'nodes' must be an integer >= 1, got {nodes!r}")
    cells = []
    for layout in layouts:
        spec = data.get(layout.name, {"ops": data["ops"]} if "ops" in data else None)
        if spec is None:
            raise SpaceError(f"{where}: no '{layout.name}' section and no top-level 'ops'")
        if isinstance(spec, list):
            spec = {"edges": spec}
        edges = _edges_from_spec(spec, nodes, layout.inputs, f"{where}: {layout.name} cell")
        cells.append(CellType(layout.name, layout.inputs, nodes, edges, layout.keeps(nodes)))
    return CellSpace(str(data.get("name", default_name)), tuple(cells), tuple(known_ops))


def _edges_from_spec(spec: object, nodes: int, inputs: int, where: str) -> tuple[EdgeOps, ...]:
    if isinstance(spec, dict) and "ops" in spec:
        ops = spec["ops"]
        if not isinstance(ops, list) or not all(isinstance(op, str) for op in ops):
            raise SpaceError(f"{where}: 'ops' must be a list of op names, got {ops!r}")
        return tuple(tuple(ops) for _ in range(num_edges(nodes, inputs)))
    if isinstance(spec, dict) and "edges" in spec:
        edges = spec["edges"]
        if not isinstance(edges, list) or not all(
            isinstance(ops, list) and all(isinstance(op, str) for op in ops) for ops in edges
        ):
            raise SpaceError(f"{where}: 'edges' must be a list of op-name lists, got {edges!r}")
        return tuple(tuple(ops) for ops in edges)
    raise SpaceError(f"{where}: expected 'ops' (one list) or 'edges' (a list per edge)")
