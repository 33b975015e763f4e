"""Cell diagrams of found genotypes: graphviz `dot` when installed, matplotlib otherwise.

A genotype dict holds, per cell type, `<cell>`: the kept (op, source) pairs in node order and
`<cell>_concat`: the states concatenated into the output. Nothing here is tied to the names
normal/reduce or to two input states: a cell's inputs are the states before its first
concatenated one (min(concat); 2, DARTS's c_{k-2} and c_{k-1}, when the genotype does not
say), and its edges per node follow from the pairs and the nodes concat spans (2 otherwise),
unless the caller knows them (`keeps`: the upsampling cell of S6 keeps 4, 2 and 2).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rdarts.errors import RdartsError
from rdarts.report.style import DPI, new_figure, save

DEFAULT_INPUTS = 2  # c_{k-2} and c_{k-1}: the convolutional cells of DARTS
DEFAULT_EDGES_PER_NODE = 2
INPUT_FILL = ("darkseagreen2", "#b4eeb4")  # graphviz name, matplotlib colour
NODE_FILL = ("lightblue", "#add8e6")
OUTPUT_FILL = ("palegoldenrod", "#eee8aa")
OUTPUT = "c_{k}"


def cell_types(genotype: dict[str, Any]) -> list[str]:
    """The cell types a genotype dict holds, in its order: the list-valued keys other than
    the `<cell>_concat` ones (normal and reduce today; upsample or recurrent later)."""
    return [key for key, value in genotype.items()
            if isinstance(value, list) and not key.endswith("_concat")]


def _concat(genotype: dict[str, Any], cell_type: str) -> list[int]:
    concat = genotype.get(f"{cell_type}_concat")
    if not isinstance(concat, list | tuple):
        return []
    try:
        return [int(state) for state in concat]
    except (TypeError, ValueError):
        return []


def cell_inputs(genotype: dict[str, Any], cell_type: str) -> int:
    """Input states of the cell: those before the first concatenated state (min(concat)),
    DEFAULT_INPUTS when the genotype has no usable `<cell>_concat`."""
    concat = _concat(genotype, cell_type)
    return min(concat) if concat and min(concat) > 0 else DEFAULT_INPUTS


def edges_per_node(genotype: dict[str, Any], cell_type: str) -> int:
    """Kept edges per intermediate node: the pairs spread over the nodes that concat spans
    (inputs .. max(concat)), DEFAULT_EDGES_PER_NODE when that does not divide evenly."""
    pairs = genotype.get(cell_type) or []
    concat = _concat(genotype, cell_type)
    nodes = max(concat) - cell_inputs(genotype, cell_type) + 1 if concat else 0
    if nodes > 0 and pairs and len(pairs) % nodes == 0:
        return len(pairs) // nodes
    return DEFAULT_EDGES_PER_NODE


def state_name(source: int, inputs: int = DEFAULT_INPUTS) -> str:
    """Inputs c_{k-inputs} .. c_{k-1}, then intermediate nodes 0..N-1 (state s >= inputs is
    node s - inputs); with 2 inputs: c_{k-2}, c_{k-1}, 0, 1, ..."""
    return f"c_{{k-{inputs - source}}}" if 0 <= source < inputs else str(source - inputs)


Keeps = Sequence[int] | None  # kept edges per node, when the domain's layout says


def cell_edges(genotype: dict[str, Any], cell_type: str,
               keeps: Keeps = None) -> list[tuple[str, int, int]]:
    """(op, source state, target node) for every kept edge, in genotype order: `keeps[i]`
    consecutive pairs for node i when given (and they add up), else `edges_per_node` each."""
    pairs = genotype.get(cell_type) or []
    if keeps is not None and sum(keeps) == len(pairs):
        targets = [node for node, keep in enumerate(keeps) for _ in range(keep)]
    else:
        per_node = edges_per_node(genotype, cell_type)
        targets = [index // per_node for index in range(len(pairs))]
    return [(str(op), int(source), target)
            for (op, source), target in zip(pairs, targets, strict=True)]


def _input_names(inputs: int) -> list[str]:
    return [state_name(source, inputs) for source in range(inputs)]


def cell_dot(genotype: dict[str, Any], cell_type: str, keeps: Keeps = None) -> str:
    """The cell as a graphviz digraph: inputs, intermediate nodes, labelled op edges, and every
    intermediate node into the output c_{k}."""
    edges = cell_edges(genotype, cell_type, keeps)
    inputs = cell_inputs(genotype, cell_type)
    nodes = max((target for *_, target in edges), default=-1) + 1
    lines = [f"digraph {cell_type} {{", "  rankdir=LR;",
             '  node [style=filled, shape=rect, fontname="Helvetica"];',
             '  edge [fontname="Helvetica", fontsize=10];']
    lines += [f'  "{name}" [fillcolor={INPUT_FILL[0]}];' for name in _input_names(inputs)]
    lines += [f'  "{OUTPUT}" [fillcolor={OUTPUT_FILL[0]}];']
    lines += [f'  "{node}" [fillcolor={NODE_FILL[0]}, shape=box];' for node in range(nodes)]
    lines += [f'  "{state_name(source, inputs)}" -> "{target}" [label="{op}"];'
              for op, source, target in edges]
    lines += [f'  "{node}" -> "{OUTPUT}" [color=grey];' for node in range(nodes)]
    return "\n".join([*lines, "}"]) + "\n"


def render_dot(dot: str, source: Path, path: Path) -> Path:
    """Write `source` and render it to PNG with graphviz's `dot`."""
    source.write_text(dot)
    try:
        subprocess.run([str(shutil.which("dot")), "-Tpng", f"-Gdpi={DPI}", str(source),
                        "-o", str(path)], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        raise RdartsError(f"graphviz could not render {source}: {error}") from None
    return path


def _input_heights(inputs: int) -> list[float]:
    """Heights of the input states in the left column: +-1 for two, one apart for more."""
    if inputs <= 1:
        return [0.0] * inputs
    half = max(1.0, (inputs - 1) / 2)
    return [half - 2 * half * i / (inputs - 1) for i in range(inputs)]


def _node_positions(inputs: int, nodes: int) -> dict[str, tuple[float, float]]:
    positions = {name: (0.0, y) for name, y in zip(_input_names(inputs), _input_heights(inputs),
                                                   strict=True)}
    for node in range(nodes):
        positions[str(node)] = (1.6 + 1.4 * node, 0.9 if node % 2 == 0 else -0.9)
    positions[OUTPUT] = (1.6 + 1.4 * nodes + 0.6, 0.0)
    return positions


def _arrow(axes: Any, start: tuple[float, float], end: tuple[float, float], rad: float,
           color: str, label: str | None) -> None:
    axes.annotate("", xy=end, xytext=start, arrowprops={
        "arrowstyle": "-|>", "color": color, "shrinkA": 18, "shrinkB": 18,
        "connectionstyle": f"arc3,rad={rad}", "linewidth": 1.2})
    if label:
        # the arc3 curve's midpoint lies rad/2 * (dy, -dx) off the chord's midpoint
        dx, dy = end[0] - start[0], end[1] - start[1]
        x, y = (start[0] + end[0]) / 2 + rad / 2 * dy, (start[1] + end[1]) / 2 - rad / 2 * dx
        axes.text(x, y, label, fontsize=7, ha="center", va="center",
                  bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"})


def draw_cell(genotype: dict[str, Any], cell_type: str, path: Path,
              keeps: Keeps = None) -> Path:
    """The cell drawn with matplotlib (the fallback when graphviz is not installed)."""
    edges = cell_edges(genotype, cell_type, keeps)
    inputs = cell_inputs(genotype, cell_type)
    nodes = max((target for *_, target in edges), default=-1) + 1
    positions = _node_positions(inputs, nodes)
    top = max([1.0, *(abs(y) for _, y in positions.values())])
    figure = new_figure(2.5 + 1.5 * nodes, 3.8 + 1.2 * (top - 1.0))
    axes = figure.subplots()
    for index, (op, source, target) in enumerate(edges):
        rad = 0.25 if index % 2 == 0 else -0.25
        _arrow(axes, positions[state_name(source, inputs)], positions[str(target)], rad,
               "black", op)
    for node in range(nodes):
        _arrow(axes, positions[str(node)], positions[OUTPUT], 0.0, "grey", None)
    colors = {**dict.fromkeys(_input_names(inputs), INPUT_FILL[1]), OUTPUT: OUTPUT_FILL[1]}
    for name, (x, y) in positions.items():
        text = f"${name}$" if name.startswith("c_") else name
        axes.text(x, y, text, ha="center", va="center", fontsize=11, bbox={
            "boxstyle": "round,pad=0.4", "facecolor": colors.get(name, NODE_FILL[1])})
    xs = [x for x, _ in positions.values()]
    axes.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    axes.set_ylim(-top - 0.6, top + 0.6)
    axes.set_axis_off()
    axes.set_title(f"{cell_type} cell")
    return save(figure, path)


def write_cell(genotype: dict[str, Any], cell_type: str, out: Path, stem: str,
               keeps: Keeps = None) -> list[Path]:
    """cells_<run>_<cell>.png via graphviz (plus its .dot source) or the matplotlib drawing."""
    png = out / f"{stem}.png"
    if shutil.which("dot"):
        source = out / f"{stem}.dot"
        return [source, render_dot(cell_dot(genotype, cell_type, keeps), source, png)]
    return [draw_cell(genotype, cell_type, png, keeps)]
