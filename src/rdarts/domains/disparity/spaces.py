"""The disparity space S6 (Zela et al. Section 5, Appendix D): AutoDispNet-C's three cells.

Cell types, each with 3 intermediate nodes whose output is the concatenation of all three:

- `normal` and `reduce`: 2 inputs (c_{k-2}, c_{k-1}), 9 edges, the genotype keeps 2 incoming
  edges per node (6 entries);
- `upsample`: 4 inputs (the two previous cells, brought to the cell's resolution, the coarser
  prediction and the skip feature), 15 edges; node 0 keeps all 4 of its input edges, nodes 1
  and 2 keep 2 (8 entries).

Every edge offers {sep_conv_3x3, max_pool_3x3, skip_connect}; there is no `none`, so an edge's
strength in the discretisation is its largest softmax weight, as in S5. 33 edges x 3 ops = 99
alphas. Spaces may also be YAML files with `normal`, `reduce` and `upsample` sections (or a
top-level `ops`).
"""

from __future__ import annotations

from pathlib import Path

from rdarts.core.space import CellLayout, CellSpace, EdgeOps, space_from_dict, uniform_space
from rdarts.domains.disparity.ops import OP_NAMES
from rdarts.errors import SpaceError, did_you_mean
from rdarts.userfiles import read_user_file

NODES = 3  # AutoDispNet's cells (its genotypes list 6, 6 and 8 edges)
UPSAMPLE_INPUTS = 4
# Node 0 of the upsampling cell keeps all its inputs, every later node 2 (given for as many
# nodes as a space may have; `CellLayout.keeps` takes the first N).
MAX_NODES = 16
LAYOUTS = (
    CellLayout("normal", inputs=2, keep=2),
    CellLayout("reduce", inputs=2, keep=2),
    CellLayout("upsample", inputs=UPSAMPLE_INPUTS, keep=("all",) + (2,) * (MAX_NODES - 1)),
)
CELL_TYPES = tuple(layout.name for layout in LAYOUTS)
S6_OPS: EdgeOps = ("sep_conv_3x3", "max_pool_3x3", "skip_connect")

BUILTIN_SPACES: dict[str, CellSpace] = {"s6": uniform_space("s6", LAYOUTS, S6_OPS, NODES,
                                                            OP_NAMES)}


def get_space(name_or_path: str | Path, nodes: int | None = None) -> CellSpace:
    """S6 (optionally with another node count, 1..16), or a space from a YAML file."""
    key = str(name_or_path)
    if key in BUILTIN_SPACES:
        space = BUILTIN_SPACES[key]
        if nodes is None or nodes == space.nodes:
            return space
        if not 1 <= nodes <= MAX_NODES:
            raise SpaceError(f"--nodes must be in 1..{MAX_NODES} for {key}, got {nodes}")
        return uniform_space(key, LAYOUTS, space.normal[0], nodes, OP_NAMES)
    path = Path(key)
    if path.suffix in (".yaml", ".yml", ".json") or path.exists():
        space = load_space(path)
        if nodes is not None and nodes != space.nodes:
            raise SpaceError(f"space file {path} defines {space.nodes} nodes, not {nodes}")
        return space
    raise SpaceError(f"unknown disparity search space {key!r}"
                     f"{did_you_mean(key, BUILTIN_SPACES)}; known: "
                     f"{', '.join(BUILTIN_SPACES)}, or a YAML file")


def load_space(path: str | Path) -> CellSpace:
    path = Path(path)
    data = read_user_file(path, "space file", "YAML", SpaceError)
    if not isinstance(data, dict):
        raise SpaceError(f"space file {path}: expected a mapping with 'nodes' and ops, "
                         f"got {data!r}")
    nodes = data.get("nodes", NODES)
    if isinstance(nodes, int) and not 1 <= nodes <= MAX_NODES:
        raise SpaceError(f"space file {path}: 'nodes' must be in 1..{MAX_NODES}, got {nodes}")
    return space_from_dict(data, LAYOUTS, OP_NAMES, default_name=path.stem, where=str(path),
                           default_nodes=NODES)
