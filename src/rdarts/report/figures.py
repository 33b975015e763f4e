"""The report's figures over settings: the paper's plots of lambda_max, test error against
lambda_max, the Hessian spectrum and the discretisation drop (regret.py draws Figure 2,
alpha.py the architecture weights of one run).

Each `plot_*` takes the settings and a path, and returns the written PNG, or None when no run
has the data (a report of two quick searches simply has fewer figures; report.md says why).
Shared conventions (DPI, layout, colours) come from `rdarts.report.style`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from rdarts.report.records import SearchRun, finite
from rdarts.report.style import (
    BASELINE_COLOR,
    legend_below,
    new_figure,
    save,
    setting_color,
    setting_linestyle,
    setting_marker,
)
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
                             (error_axes, [r.one_shot_series for r in setting.runs])):
            series = [s for s in logged if s]
            if not series:
                continue
            epochs, mean, std = epoch_statistics(series)
            axes.plot(epochs, mean, color=color, linestyle=setting_linestyle(index), marker=".",
                      label=setting.label)
            axes.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.1,
                              linewidth=0)
            for run in setting.runs:
                stop = run.early_stop
                if stop is None or stop.get("return_epoch") not in epochs:
                    continue
                at = int(np.flatnonzero(epochs == stop["return_epoch"])[0])
                axes.plot(epochs[at], mean[at], marker="o", markersize=9, color=color,
                          markerfacecolor="none", markeredgewidth=2)
                marked = True
    if marked:  # one legend entry, after the settings
        lambda_axes.plot([], [], marker="o", markersize=9, color="black", linestyle="none",
                         markerfacecolor="none", markeredgewidth=2, label="DARTS-ES return epoch")
    _log_scale_if_wide(lambda_axes)
    lambda_axes.set_ylabel("lambda_max")
    lambda_axes.set_title("Dominant Hessian eigenvalue during the search (mean \u00b1 std over "
                          "seeds)", fontsize="medium")
    legend_below(figure)
    metrics = {r.metric for s in settings for r in s.runs}
    error_axes.set_ylabel(f"one-shot validation {metrics.pop().label}" if len(metrics) == 1
                          else "one-shot validation value (each run's metric)")
    error_axes.set_xlabel("epoch")
    error_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    for axes in (lambda_axes, error_axes):
        axes.grid(alpha=0.3)
    return save(figure, path)


def _log_scale_if_wide(axes: Any) -> None:
    """A log axis when the drawn means span three decades (a diverged search's lambda_max
    beside stable ones would flatten them to zero); symlog when some are not positive."""
    values = np.concatenate([line.get_ydata() for line in axes.get_lines()] or [[]])
    values = values[np.isfinite(values)]
    positive = values[values > 0]
    if positive.size == 0 or positive.max() / positive.min() < 1e3:
        return
    if (values <= 0).any():
        axes.set_yscale("symlog", linthresh=float(positive.min()))
    else:
        axes.set_yscale("log")


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
    """(setting index, run, mean lambda_max over the search, test value) per evaluated run,
    for the settings of the first metric (Figure 15 compares like with like)."""
    points = []
    metric = next((r.metric for s in settings for r in s.runs), None)
    for index, setting in enumerate(settings):
        for run in setting.runs:
            if run.metric == metric and run.mean_lambda_max is not None \
                    and run.test_value is not None:
                points.append((index, run, run.mean_lambda_max, run.test_value))
    return points


def plot_test_error_vs_lambda(settings: list[Setting], path: Path) -> Path | None:
    """Figure 15: test error of the found architecture against the average lambda_max of its
    search, one point per run, Pearson coefficient in the title."""
    points = lambda_test_points(settings)
    if not points:
        return None
    r = pearson([(x, y) for _, _, x, y in points])
    r_text = "n/a" if r is None else f"{r:.3f}"
    label = points[0][1].metric.label
    return _scatter_by_setting(
        settings, points, path,
        f"Test {label} vs. average lambda_max (Pearson r = {r_text}, n = {len(points)})",
        "lambda_max averaged over the search", f"test {label}{_source_note(points)}")


def _source_note(points: list[tuple[int, SearchRun, float, float]]) -> str:
    """' (s5-cpu table)' when every test error comes from that table, not a training."""
    sources = {run.test_source for _, run, _, _ in points}
    return f" ({sources.pop()} table)" if len(sources) == 1 and "eval" not in sources else ""


def _scatter_by_setting(settings: list[Setting], points: list[tuple[int, Any, float, float]],
                        path: Path, title: str, xlabel: str, ylabel: str) -> Path:
    """One colour per setting; `points` are (setting index, run, x, y)."""
    figure = new_figure(6.5, 4.8)
    axes = figure.subplots()
    for index, setting in enumerate(settings):
        mine = [(x, y) for i, _, x, y in points if i == index]
        if mine:
            xs, ys = zip(*mine, strict=True)
            axes.scatter(xs, ys, color=setting_color(index), marker=setting_marker(index),
                         label=setting.label, s=40)
    axes.set_title(title, fontsize="medium")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    legend_below(figure)
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
                  linestyle=setting_linestyle(index),
                  label=f"{setting.label} ({len(spectra)} run{'s' * (len(spectra) > 1)})")
        drawn = True
    if not drawn:
        return None
    axes.axhline(0, color=BASELINE_COLOR, linewidth=0.8)
    axes.set_title("Hessian eigenvalues of largest magnitude at the last saved epoch",
                   fontsize="medium")
    axes.set_xlabel("rank by magnitude")
    axes.set_ylabel("eigenvalue")
    axes.grid(alpha=0.3)
    legend_below(figure)
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


def gradient_check_series(run: SearchRun) -> dict[float, dict[int, float]]:
    """{r: {epoch: relative difference}} of the run's hypergradient checks."""
    found: dict[float, dict[int, float]] = {}
    for record in run.metrics:
        check = record.get("hypergradient_check")
        if not isinstance(check, dict) or "epoch" not in record:
            continue
        for r, value in zip(check.get("r", []), check.get("relative_difference", []),
                            strict=False):
            if finite(value):
                found.setdefault(float(r), {})[int(record["epoch"])] = float(value)
    return found


def plot_gradient_check(settings: list[Setting], path: Path) -> Path | None:
    """The finite-difference hypergradient's relative distance from the exact one over the
    search (`gradient_check_every`), per setting (mean over seeds) and radius r."""
    figure = new_figure(6.5, 4.5)
    axes = figure.subplots()
    drawn = False
    for index, setting in enumerate(settings):
        by_radius: dict[float, list[dict[int, float]]] = {}
        for run in setting.runs:
            for r, series in gradient_check_series(run).items():
                by_radius.setdefault(r, []).append(series)
        for rank, (r, series) in enumerate(sorted(by_radius.items(), reverse=True)):
            epochs, mean, _ = epoch_statistics(series)
            axes.plot(epochs, mean, color=setting_color(index), marker=setting_marker(rank),
                      linestyle=("-", "--", ":")[rank % 3], label=f"{setting.label}, r = {r:g}")
            drawn = True
    if not drawn:
        return None
    axes.set_yscale("log")
    axes.set_title("Finite-difference vs. exact hypergradient: ||g_fd - g_exact|| / ||g_exact||",
                   fontsize="medium")
    axes.set_xlabel("epoch")
    axes.set_ylabel("relative difference")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3, which="both")
    legend_below(figure)
    return save(figure, path)
