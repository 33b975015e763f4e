"""The matplotlib conventions every report image shares (plots and cell drawings alike).

Kept apart from figures.py so that cells.py can draw with them while figures.py labels alpha
rows with the cells' state names, without the two importing each other. Every image uses
matplotlib's object API (`Figure`, Agg), never pyplot's global state.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

DPI = 120


def new_figure(width: float, height: float) -> Figure:
    """A figure of `width` x `height` inches with constrained layout."""
    return Figure(figsize=(width, height), layout="constrained")


def save(figure: Figure, path: Path) -> Path:
    """Write `figure` to `path` at the report's DPI and return the path."""
    figure.savefig(path, dpi=DPI)
    return path


def setting_color(index: int) -> str:
    """The colour of setting `index` (matplotlib's default cycle)."""
    return f"C{index % 10}"
