"""The figures of single search runs (softmax(alpha) per cell type, the found cells), and which
runs get them.

A sweep of hundreds of runs would bury report.md in images, so at most MAX_RUN_FIGURES runs
are drawn, never silently: the runs that matter first (each selection's chosen candidate and one
seed of every stand-alone setting, then one seed of the other settings, then the rest), and a
table in report.md names every run, the figures it got and why it got none or fewer.
"""

from __future__ import annotations

from pathlib import Path

from rdarts.domains.registry import get_domain
from rdarts.errors import RdartsError
from rdarts.report.alpha import plot_alpha
from rdarts.report.cells import cell_types, write_cell
from rdarts.report.records import SearchRun
from rdarts.report.tables import Section, Setting, markdown_table

MAX_RUN_FIGURES = 12  # search runs whose alpha figures and cell diagrams are drawn


def over_cap(cap: int) -> str:
    """Why a run got no figures although it has the data."""
    return (f"not drawn: at most {cap} runs get figures (chosen candidates and one seed per "
            "setting first)")


def figure_order(settings: list[Setting]) -> list[SearchRun]:
    """Every search run, the ones to draw first: chosen candidates and the first seed of each
    stand-alone setting, then the first seed of the other settings, then the rest."""
    def tier(setting: Setting, position: int, run: SearchRun) -> int:
        if run.chosen or (position == 0 and run.selection is None):
            return 0
        return 1 if position == 0 else 2

    ranked = [(tier(s, i, r), n, r) for n, (s, i, r) in enumerate(
        (s, i, r) for s in settings for i, r in enumerate(s.runs))]
    return [run for *_, run in sorted(ranked, key=lambda item: item[:2])]


def run_cell_types(run: SearchRun) -> list[str]:
    """The cell types a run logged alphas or a genotype for, in order of appearance (normal,
    reduce today; whatever a space's cells are called, never a fixed list)."""
    logged = [name for r in run.metrics for name in (r.get("alpha_softmax") or {})]
    return list(dict.fromkeys([*logged, *cell_types(run.genotype or {})]))


def cell_keeps(run: SearchRun, cell_type: str) -> list[int] | None:
    """Kept edges per node of a cell type, as the run's domain lays it out (None when the
    domain or the cell type is unknown: the drawing then infers them)."""
    try:
        layouts = get_domain(run.config.get("domain")).layouts
    except RdartsError:
        return None
    layout = next((layout for layout in layouts if layout.name == cell_type), None)
    concat = (run.genotype or {}).get(f"{cell_type}_concat")
    if layout is None or not isinstance(concat, list) or not concat:
        return None
    return list(layout.keeps(len(concat)))


def _image(path: Path) -> str:
    return f"![{path.stem}]({path.name})"


Drawn = dict[str, list[tuple[str, Path]]]  # 'alpha', 'cells', 'files': (cell type, file)


def _draw(run: SearchRun, out: Path) -> tuple[Drawn, list[str]]:
    """The run's alpha figures and cell diagrams (plus .dot sources in 'files'), and what is
    missing and why."""
    drawn: Drawn = {"alpha": [], "cells": [], "files": []}
    for cell_type in run_cell_types(run):
        path = plot_alpha(run, cell_type, out / f"alpha_{run.name}_{cell_type}.png")
        if path:
            drawn["alpha"].append((cell_type, path))
        if run.genotype and run.genotype.get(cell_type):
            files = write_cell(run.genotype, cell_type, out, f"cells_{run.name}_{cell_type}",
                               cell_keeps(run, cell_type))
            drawn["cells"].append((cell_type, files[-1]))
            drawn["files"] += [(cell_type, f) for f in files[:-1]]
    missing = []
    if not drawn["alpha"]:
        missing.append(f"no alpha figure: its metrics log no softmax(alpha) ({run.method})")
    if not drawn["cells"]:
        missing.append("no cell diagram: no genotype yet")
    return drawn, missing


def _links(drawn: Drawn) -> str:
    """'alpha: [normal](...), [reduce](...); cells: [normal](...), ...' or '-'."""
    parts = [f"{kind}: " + ", ".join(f"[{cell}]({path.name})" for cell, path in drawn[kind])
             for kind in ("alpha", "cells") if drawn[kind]]
    return "; ".join(parts) or "-"


def run_sections(settings: list[Setting], out: Path,
                 cap: int | None = None) -> tuple[list[Section], list[Path]]:
    """The per-run figures table, the alpha figures and the cell diagrams of at most `cap`
    runs (MAX_RUN_FIGURES)."""
    cap = MAX_RUN_FIGURES if cap is None else cap
    order = figure_order(settings)
    drawn = {id(run): _draw(run, out) for run in order[:cap]}
    rows, alpha, cells, written = [], [], [], []
    for setting in settings:
        for run in setting.runs:
            figures, missing = drawn.get(id(run), ({"alpha": [], "cells": [], "files": []},
                                                   [over_cap(cap)]))
            rows.append([run.name, setting.label, _links(figures), "; ".join(missing) or "-"])
            alpha += [f"**{run.name}, {cell}**\n\n{_image(p)}" for cell, p in figures["alpha"]]
            cells += [f"**{run.name}, {cell}**\n\n{_image(p)}" for cell, p in figures["cells"]]
            written += [p for kind in ("alpha", "files", "cells") for _, p in figures[kind]]
    if not rows:
        return [], []
    sections = [Section("Per-run figures", f"Which search runs have figures below, and why a "
                        f"run has none or fewer ({min(len(order), cap)} of "
                        f"{len(order)} runs drawn).",
                        markdown_table(["run", "setting", "figures", "not drawn"], rows))]
    if alpha:
        sections.append(Section(
            "Architecture weights", "softmax(alpha) of every op (lines) on every edge (panels, "
            "each on its own scale) over the search epochs; dashed: the uniform weight.",
            "\n\n".join(alpha)))
    if cells:
        sections.append(Section(
            "Found cells", "The genotype each search returned: its kept (op, source) edges per "
            "intermediate node, all intermediate nodes concatenated into c_{k}.",
            "\n\n".join(cells)))
    return sections, written
