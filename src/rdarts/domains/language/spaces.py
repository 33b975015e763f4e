"""The recurrent-cell spaces of DARTS (Liu et al. 2019, Section 3.1.2; spec section 2).

One cell type, `recurrent`: one input state (the highway node s_0 computed from x_t and
h_{t-1}) and 8 nodes, each keeping one predecessor in the genotype; alpha is (36, |O|). Zela
et al. (Appendix E) search with "only ReLU and identity": `darts-rnn` is that space (the
analogue of RobustDARTS' S2, without `none`, spec O1); `darts-rnn-none` adds `none` and
`darts-rnn-full` is DARTS' own five ops. Spaces may also be YAML files with a `recurrent`
section (or a top-level `ops`).
"""

from __future__ import annotations

from pathlib import Path

from rdarts.core.space import CellLayout, CellSpace, EdgeOps, space_from_dict, uniform_space
from rdarts.errors import SpaceError
from rdarts.userfiles import read_user_file

# DARTS' PRIMITIVES order: alpha columns, and op ties in the genotype go to the earlier one.
OP_NAMES: EdgeOps = ("none", "tanh", "relu", "sigmoid", "identity")
LAYOUTS = (CellLayout("recurrent", inputs=1, keep=1),)
NODES = 8

BUILTIN_SPACES: dict[str, CellSpace] = {
    name: uniform_space(name, LAYOUTS, ops, NODES, OP_NAMES) for name, ops in (
        ("darts-rnn", ("relu", "identity")),
        ("darts-rnn-none", ("none", "relu", "identity")),
        ("darts-rnn-full", OP_NAMES),
    )
}


def get_space(name_or_path: str | Path, nodes: int | None = None) -> CellSpace:
    """A built-in recurrent space (any node count >= 1), or a space from a YAML file."""
    key = str(name_or_path)
    if key in BUILTIN_SPACES:
        space = BUILTIN_SPACES[key]
        if nodes is None or nodes == space.nodes:
            return space
        if nodes < 1:
            raise SpaceError(f"--nodes must be >= 1, got {nodes}")
        return uniform_space(key, LAYOUTS, space.recurrent[0], nodes, OP_NAMES)
    path = Path(key)
    if path.suffix in (".yaml", ".yml", ".json") or path.exists():
        space = load_space(path)
        if nodes is not None and nodes != space.nodes:
            raise SpaceError(f"space file {path} defines {space.nodes} nodes, not {nodes}")
        return space
    raise SpaceError(f"unknown recurrent search space {key!r}; known: "
                     f"{', '.join(BUILTIN_SPACES)}, or a YAML file")


def load_space(path: str | Path) -> CellSpace:
    path = Path(path)
    data = read_user_file(path, "space file", "YAML", SpaceError)
    if not isinstance(data, dict):
        raise SpaceError(f"space file {path}: expected a mapping with 'nodes' and ops, "
                         f"got {data!r}")
    return space_from_dict(data, LAYOUTS, OP_NAMES, default_name=path.stem, where=str(path),
                           default_nodes=NODES)
