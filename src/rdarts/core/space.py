"""Search spaces as plain data: per cell type, the candidate op list of every edge.

A cell has two input states (c_{k-2} = state 0, c_{k-1} = state 1) and N intermediate nodes;
node i (state i + 2) receives one edge from every earlier state, so edges are numbered node by
node and E = N (N + 3) / 2 (spec section 1). The paper's spaces S1-S5 (Section 3) and the
original DARTS space are built in; users may load their own from YAML.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rdarts.domains.image.ops import OP_NAMES
from rdarts.errors import SpaceError
from rdarts.userfiles import read_user_file

CELL_TYPES = ("normal", "reduce")

EdgeOps = tuple[str, ...]


def num_edges(nodes: int) -> int:
    """E = N (N + 3) / 2: node i has i + 2 incoming edges (spec section 1)."""
    return nodes * (nodes + 3) // 2


def edge_endpoints(nodes: int) -> list[tuple[int, int]]:
    """(node, source state) of every edge, in order: node 0 <- 0, 1; node 1 <- 0, 1, 2; ..."""
    return [(node, source) for node in range(nodes) for source in range(node + 2)]


@dataclass(frozen=True)
class SearchSpace:
    """Candidate ops of every edge of the normal and the reduction cell.

    Within one cell type every edge must offer the same number of ops, so that alpha is an
    (E, |O|) matrix per cell type (spec section 1); the ops themselves may differ per edge (S1).
    """

    name: str
    nodes: int
    normal: tuple[EdgeOps, ...]
    reduce: tuple[EdgeOps, ...]

    def __post_init__(self) -> None:
        validate(self)

    def edges(self, cell_type: str) -> tuple[EdgeOps, ...]:
        if cell_type not in CELL_TYPES:
            raise SpaceError(f"unknown cell type {cell_type!r}; known: {', '.join(CELL_TYPES)}")
        return self.normal if cell_type == "normal" else self.reduce

    @property
    def num_edges(self) -> int:
        return num_edges(self.nodes)

    def alpha_shape(self, cell_type: str) -> tuple[int, int]:
        return (self.num_edges, len(self.edges(cell_type)[0]))

    @property
    def num_alpha(self) -> int:
        """|alpha| = 2 E |O| for a homogeneous space (56 for S1, 84 for S3, 224 for darts)."""
        return sum(rows * cols for rows, cols in map(self.alpha_shape, CELL_TYPES))

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "nodes": self.nodes,
            "normal": [list(ops) for ops in self.normal],
            "reduce": [list(ops) for ops in self.reduce],
        }


def validate(space: SearchSpace) -> None:
    """Raise SpaceError naming the first problem (N < 1, edge count, unknown op, ragged lists)."""
    if not isinstance(space.nodes, int) or space.nodes < 1:
        raise SpaceError(f"space {space.name!r}: nodes must be an integer >= 1, "
                         f"got {space.nodes!r}")
    expected = num_edges(space.nodes)
    for cell_type in CELL_TYPES:
        edges = space.normal if cell_type == "normal" else space.reduce
        if len(edges) != expected:
            raise SpaceError(
                f"space {space.name!r}: the {cell_type} cell has {len(edges)} edges, "
                f"expected {expected} for {space.nodes} nodes"
            )
        for index, ops in enumerate(edges):
            _validate_edge(space.name, cell_type, index, ops, len(edges[0]))


def _validate_edge(space: str, cell_type: str, index: int, ops: EdgeOps, width: int) -> None:
    where = f"space {space!r}: edge {index} of the {cell_type} cell"
    if not ops:
        raise SpaceError(f"{where} has no ops")
    for op in ops:
        if op not in OP_NAMES:
            raise SpaceError(f"{where}: unknown op {op!r}; known ops: {', '.join(OP_NAMES)}")
    if len(set(ops)) != len(ops):
        raise SpaceError(f"{where} lists an op twice: {list(ops)}")
    if len(ops) != width:
        raise SpaceError(
            f"{where} has {len(ops)} ops but edge 0 has {width}; every edge of a cell type "
            "must offer the same number of ops"
        )
    if all(op == "none" for op in ops):
        raise SpaceError(f"{where} offers only 'none'")


def _uniform(name: str, ops: EdgeOps, nodes: int = 4) -> SearchSpace:
    edges = tuple(ops for _ in range(num_edges(nodes)))
    return SearchSpace(name=name, nodes=nodes, normal=edges, reduce=edges)


DARTS_OPS: EdgeOps = (
    "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
)  # fmt: skip

# S1 edge by edge (spec section 1; the paper's Figure 7 / Appendix A).
S1_NORMAL: tuple[EdgeOps, ...] = (
    ("skip_connect", "dil_conv_3x3"), ("skip_connect", "dil_conv_5x5"),
    ("skip_connect", "dil_conv_5x5"), ("skip_connect", "sep_conv_3x3"),
    ("skip_connect", "dil_conv_3x3"), ("max_pool_3x3", "skip_connect"),
    ("skip_connect", "sep_conv_3x3"), ("skip_connect", "sep_conv_3x3"),
    ("skip_connect", "dil_conv_3x3"), ("skip_connect", "sep_conv_3x3"),
    ("max_pool_3x3", "skip_connect"), ("skip_connect", "dil_conv_3x3"),
    ("dil_conv_3x3", "dil_conv_5x5"), ("dil_conv_3x3", "dil_conv_5x5"),
)  # fmt: skip
S1_REDUCE: tuple[EdgeOps, ...] = (
    ("max_pool_3x3", "avg_pool_3x3"), ("max_pool_3x3", "dil_conv_3x3"),
    ("max_pool_3x3", "avg_pool_3x3"), ("max_pool_3x3", "avg_pool_3x3"),
    ("skip_connect", "dil_conv_5x5"), ("max_pool_3x3", "avg_pool_3x3"),
    ("max_pool_3x3", "sep_conv_3x3"), ("skip_connect", "dil_conv_3x3"),
    ("skip_connect", "dil_conv_5x5"), ("max_pool_3x3", "avg_pool_3x3"),
    ("max_pool_3x3", "avg_pool_3x3"), ("skip_connect", "dil_conv_5x5"),
    ("skip_connect", "dil_conv_5x5"), ("skip_connect", "dil_conv_5x5"),
)  # fmt: skip

BUILTIN_SPACES: dict[str, SearchSpace] = {
    "darts": _uniform("darts", DARTS_OPS),
    "s1": SearchSpace(name="s1", nodes=4, normal=S1_NORMAL, reduce=S1_REDUCE),
    "s2": _uniform("s2", ("skip_connect", "sep_conv_3x3")),
    "s3": _uniform("s3", ("none", "skip_connect", "sep_conv_3x3")),
    "s4": _uniform("s4", ("noise", "sep_conv_3x3")),
    "s5": _uniform("s5", ("sep_conv_3x3", "skip_connect", "max_pool_3x3"), nodes=1),
}


def get_space(name_or_path: str | Path, nodes: int | None = None) -> SearchSpace:
    """A built-in space by name (optionally with another node count), or a space from a YAML file.

    Uniform built-ins (all but S1) can be re-instantiated with any N >= 1; S1 is defined edge by
    edge for N = 4 only.
    """
    key = str(name_or_path)
    if key in BUILTIN_SPACES:
        space = BUILTIN_SPACES[key]
        if nodes is None or nodes == space.nodes:
            return space
        if key == "s1":
            raise SpaceError("space 's1' is defined edge by edge for 4 nodes; --nodes must be 4")
        return _uniform(key, space.normal[0], nodes=nodes)
    path = Path(key)
    if path.suffix in (".yaml", ".yml", ".json") or path.exists():
        space = load_space(path)
        if nodes is not None and nodes != space.nodes:
            raise SpaceError(f"space file {path} defines {space.nodes} nodes, not {nodes}")
        return space
    raise SpaceError(
        f"unknown search space {key!r}; known: {', '.join(BUILTIN_SPACES)}, or a YAML file"
    )


def load_space(path: str | Path) -> SearchSpace:
    """Read a space from YAML.

    Format: ``name``, ``nodes``, and per cell type either ``ops`` (one list for every edge) or
    ``edges`` (one list per edge); ``normal``/``reduce`` keys, or a top-level ``ops`` for both.
    """
    path = Path(path)
    data = read_user_file(path, "space file", "YAML", SpaceError)
    if not isinstance(data, dict):
        raise SpaceError(f"space file {path}: expected a mapping with 'nodes' and ops, "
                         f"got {data!r}")
    return space_from_dict(data, default_name=path.stem, where=str(path))


def space_from_dict(data: dict, default_name: str = "custom", where: str = "space") -> SearchSpace:
    """Build and validate a space from the YAML/JSON mapping described in `load_space`."""
    nodes = data.get("nodes", 4)
    if not isinstance(nodes, int) or nodes < 1:
        raise SpaceError(f"{where}: 'nodes' must be an integer >= 1, got {nodes!r}")
    cells = {}
    for cell_type in CELL_TYPES:
        spec = data.get(cell_type, {"ops": data["ops"]} if "ops" in data else None)
        if spec is None:
            raise SpaceError(f"{where}: no '{cell_type}' section and no top-level 'ops'")
        if isinstance(spec, list):
            spec = {"edges": spec}
        cells[cell_type] = _edges_from_spec(spec, nodes, f"{where}: {cell_type} cell")
    return SearchSpace(name=str(data.get("name", default_name)), nodes=nodes, **cells)


def _edges_from_spec(spec: object, nodes: int, where: str) -> tuple[EdgeOps, ...]:
    if isinstance(spec, dict) and "ops" in spec:
        ops = spec["ops"]
        if not isinstance(ops, list) or not all(isinstance(op, str) for op in ops):
            raise SpaceError(f"{where}: 'ops' must be a list of op names, got {ops!r}")
        return tuple(tuple(ops) for _ in range(num_edges(nodes)))
    if isinstance(spec, dict) and "edges" in spec:
        edges = spec["edges"]
        if not isinstance(edges, list) or not all(
            isinstance(ops, list) and all(isinstance(op, str) for op in ops) for ops in edges
        ):
            raise SpaceError(f"{where}: 'edges' must be a list of op-name lists, got {edges!r}")
        return tuple(tuple(ops) for ops in edges)
    raise SpaceError(f"{where}: expected 'ops' (one list) or 'edges' (a list per edge)")
