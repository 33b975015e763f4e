"""Figure 2: the test regret of the architecture each method returns, over the search epochs.

One curve per method (DARTS, DARTS-ES, DARTS-ADA, RS-ws), mean over seeds with shaded std; the
legend names methods, the settings are in the tables. A DARTS-ES search that simulated its stop
(`es_simulate`) records two answers: DARTS's, the architecture of every epoch, and DARTS-ES's,
the same until the rule fires and from its stop epoch on the architecture it returns. A
selection (R-DARTS) has one final architecture per run: its mean +- std is a band across the
epochs and each run a marker at the end. The grey line is the expected regret of a uniformly
random architecture of the table, the level a search has to beat. Searches run inside a
selection are its candidates: the selection's band stands for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import MaxNLocator

from rdarts.report.benchmark import random_regret
from rdarts.report.records import SearchRun, SelectionRun
from rdarts.report.style import BASELINE_COLOR, legend_below, new_figure, save, setting_color
from rdarts.report.tables import Setting

METHOD_NAMES = {"darts": "DARTS", "darts-es": "DARTS-ES", "darts-ada": "DARTS-ADA",
                "rs-ws": "RS-ws", "r-darts": "R-DARTS"}
LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P")
BAND_LINE = (0, (6, 2, 1, 2))  # dash-dot: a selection's mean final regret
STAR_STEP = 0.6  # epochs between the selections' columns of stars, right of the last epoch


@dataclass(frozen=True)
class Curve:
    """A method's regret per epoch in every run (percentage points), drawn as mean +- std."""

    label: str
    series: tuple[dict[int, float], ...]


@dataclass(frozen=True)
class Band:
    """A selection protocol's final regrets (points), one per selection run."""

    label: str
    values: tuple[float, ...]
    last_epoch: int


def method_name(method: str) -> str:
    """'darts-es' -> 'DARTS-ES'; a protocol 'r-darts(dp)' -> 'R-DARTS (DP)'."""
    base, _, rest = method.partition("(")
    name = METHOD_NAMES.get(base, base)
    return f"{name} ({rest.rstrip(')').upper()})" if rest else name


def darts_regret(run: SearchRun) -> dict[int, float] | None:
    """DARTS's answer every epoch: a DARTS search's regrets, or a DARTS-ES search's when it ran
    to the end (simulated stop, or the rule never fired)."""
    if not run.test_regret or run.method not in ("darts", "darts-es"):
        return None
    if run.method == "darts-es" and run.early_stop and not run.config.get("es_simulate"):
        return None
    return run.test_regret


def es_regret(run: SearchRun) -> dict[int, float] | None:
    """DARTS-ES's answer every epoch: the epoch's architecture until the rule fires, from the
    stop epoch (decided_at) to the last epoch the architecture it returns (DARTS's answer when
    the rule never fired)."""
    regrets = run.test_regret
    gives = run.method == "darts-es" or bool(run.config.get("es_simulate"))
    if not regrets or not gives or not run.answers_es:
        return None
    stop = run.early_stop
    if stop is None:
        return regrets
    decided = stop.get("decided_at")
    value = run.es_test_regret if run.es_decision else None
    if value is None:
        value = regrets.get(stop.get("return_epoch"))  # the return epoch's logged regret
    if decided is None or value is None:
        return regrets
    last = max(max(regrets), int(run.config.get("epochs") or 0) - 1)
    return {**{e: v for e, v in regrets.items() if e < decided},
            **dict.fromkeys(range(int(decided), last + 1), value)}


def _setting_curves(setting: Setting) -> list[tuple[str, list[dict[int, float]]]]:
    runs = [r for r in setting.runs if r.selection is None]
    method = setting.config.get("method", "darts")
    if method in ("darts", "darts-es"):
        found = [("DARTS", [darts_regret(r) for r in runs]),
                 ("DARTS-ES", [es_regret(r) for r in runs])]
    else:
        found = [(method_name(str(method)), [r.test_regret for r in runs])]
    return [(label, [s for s in series if s]) for label, series in found
            if any(series)]


def regret_curves(settings: list[Setting]) -> list[Curve]:
    """One curve per method and setting; a method drawn for several settings gets the
    setting's label after its name."""
    found = [(label, setting, series) for setting in settings
             for label, series in _setting_curves(setting)]
    labels = [label for label, _, _ in found]
    return [Curve(label if labels.count(label) == 1 else f"{label} ({setting.label})",
                  tuple(series)) for label, setting, series in found]


def selection_bands(selections: list[SelectionRun]) -> list[Band]:
    """One band per selection protocol, space and dataset with a test regret."""
    groups: dict[str, list[SelectionRun]] = {}
    for run in selections:
        if run.test_regret is not None:
            groups.setdefault(run.setting, []).append(run)
    names = [method_name(str(g[0].config.get("protocol"))) for g in groups.values()]
    return [Band(name if names.count(name) == 1 else f"{name} {setting}",
                 tuple(r.test_regret for r in members if r.test_regret is not None),
                 int(members[0].first_candidate.get("epochs") or 1) - 1)
            for name, (setting, members) in zip(names, groups.items(), strict=True)]


def random_baselines(settings: list[Setting], selections: list[SelectionRun]) -> dict[str, float]:
    """{table name: expected regret of a random architecture (points)} over the runs' tables."""
    tables = [r.benchmark for s in settings for r in s.runs] + [r.benchmark for r in selections]
    found = {}
    for table in tables:
        value = random_regret(table)
        if table is not None and value is not None:
            found.setdefault(str(getattr(table, "name", "table")), value)
    return found


def _mean_std(series: tuple[dict[int, float], ...]) -> tuple[np.ndarray, ...]:
    epochs = sorted({e for s in series for e in s})
    values = [[s[e] for s in series if e in s] for e in epochs]
    return (np.asarray(epochs), np.asarray([np.mean(v) for v in values]),
            np.asarray([np.std(v) for v in values]))


def _draw_curves(axes: Any, curves: list[Curve]) -> None:
    for index, curve in enumerate(curves):
        epochs, mean, std = _mean_std(curve.series)
        color = setting_color(index)
        runs = len(curve.series)
        axes.plot(epochs, mean, color=color, linestyle=LINESTYLES[index % len(LINESTYLES)],
                  marker=MARKERS[index % len(MARKERS)], markersize=4, linewidth=1.6,
                  label=f"{curve.label} ({runs} run{'s' * (runs > 1)})")
        axes.fill_between(epochs, np.maximum(mean - std, 0), mean + std, color=color,
                          alpha=0.1, linewidth=0)


def _draw_bands(axes: Any, bands: list[Band], start: int, span: tuple[float, float]) -> None:
    for offset, band in enumerate(bands):
        color = setting_color(start + offset)
        mean, std = float(np.mean(band.values)), float(np.std(band.values))
        axes.fill_between(span, max(mean - std, 0), mean + std, color=color, alpha=0.15,
                          linewidth=0)
        axes.plot(span, (mean, mean), color=color, linestyle=BAND_LINE, linewidth=1.4)
        runs = len(band.values)
        x = span[1] - STAR_STEP * (len(bands) - offset) + 0.25 * STAR_STEP * (
            np.arange(runs) - (runs - 1) / 2) / max(runs - 1, 1)  # equal values stay apart
        star = {"marker": "*", "markersize": 11, "color": color, "markeredgecolor": "black",
                "markeredgewidth": 0.5}
        axes.plot(x, band.values, linestyle="none", **star)
        axes.plot([], [], linestyle=BAND_LINE, linewidth=1.4, **star,
                  label=f"{band.label}, final ({runs} run{'s' * (runs > 1)})")


def plot_regret(settings: list[Setting], path: Path,
                selections: list[SelectionRun] | None = None) -> Path | None:
    """Figure 2's layout: regret curves per method, selection bands, random baseline."""
    curves, bands = regret_curves(settings), selection_bands(selections or [])
    if not curves and not bands:
        return None
    figure = new_figure(9.5, 4.8)
    axes = figure.subplots()
    _draw_curves(axes, curves)
    ends = [max(s) for c in curves for s in c.series] or [b.last_epoch for b in bands]
    span = (0.0, float(max(ends)) + (STAR_STEP * len(bands) + 0.2 if bands else 0.0))
    _draw_bands(axes, bands, len(curves), span)
    for name, value in random_baselines(settings, selections or []).items():
        axes.axhline(value, color=BASELINE_COLOR, linestyle="--", linewidth=1.5,
                     label=f"random architecture ({name}): {value:.2f}")
    axes.set_xlim(span[0] - 0.5, span[1] + 0.5)
    axes.set_ylim(bottom=0)
    axes.set_xlabel("search epoch")
    axes.set_ylabel("test regret (percentage points)")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title("Test regret of the architecture each method returns (mean \u00b1 std over "
                   "seeds)", fontsize="medium")
    axes.grid(alpha=0.3)
    legend_below(figure)
    return save(figure, path)
