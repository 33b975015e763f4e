"""The 81 architectures of S5 and their keys (paper Section 3, Figure 2).

An architecture's key names the ops of its four edges, normal cell first, the edge from
c_{k-2} before the one from c_{k-1}: `sep.skip-pool.sep` is sep_conv_3x3 <- c_{k-2} and
skip_connect <- c_{k-1} in the normal cell, max_pool_3x3 <- c_{k-2} and sep_conv_3x3 <- c_{k-1}
in the reduction cell. Its index orders the keys as base-3 numbers (sep, skip, pool = 0, 1, 2).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from rdarts.core.genotype import Genotype, genotype_from_dict
from rdarts.core.space import CellSpace
from rdarts.errors import BenchmarkError, GenotypeError, did_you_mean

OPS = ("sep_conv_3x3", "skip_connect", "max_pool_3x3")
SHORT = {"sep_conv_3x3": "sep", "skip_connect": "skip", "max_pool_3x3": "pool"}
LONG = {short: op for op, short in SHORT.items()}
ARCHITECTURES = len(OPS) ** 4


# ---- architectures ------------------------------------------------------------------------


@dataclass(frozen=True)
class Architecture:
    """One of the 81: its key, its index and its genotype."""

    key: str
    index: int
    genotype: Genotype


def _genotype(normal: tuple[str, str], reduce: tuple[str, str]) -> Genotype:
    return Genotype(normal=(((normal[0], 0), (normal[1], 1)),),
                    reduce=(((reduce[0], 0), (reduce[1], 1)),))


def architectures() -> list[Architecture]:
    """All 81 architectures in index order."""
    found = []
    for index, (n0, n1, r0, r1) in enumerate(itertools.product(OPS, repeat=4)):
        key = f"{SHORT[n0]}.{SHORT[n1]}-{SHORT[r0]}.{SHORT[r1]}"
        found.append(Architecture(key, index, _genotype((n0, n1), (r0, r1))))
    return found


def _cell_key(genotype: Genotype, cell_type: str) -> str:
    nodes = genotype.cell(cell_type)
    if len(nodes) != 1:
        raise GenotypeError(f"an S5 genotype has 1 node per cell; the {cell_type} cell has "
                            f"{len(nodes)}")
    by_source: dict[int, str] = {}
    for op, source in nodes[0]:
        if source not in (0, 1) or source in by_source:
            raise GenotypeError(f"the S5 node takes one edge from each of c_(k-2) and c_(k-1); "
                                f"the {cell_type} cell has {list(nodes[0])}")
        if op not in SHORT:
            raise GenotypeError(f"op {op!r} of the {cell_type} cell is not an S5 op "
                                f"({', '.join(OPS)})")
        by_source[source] = SHORT[op]
    if len(by_source) != 2:
        raise GenotypeError(f"the S5 node keeps 2 edges; the {cell_type} cell has "
                            f"{len(by_source)}")
    return f"{by_source[0]}.{by_source[1]}"


def architecture_key(genotype: Genotype | dict) -> str:
    """The key of an S5 genotype (edge order within a node does not matter); GenotypeError
    if the genotype is not one of the 81."""
    if not isinstance(genotype, Genotype):
        genotype = genotype_from_dict(genotype)
    return f"{_cell_key(genotype, 'normal')}-{_cell_key(genotype, 'reduce')}"


def fits_s5(space: CellSpace) -> bool:
    """Whether a search space's genotypes are S5 architectures (1 node, S5's op set on each
    edge), so that a search in it can be scored against an S5 table."""
    return space.nodes == 1 and all(
        set(ops) == set(OPS) for cell_type in ("normal", "reduce")
        for ops in space.edges(cell_type))


ARCHITECTURE_BY_KEY = {arch.key: arch for arch in architectures()}
KEY_FORM = "NORMAL0.NORMAL1-REDUCE0.REDUCE1 (e.g. sep.skip-pool.sep)"


def architecture_from_key(key: str) -> Architecture:
    """The architecture an S5 key names; BenchmarkError saying whether `key` is malformed or
    names an op outside S5, with the valid form."""
    if key in ARCHITECTURE_BY_KEY:
        return ARCHITECTURE_BY_KEY[key]
    cells = [cell.split(".") for cell in key.split("-")]
    if len(cells) != 2 or any(len(ops) != 2 or not all(ops) for ops in cells):
        raise BenchmarkError(f"{key!r} is neither a file nor a well-formed S5 architecture "
                             f"key: a key is {KEY_FORM}, each op sep, skip or pool")
    unknown = next(op for ops in cells for op in ops if op not in LONG)
    short = ", ".join(f"{name} ({op})" for name, op in LONG.items())
    raise BenchmarkError(f"{unknown!r} in {key!r} is not an S5 op{did_you_mean(unknown, LONG)}: "
                         f"the S5 ops are {short}; a key is {KEY_FORM}")


def s5_genotype(reference: str) -> Genotype:
    """A genotype file, a run directory, a published name or an S5 architecture key.

    A reference that names no existing path, has no .json suffix and no folder in it is read
    as a key, so that a mistyped key is reported as one (not as a missing file).
    """
    from rdarts.domains.image.genotypes import KNOWN_GENOTYPES, load_image_genotype

    if reference in ARCHITECTURE_BY_KEY:
        return ARCHITECTURE_BY_KEY[reference].genotype
    path = Path(reference)
    if (path.exists() or reference in KNOWN_GENOTYPES or path.suffix == ".json"
            or len(path.parts) > 1):
        return load_image_genotype(reference)
    return architecture_from_key(reference).genotype
