"""softmax(alpha) of one search's cell over the epochs: one panel per edge, one line per op.

A heat map on a fixed 0-1 scale shows nothing on a small space: S5's three ops start at 1/3
each and move by hundredths, so every cell is the same blue. Here every edge has its own y
scale, the uniform weight 1/|ops| is the dashed reference, each op keeps one colour across the
panels (legend below them), and a dotted line marks the epoch DARTS-ES returns. This reads on
any space, from S5's 2 edges x 3 ops to the DARTS space's 14 x 8.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from rdarts.core.space import edge_endpoints
from rdarts.domains.registry import get_domain
from rdarts.errors import RdartsError
from rdarts.report.cells import state_name
from rdarts.report.records import SearchRun
from rdarts.report.style import BASELINE_COLOR, legend_below, new_figure, save, setting_color

COLUMNS = 4  # panels per row


def alpha_series(run: SearchRun, cell_type: str) -> tuple[list[int], np.ndarray] | None:
    """(epochs, softmax(alpha) as [epoch, edge, op]) from the metrics lines that log this cell
    with the last line's shape; None when no line logs it."""
    records = [r for r in run.metrics if (r.get("alpha_softmax") or {}).get(cell_type)]
    if not records:
        return None
    shape = np.shape(records[-1]["alpha_softmax"][cell_type])
    records = [r for r in records if np.shape(r["alpha_softmax"][cell_type]) == shape]
    epochs = [int(r.get("epoch", i)) for i, r in enumerate(records)]
    return epochs, np.asarray([r["alpha_softmax"][cell_type] for r in records], dtype=float)


def _space_ops(run: SearchRun, cell_type: str) -> list[list[str]]:
    try:
        space = get_domain(run.config.get("domain")).space(run.config["space"],
                                                            run.config.get("nodes"))
        return [list(ops) for ops in space.edges(cell_type)]
    except (RdartsError, OSError, KeyError):
        return []  # a space file that moved: ops by position


def edge_names(run: SearchRun, cell_type: str, edges: int,
               ops: int) -> tuple[list[str], list[list[str]]]:
    """Per edge its title ('node 0 <- c_{k-2}') and its op names from the run's space."""
    nodes = (math.isqrt(9 + 8 * edges) - 3) // 2  # E = N (N + 3) / 2
    endpoints = edge_endpoints(nodes) if nodes * (nodes + 3) // 2 == edges else []
    known = _space_ops(run, cell_type)
    titles, names = [], []
    for edge in range(edges):
        titles.append(f"node {endpoints[edge][0]} \u2190 {_math(state_name(endpoints[edge][1]))}"
                      if endpoints else f"edge {edge}")
        fits = edge < len(known) and len(known[edge]) == ops
        names.append(known[edge] if fits else [f"op {op}" for op in range(ops)])
    return titles, names


def _math(state: str) -> str:
    """A state name as matplotlib shows it: inputs in math mode ($c_{k-2}$)."""
    return f"${state}$" if state.startswith("c_") else state


def _op_colors(names: list[list[str]]) -> dict[str, str]:
    ordered = list(dict.fromkeys(op for edge in names for op in edge))
    return {op: setting_color(i) for i, op in enumerate(ordered)}


def _panel(axes: Any, epochs: list[int], weights: np.ndarray, title: str, ops: list[str],
           colors: dict[str, str], return_epoch: int | None) -> None:
    for op, values in zip(ops, weights.T, strict=True):
        axes.plot(epochs, values, color=colors[op], linewidth=1.5, marker=".", markersize=3)
    axes.axhline(1 / len(ops), color=BASELINE_COLOR, linestyle="--", linewidth=0.9)
    if return_epoch is not None:
        axes.axvline(return_epoch, color="black", linestyle=":", linewidth=1.0)
    axes.set_title(title, fontsize="small")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.tick_params(labelsize="x-small")
    axes.grid(alpha=0.3)


def _legend(figure: Any, colors: dict[str, str], ops: int, es: bool) -> None:
    handles = [Line2D([], [], color=c, linewidth=2, label=op) for op, c in colors.items()]
    handles.append(Line2D([], [], color=BASELINE_COLOR, linestyle="--",
                          label=f"uniform (1/{ops})"))
    if es:
        handles.append(Line2D([], [], color="black", linestyle=":",
                              label="DARTS-ES return epoch"))
    legend_below(figure, handles, [h.get_label() for h in handles])


def plot_alpha(run: SearchRun, cell_type: str, path: Path) -> Path | None:
    """alpha_<run>_<cell>.png; None when the run's metrics log no softmax(alpha)."""
    figure = alpha_figure(run, cell_type)
    return None if figure is None else save(figure, path)


def alpha_figure(run: SearchRun, cell_type: str) -> Figure | None:
    """The figure of one run's cell type; None when its metrics log no softmax(alpha)."""
    found = alpha_series(run, cell_type)
    if found is None:
        return None
    epochs, weights = found
    _, edges, ops = weights.shape
    titles, names = edge_names(run, cell_type, edges, ops)
    colors = _op_colors(names)
    columns = min(edges, COLUMNS)
    rows = math.ceil(edges / columns)
    figure = new_figure(0.6 + 3.1 * columns, 1.3 + 2.0 * rows)
    panels = np.atleast_1d(figure.subplots(rows, columns, sharex=True, squeeze=False)).ravel()
    stop = run.early_stop
    return_epoch = stop.get("return_epoch") if stop else None
    for edge, axes in enumerate(panels):
        if edge >= edges:
            axes.set_visible(False)
            continue
        _panel(axes, epochs, weights[:, edge, :], titles[edge], names[edge], colors,
               return_epoch)
        if edge + columns >= edges:  # the lowest panel of its column
            axes.set_xlabel("search epoch", fontsize="small")
            axes.xaxis.set_tick_params(labelbottom=True)
    figure.supylabel("softmax(alpha)", fontsize="small")
    figure.suptitle(f"softmax(alpha) per edge, {cell_type} cell, {run.name} (own scale per "
                    "edge)", fontsize="medium")
    _legend(figure, colors, ops, return_epoch is not None)
    return figure
