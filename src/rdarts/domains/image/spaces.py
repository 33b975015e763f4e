"""The image spaces: the paper's S1-S5 (Section 3, Appendix A) and the original DARTS space.

Two cell types, normal and reduce, each with two inputs (c_{k-2}, c_{k-1}) and N intermediate
nodes that keep two incoming edges in the genotype (spec section 1). Users may load their own
spaces from YAML with the same layout (per-edge lists allowed).
"""

from __future__ import annotations

from pathlib import Path

from rdarts.core.space import CellLayout, CellSpace, CellType, EdgeOps, space_from_dict
from rdarts.domains.image.ops import OP_NAMES
from rdarts.errors import SpaceError, did_you_mean
from rdarts.userfiles import read_user_file

CELL_TYPES = ("normal", "reduce")
LAYOUTS = (CellLayout("normal", inputs=2, keep=2), CellLayout("reduce", inputs=2, keep=2))


def image_space(name: str, normal: tuple[EdgeOps, ...], reduce: tuple[EdgeOps, ...],
                nodes: int = 4) -> CellSpace:
    """A space of a normal and a reduction cell with the given per-edge op lists."""
    cells = tuple(CellType(layout.name, layout.inputs, nodes, edges, layout.keeps(nodes))
                  for layout, edges in zip(LAYOUTS, (normal, reduce), strict=True))
    return CellSpace(name, cells, OP_NAMES)


def _uniform(name: str, ops: EdgeOps, nodes: int = 4) -> CellSpace:
    edges = tuple(ops for _ in range(nodes * (nodes + 3) // 2))
    return image_space(name, edges, edges, nodes)


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

BUILTIN_SPACES: dict[str, CellSpace] = {
    "darts": _uniform("darts", DARTS_OPS),
    "s1": image_space("s1", S1_NORMAL, S1_REDUCE),
    "s2": _uniform("s2", ("skip_connect", "sep_conv_3x3")),
    "s3": _uniform("s3", ("none", "skip_connect", "sep_conv_3x3")),
    "s4": _uniform("s4", ("noise", "sep_conv_3x3")),
    "s5": _uniform("s5", ("sep_conv_3x3", "skip_connect", "max_pool_3x3"), nodes=1),
}


def get_space(name_or_path: str | Path, nodes: int | None = None) -> CellSpace:
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
        f"unknown search space {key!r}{did_you_mean(key, BUILTIN_SPACES)}; "
        f"known: {', '.join(BUILTIN_SPACES)}, or a YAML file"
    )


def load_space(path: str | Path) -> CellSpace:
    """Read a space from YAML.

    Format: ``name``, ``nodes``, and per cell type either ``ops`` (one list for every edge) or
    ``edges`` (one list per edge); ``normal``/``reduce`` keys, or a top-level ``ops`` for both.
    """
    path = Path(path)
    data = read_user_file(path, "space file", "YAML", SpaceError)
    if not isinstance(data, dict):
        raise SpaceError(f"space file {path}: expected a mapping with 'nodes' and ops, "
                         f"got {data!r}")
    return space_from_dict(data, LAYOUTS, OP_NAMES, default_name=path.stem, where=str(path))
