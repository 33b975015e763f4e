"""The report's figures: the paper's plots of lambda_max, regret, test error against lambda_max,
the Hessian spectrum and the discretisation drop, and softmax(alpha) heat maps per search run.

Each `plot_*` takes the settings (or one run) and a path, and returns the written PNG, or None
when no run has the data (a report of two quick searches simply has fewer figures). Shared
conventions (DPI, layout, colours) come from `rdarts.report.style`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from rdarts.core.space import edge_endpoints
from rdarts.domains.registry import get_domain
from rdarts.errors import RdartsError
from rdarts.report.cells import state_name
from rdarts.report.collect import SearchRun, finite
from rdarts.report.style import new_figure, save, setting_color
from rdarts.report.tables import Setting


def epoch_statistics(series: list[dict[int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per epoch, mean and std over the runs that logged it (runs may stop early)."""
    epochs = sorted({e for s in series for e in s})
    values = [[s[e] for s in series if e in s] for e in epochs]
    return (np.asarray(epochs), np.asarray([np.mean(v) for v in values]),
            np.asarray([np.std(v) for v in values]))


def plot_lambda_max(settings: list[Setting], path: Path) -> Path | None:
    """Figures 3/11: lambda_max and one-shot validation error over the search epochs, mean over
    seeds with shaded std; the DARTS-ES return epochs are marked."""
    if not any(r.series("lambda_max") for s in settings for r in s.runs):
        return None
    figure = new_figure(7.5, 6.5)
    lambda_axes, error_axes = figure.subplots(2, 1, sharex=True)
    marked = False
    for index, setting in enumerate(settings):
        color = setting_color(index)
        for axes, logged in ((lambda_axes, [r.series("lambda_max") for r in setting.runs]),
                             (error_axes, [r.one_shot_val_error for r in setting.runs])):
            series = [s for s in logged if s]
            if not series:
                continue
            epochs, mean, std = epoch_statistics(series)
            axes.plot(epochs, mean, color=color, marker=".", label=setting.label)
            axes.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.2)
            for run in setting.runs:
                stop = run.early_stop
                if stop is None or stop.get("return_epoch") not in epochs:
                    continue
                at = int(np.flatnonzero(epochs == stop["return_epoch"])[0])
                axes.plot(epochs[at], mean[at], marker="o", markersize=9, color=color,
                          markerfacecolor="none", markeredgewidth=2,
                          label=None if marked else "DARTS-ES return epoch")
                marked = True
    lambda_axes.set_ylabel("lambda_max")
    lambda_axes.set_title("Dominant Hessian eigenvalue during the search (mean +- std over seeds)")
    lambda_axes.legend(fontsize="small")
    error_axes.set_ylabel("one-shot validation error (%)")
    error_axes.set_xlabel("epoch")
    error_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    for axes in (lambda_axes, error_axes):
        axes.grid(alpha=0.3)
    return save(figure, path)


def plot_regret(settings: list[Setting], path: Path) -> Path | None:
    """Figure 2 layout: test regret of each epoch's architecture (solid, left axis) and the
    one-shot validation error (dashed, right axis) over the search, mean +- std over seeds."""
    if not any(r.test_regret for s in settings for r in s.runs):
        return None
    figure = new_figure(7.5, 4.5)
    regret_axes = figure.subplots()
    error_axes = regret_axes.twinx()
    for index, setting in enumerate(settings):
        color = setting_color(index)
        regrets = [r.test_regret for r in setting.runs if r.test_regret]
        if regrets:
            epochs, mean, std = epoch_statistics(regrets)
            regret_axes.plot(epochs, mean, color=color, marker=".", label=setting.label)
            regret_axes.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.2)
        errors = [r.one_shot_val_error for r in setting.runs if r.one_shot_val_error]
        if errors:
            epochs, mean, _ = epoch_statistics(errors)
            error_axes.plot(epochs, mean, color=color, linestyle="--", alpha=0.8)
    regret_axes.set_xlabel("epoch")
    regret_axes.set_ylabel("test regret (% points, solid)")
    error_axes.set_ylabel("one-shot validation error (%, dashed)")
    regret_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    regret_axes.set_title("Test regret on the S5 table during the search")
    regret_axes.grid(alpha=0.3)
    regret_axes.legend(fontsize="small")
    return save(figure, path)


def pearson(points: list[tuple[float, float]]) -> float | None:
    """Pearson correlation coefficient of (x, y) points; None if undefined (< 2 points or a
    constant coordinate)."""
    if len(points) < 2:
        return None
    x, y = np.asarray(points, dtype=float).T
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def lambda_test_points(settings: list[Setting]) -> list[tuple[int, SearchRun, float, float]]:
    """(setting index, run, mean lambda_max over the search, test error %) per evaluated run."""
    points = []
    for index, setting in enumerate(settings):
        for run in setting.runs:
            if run.mean_lambda_max is not None and run.test_error is not None:
                points.append((index, run, run.mean_lambda_max, run.test_error))
    return points


def plot_test_error_vs_lambda(settings: list[Setting], path: Path) -> Path | None:
    """Figure 15: test error of the found architecture against the average lambda_max of its
    search, one point per run, Pearson coefficient in the title."""
    points = lambda_test_points(settings)
    if not points:
        return None
    r = pearson([(x, y) for _, _, x, y in points])
    r_text = "n/a" if r is None else f"{r:.3f}"
    return _scatter_by_setting(
        settings, points, path,
        f"Test error vs. average lambda_max (Pearson r = {r_text}, n = {len(points)})",
        "lambda_max averaged over the search", "test error (%)")


def _scatter_by_setting(settings: list[Setting], points: list[tuple[int, Any, float, float]],
                        path: Path, title: str, xlabel: str, ylabel: str) -> Path:
    """One colour per setting; `points` are (setting index, run, x, y)."""
    figure = new_figure(6.5, 4.8)
    axes = figure.subplots()
    for index, setting in enumerate(settings):
        mine = [(x, y) for i, _, x, y in points if i == index]
        if mine:
            xs, ys = zip(*mine, strict=True)
            axes.scatter(xs, ys, color=setting_color(index), label=setting.label, s=40)
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return save(figure, path)


def plot_spectrum(settings: list[Setting], path: Path) -> Path | None:
    """Figure 13: the 30 largest-magnitude Hessian eigenvalues at the last saved epoch: per
    setting the mean over seeds (line) and every run (faint points)."""
    figure = new_figure(6.5, 4.5)
    axes = figure.subplots()
    drawn = False
    for index, setting in enumerate(settings):
        spectra = [s for s in (r.top_eigenvalues for r in setting.runs) if s]
        if not spectra:
            continue
        length = min(map(len, spectra))
        values = np.asarray([s[:length] for s in spectra])
        ranks = np.arange(1, length + 1)
        for run_values in values:
            axes.plot(ranks, run_values, linestyle="none", marker=".", alpha=0.35,
                      color=setting_color(index))
        axes.plot(ranks, values.mean(axis=0), marker="o", markersize=3, color=setting_color(index),
                  label=f"{setting.label} ({len(spectra)} run{'s' * (len(spectra) > 1)})")
        drawn = True
    if not drawn:
        return None
    axes.axhline(0, color="grey", linewidth=0.8)
    axes.set_title("Hessian eigenvalues of largest magnitude at the last saved epoch")
    axes.set_xlabel("rank by magnitude")
    axes.set_ylabel("eigenvalue")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return save(figure, path)


def discretization_points(settings: list[Setting]) -> list[tuple[int, SearchRun, float, float]]:
    """(setting index, run, lambda_max, drop in percentage points) per discretisation record
    whose epoch has a lambda_max."""
    points = []
    for index, setting in enumerate(settings):
        for run in setting.runs:
            for record in run.discretization:
                lambda_max = run.lambda_max_at(record.get("epoch", -1))
                if lambda_max is not None and finite(record.get("drop")):
                    points.append((index, run, lambda_max, 100.0 * record["drop"]))
    return points


def plot_discretization(settings: list[Setting], path: Path) -> Path | None:
    """Figure 6: the accuracy drop of discretising the one-shot model against lambda_max at the
    same epoch."""
    points = discretization_points(settings)
    if not points:
        return None
    return _scatter_by_setting(settings, points, path, "Discretisation drop vs. lambda_max",
                               "lambda_max at the same epoch",
                               "one-shot minus discretised validation accuracy (points)")


def alpha_row_labels(run: SearchRun, cell_type: str, edges: int, ops: int) -> list[str]:
    """'node <- source: op' for every alpha entry, with op names from the run's space."""
    nodes = int((math.isqrt(9 + 8 * edges) - 3) // 2)  # E = N (N + 3) / 2
    try:
        space = get_domain(run.config.get("domain")).space(run.config["space"],
                                                            run.config.get("nodes"))
        op_names = [list(e) for e in space.edges(cell_type)]
    except (RdartsError, OSError, KeyError):
        op_names = []  # a space file that moved: label ops by position
    endpoints = edge_endpoints(nodes) if nodes * (nodes + 3) // 2 == edges else []
    labels = []
    for edge in range(edges):
        where = (f"{endpoints[edge][0]} <- {state_name(endpoints[edge][1])}" if endpoints
                 else f"edge {edge}")
        for op in range(ops):
            fits = edge < len(op_names) and len(op_names[edge]) == ops
            labels.append(f"{where}: {op_names[edge][op] if fits else f'op {op}'}")
    return labels


def plot_alpha(run: SearchRun, cell_type: str, path: Path) -> Path | None:
    """softmax(alpha) of one cell over the search epochs (x: epoch, y: edge/op entries), the
    architecture weights behind the paper's discussion of Figures 3 and 7."""
    records = [r for r in run.metrics if (r.get("alpha_softmax") or {}).get(cell_type)]
    if not records:
        return None
    matrices = [np.asarray(r["alpha_softmax"][cell_type], dtype=float) for r in records]
    edges, ops = matrices[-1].shape
    matrices = [m for m in matrices if m.shape == (edges, ops)]
    records = [r for r in records if np.shape(r["alpha_softmax"][cell_type]) == (edges, ops)]
    values = np.stack([m.reshape(-1) for m in matrices], axis=1)
    labels = alpha_row_labels(run, cell_type, edges, ops)
    epochs = [int(r.get("epoch", i)) for i, r in enumerate(records)]
    figure = new_figure(min(4 + 0.25 * len(epochs), 16), 1.5 + 0.16 * len(labels))
    axes = figure.subplots()
    image = axes.imshow(values, aspect="auto", cmap="viridis", vmin=0, vmax=1,
                        interpolation="nearest")
    axes.set_yticks(range(len(labels)), labels, fontsize=6)
    step = max(1, len(epochs) // 12)
    axes.set_xticks(range(0, len(epochs), step), [str(e) for e in epochs[::step]])
    axes.set_xlabel("epoch")
    axes.set_title(f"softmax(alpha), {cell_type} cell, {run.name}", fontsize="medium")
    figure.colorbar(image, ax=axes, label="softmax(alpha)")
    return save(figure, path)


