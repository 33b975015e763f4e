"""The matplotlib conventions every report image shares (plots and cell drawings alike).

Kept apart from figures.py so that cells.py can draw with them while figures.py labels alpha
rows with the cells' state names, without the two importing each other. Every image uses
matplotlib's object API (`Figure`, Agg), never pyplot's global state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

DPI = 120
CHAR_POINTS = 5.2  # width of one character of a legend at the small font, in points
ENTRY_POINTS = 34  # the handle and the gaps of one legend entry, in points
LEGEND_ROW_INCHES = 0.22  # height of one legend row at the small font


def new_figure(width: float, height: float) -> Figure:
    """A figure of `width` x `height` inches with constrained layout."""
    return Figure(figsize=(width, height), layout="constrained")


def save(figure: Figure, path: Path) -> Path:
    """Write `figure` to `path` at the report's DPI and return the path."""
    figure.savefig(path, dpi=DPI)
    return path


# matplotlib's default cycle without its grey (C7), which marks baselines.
PALETTE = ("C0", "C1", "C2", "C3", "C4", "C5", "C6", "C8", "C9")
BASELINE_COLOR = "C7"


SECOND_ROUND = ("-", "--", ":")  # line styles once the palette's colours repeat
SECOND_MARKERS = ("o", "s", "^")


def setting_color(index: int) -> str:
    """The colour of setting (or curve) `index`: the default cycle, grey left out."""
    return PALETTE[index % len(PALETTE)]


def setting_linestyle(index: int) -> str:
    """Solid for the first round of colours, then dashed, dotted: repeats stay apart."""
    return SECOND_ROUND[(index // len(PALETTE)) % len(SECOND_ROUND)]


def setting_marker(index: int) -> str:
    return SECOND_MARKERS[(index // len(PALETTE)) % len(SECOND_MARKERS)]


def legend_below(figure: Figure, handles: list[Any] | None = None,
                 labels: list[str] | None = None) -> None:
    """The figure's legend under its axes, outside the data, in as many columns as fit the
    figure's width (labels from every axes when not given); the figure grows by the legend's
    height, so the axes keep theirs."""
    if handles is None or labels is None:
        found = [a.get_legend_handles_labels() for a in figure.axes]
        handles = [h for hs, _ in found for h in hs]
        labels = [label for _, ls in found for label in ls]
        unique = dict(zip(labels, handles, strict=True))
        labels, handles = list(unique), list(unique.values())
    if not labels:
        return
    width = figure.get_figwidth() * 72 * 0.95
    entry = ENTRY_POINTS + CHAR_POINTS * max(len(label) for label in labels)
    columns = max(1, min(len(labels), int(width // entry)))
    rows = -(-len(labels) // columns)
    figure.set_figheight(figure.get_figheight() + LEGEND_ROW_INCHES * rows)
    figure.legend(handles, labels, loc="outside lower center", ncols=columns,
                  fontsize="small", frameon=False)
