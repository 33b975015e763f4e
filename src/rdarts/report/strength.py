"""The found cells against a regularisation strength: the paper's Figures 4 and 5 (S1-S4 test
error and lambda_max against ScheduledDropPath and L2), Figure 16 (test perplexity of the
recurrent cells against L2) and Tables 3 and 4 (S6 EPE against the augmentation scale and L2).

When the report's settings differ in one numeric setting (a sweep's grid axis), this figure
puts it on the x axis: the test value of every found cell (one point per seed, a line through
the medians), the one-shot validation value and lambda_max at the end of the search. Settings
that also differ in other keys (space, method) become separate lines.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rdarts.report.labels import format_value
from rdarts.report.records import SearchRun, finite
from rdarts.report.style import legend_below, new_figure, save, setting_color, setting_marker
from rdarts.report.tables import LABEL_SHORT, Setting, metric_groups

# Grid axes of the paper's regularisation studies, preferred as the x axis in this order.
STRENGTHS = ("weight_decay", "drop_path", "augment_scale", "cutout_prob", "ada_eta")
SHOWN = {"weight_decay": "L2 factor (weight decay)", "drop_path": "ScheduledDropPath "
         "probability", "augment_scale": "augmentation scale F", "cutout_prob": "Cutout "
         "probability"}


def strength_axis(settings: list[Setting]) -> tuple[str, list[str]] | None:
    """(the x key, the other keys that differ) when the settings vary in a numeric setting
    with at least two values; None otherwise."""
    configs = [s.config for s in settings]
    keys = list(dict.fromkeys(k for c in configs for k in c))
    differing = [k for k in keys if len({format_value(c.get(k)) for c in configs}) > 1]
    numeric = [k for k in differing
               if all(finite(c.get(k)) for c in configs)]
    if not numeric:
        return None
    x_key = next((k for k in STRENGTHS if k in numeric), numeric[0])
    return x_key, [k for k in differing if k != x_key]


def _series(settings: list[Setting], x_key: str,
            others: list[str]) -> dict[str, list[tuple[float, Setting]]]:
    """Settings by the values of the other differing keys, each sorted by strength."""
    lines: dict[str, list[tuple[float, Setting]]] = {}
    for setting in settings:
        config = setting.config
        label = " ".join(f"{LABEL_SHORT.get(k, k)}={format_value(config.get(k))}"
                         for k in others) or "all runs"
        lines.setdefault(label, []).append((float(config[x_key]), setting))
    return {label: sorted(points, key=lambda p: p[0]) for label, points in lines.items()}


def _panels(metric_label: str) -> list[tuple[str, Callable[[SearchRun], float | None]]]:
    return [(f"test {metric_label} of the found cell", lambda r: r.test_value),
            (f"one-shot validation {metric_label} (end)", lambda r: r.final_one_shot),
            ("lambda_max (end of search)", lambda r: r.final_lambda_max)]


def plot_strength(settings: list[Setting], path: Path) -> Path | None:
    """The figure (see the module docstring) for the report's first metric; None when the
    settings do not vary in a numeric setting or no run has a value to show."""
    from matplotlib.ticker import NullFormatter

    if not settings:
        return None
    group = metric_groups(settings)[0]
    axis = strength_axis(group)
    if axis is None:
        return None
    x_key, others = axis
    lines = _series(group, x_key, others)
    named = len(lines) > 1  # one line needs no legend
    panels = [(title, value) for title, value in _panels(group[0].runs[0].metric.label)
              if any(value(r) is not None for s in group for r in s.runs)]
    if not panels:
        return None
    figure = new_figure(6.5, 2.6 * len(panels) + 1.0)
    axes_list = np.atleast_1d(figure.subplots(len(panels), 1, sharex=True))
    for axes, (title, value) in zip(axes_list, panels, strict=True):
        for index, (label, points) in enumerate(lines.items()):
            _draw_line(axes, points, value, index, label if named else None)
        axes.set_ylabel(title, fontsize="small")
        axes.grid(alpha=0.3)
        shown = [v for s in group for v in map(value, s.runs) if v is not None]
        if min(shown) > 0 and max(shown) / min(shown) >= 1e3:
            axes.set_yscale("log")  # a diverged search's lambda_max beside stable ones
    strengths = [x for points in lines.values() for x, _ in points]
    if min(strengths) > 0 and max(strengths) / min(strengths) >= 10:
        axes_list[-1].set_xscale("log")
    axes_list[-1].set_xticks(sorted(set(strengths)))
    axes_list[-1].set_xticklabels([f"{x:g}" for x in sorted(set(strengths))], fontsize="small")
    axes_list[-1].xaxis.set_minor_formatter(NullFormatter())  # only the swept values labelled
    axes_list[-1].set_xlabel(SHOWN.get(x_key, x_key))
    axes_list[0].set_title(f"Found cells against {SHOWN.get(x_key, x_key)} (points: seeds; "
                           "line: median)", fontsize="medium")
    legend_below(figure)
    return save(figure, path)


def _draw_line(axes: Any, points: list[tuple[float, Setting]],
               value: Callable[[SearchRun], float | None], index: int,
               label: str | None) -> None:
    """Every seed as a faint point and the medians over seeds joined by a line."""
    color, marker = setting_color(index), setting_marker(index)
    medians = []
    for x, setting in points:
        values = [v for v in map(value, setting.runs) if v is not None]
        if values:
            axes.scatter([x] * len(values), values, color=color, marker=marker, alpha=0.4, s=22)
            medians.append((x, float(np.median(values))))
    if medians:
        xs, ys = zip(*medians, strict=True)
        axes.plot(xs, ys, color=color, marker=marker, label=label)  # legend_below dedups


def strength_rows(settings: list[Setting]) -> list[dict[str, Any]] | None:
    """table_strength.csv: per setting, the strength, the other keys' line label and the
    median over seeds of each panel's value (the numbers behind the figure)."""
    if not settings:
        return None
    group = metric_groups(settings)[0]
    axis = strength_axis(group)
    if axis is None:
        return None
    x_key, others = axis
    metric = group[0].runs[0].metric
    rows = []
    for label, points in _series(group, x_key, others).items():
        for x, setting in points:
            row: dict[str, Any] = {"line": label, x_key: x, "seeds": len(setting.runs)}
            for key, getter in ((metric.csv_key("test"), lambda r: r.test_value),
                                (metric.csv_key("one_shot_val"), lambda r: r.final_one_shot),
                                ("lambda_max_end", lambda r: r.final_lambda_max)):
                values = [v for v in map(getter, setting.runs) if v is not None]
                row[f"{key}_median"] = round(float(np.median(values)), 6) if values else ""
                row[f"{key}_n"] = len(values)
            rows.append(row)
    return rows
