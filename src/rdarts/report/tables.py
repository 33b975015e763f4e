"""The report's tables: search settings, their labels, statistics over seeds, CSV and markdown.

A setting is a search configuration without its seed (and execution-only keys); its runs are the
seeds. The markdown tables show "mean +- std (median)" over them, the form of the paper's Tables
1, 2 and 5; the CSV files hold numbers a script can read (one `_mean`, `_std`, `_median` and
`_n` column per quantity), and runs.csv one row per search run. Units are in the column names:
errors in % (`_pct`), regrets in percentage points (`_points`), parameters in millions (`_m`).
Labels name only the keys that differ between settings and that the setting's method actually
reads, so a table stays readable when a sweep varies many options.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rdarts.report.benchmark import table_entry
from rdarts.report.collect import unique_names
from rdarts.report.labels import flat_config, format_value
from rdarts.report.metric import Metric, common_metric
from rdarts.report.records import SearchRun, SelectionRun
from rdarts.search.registry import setting_applies

LABEL_FIRST = ("space", "dataset", "method")  # shown as bare values in setting labels
LABEL_SHORT = {"weight_decay": "wd", "drop_path": "dp"}


@dataclass(frozen=True)
class Setting:
    """Search runs that differ only in their seed."""

    label: str
    config: dict[str, Any]
    runs: tuple[SearchRun, ...]


def key_applies(key: str, config: dict[str, Any]) -> bool:
    """Whether a configuration key can change what the run's method does (the method
    registry's rule: rs_* only for RS-ws, ada_* only for DARTS-ADA, ...)."""
    return setting_applies(key, config)


def setting_labels(configs: list[dict[str, Any]]) -> list[str]:
    """Short labels from the keys that differ between settings, e.g. 's1 cifar10 darts-es
    wd=0.0009' (space, dataset, method first as bare values). A key counts only among the
    settings whose method reads it (`key_applies`), so an RS-ws sample count never labels a
    DARTS setting."""
    relevant = [{k: v for k, v in c.items() if key_applies(k, c)} for c in configs]
    keys = list(dict.fromkeys(k for c in relevant for k in c))
    differing = [k for k in keys
                 if len({format_value(c[k]) for c in relevant if k in c}) > 1]
    if not differing:
        differing = [k for k in LABEL_FIRST if k in keys]
    ordered = [k for k in LABEL_FIRST if k in differing]
    ordered += [k for k in differing if k not in LABEL_FIRST]

    def label(config: dict[str, Any]) -> str:
        parts = [format_value(config.get(k)) if k in LABEL_FIRST
                 else f"{LABEL_SHORT.get(k, k)}={format_value(config.get(k))}"
                 for k in ordered if k in config or k in LABEL_FIRST]
        return " ".join(parts) or "search"

    return unique_names([label(c) for c in relevant], mark=" #")


def group_settings(searches: list[SearchRun]) -> list[Setting]:
    """Settings in order of first appearance; runs within one ordered by seed. A setting's
    config holds the domain's own settings beside the shared ones (`flat_config`), so that
    labels, the settings table and the strength axis name `augment_scale`, not the nested
    `domain_settings`."""
    groups: dict[str, list[SearchRun]] = {}
    for run in searches:
        groups.setdefault(json.dumps(run.setting, sort_keys=True, default=str), []).append(run)
    members = [sorted(g, key=lambda r: (str(r.seed), r.name)) for g in groups.values()]
    configs = [flat_config(g[0].setting) for g in members]
    labels = setting_labels(configs)
    return [Setting(label, config, tuple(g))
            for label, config, g in zip(labels, configs, members, strict=True)]


@dataclass(frozen=True)
class Column:
    """One quantity of the search table: a per-run value, its header and its decimals."""

    key: str
    header: str
    decimals: int
    value: Callable[[SearchRun], float | None]


def search_columns(metric: Metric) -> tuple[Column, ...]:
    """Every quantity of the search table, the test and one-shot values in `metric`'s unit
    (Table 1's error %, Figure 16's perplexity, Tables 3 and 4's EPE)."""
    return (
        Column(metric.csv_key("test"), metric.header("Test") + " (DARTS)", metric.decimals,
               lambda r: r.test_value),
        Column(metric.csv_key("es_test"), metric.header("Test") + " (DARTS-ES)",
               metric.decimals, lambda r: r.es_test_value),
        Column(metric.csv_key("test_shift"), metric.header("Shifted-test") + " (DARTS)",
               metric.decimals, lambda r: r.split_value("test_shift")),
        Column(metric.csv_key("es_test_shift"), metric.header("Shifted-test") + " (DARTS-ES)",
               metric.decimals, lambda r: r.split_value("test_shift", early_stopping=True)),
        Column(metric.csv_key("one_shot_val"), metric.header("One-shot val.") + " (end)",
               metric.decimals, lambda r: r.final_one_shot),
        Column("parameters_m", "Params (M)", 3, lambda r: r.parameters),
        Column("lambda_max", "lambda_max (end)", 3, lambda r: r.final_lambda_max),
        Column("test_regret_points", "Test regret (points)", 2, lambda r: r.final_test_regret),
        Column("es_test_regret_points", "Test regret (points, DARTS-ES)", 2,
               lambda r: r.es_test_regret),
    )


STATISTICS = ("mean", "std", "median", "n")

Stats = dict[str, float] | None


def statistics(values: list[float]) -> Stats:
    """mean, std (population, ddof=0), median and count over seeds; None without values."""
    if not values:
        return None
    array = np.asarray(values, dtype=float)
    return {"mean": float(array.mean()), "std": float(array.std()),
            "median": float(np.median(array)), "n": len(values)}


def format_statistics(stats: Stats, decimals: int) -> str:
    """'mean +- std (median)' with fixed decimals, '-' without values."""
    if stats is None:
        return "-"
    d = decimals
    return f"{stats['mean']:.{d}f} +- {stats['std']:.{d}f} ({stats['median']:.{d}f})"


def csv_number(value: Any) -> Any:
    """A number as the CSV files hold it: rounded to 6 decimals, '' when missing."""
    if value is None:
        return ""
    return round(value, 6) if isinstance(value, float) else value


def numeric_cells(key: str, stats: Stats) -> dict[str, Any]:
    """`<key>_mean`, `_std`, `_median`, `_n` (n = 0 and empty cells without values)."""
    return {f"{key}_{name}": csv_number((stats or {}).get(name, 0 if name == "n" else None))
            for name in STATISTICS}


def settings_metric(settings: list[Setting]) -> Metric:
    """The metric of a group of settings (`metric_groups` keeps one metric per group)."""
    return common_metric([r.metric for s in settings for r in s.runs])


def metric_groups(items: list[Any]) -> list[list[Any]]:
    """Settings (or selection runs) grouped by metric, by score name: one table per metric,
    since a report may hold image runs (error %) beside language runs (perplexity)."""
    groups: dict[str, list[Any]] = {}
    for item in items:
        metric = item.runs[0].metric if isinstance(item, Setting) else item.metric
        groups.setdefault(metric.score, []).append(item)
    return [groups[score] for score in sorted(groups)]  # accuracy (images) first


def table_columns(settings: list[Setting]) -> list[Column]:
    """All columns, without DARTS-ES when no run has an early-stopping genotype and without
    regret when no run was scored against a tabular benchmark."""
    runs = [r for s in settings for r in s.runs]
    metric = settings_metric(settings)
    has_es = any(r.es_genotype is not None or r.evaluation_es is not None for r in runs)
    has_regret = any(r.final_test_regret is not None for r in runs)
    dropped = set()
    if not any(r.split_value("test_shift") is not None for r in runs):  # disparity only
        dropped |= {metric.csv_key("test_shift"), metric.csv_key("es_test_shift")}
    if not has_es:
        dropped |= {metric.csv_key("es_test"), metric.csv_key("es_test_shift"),
                    "es_test_regret_points"}
    if not has_regret:
        dropped |= {"test_regret_points", "es_test_regret_points"}
    return [c for c in search_columns(metric) if c.key not in dropped]


def setting_statistics(settings: list[Setting], columns: list[Column]) -> list[dict[str, Stats]]:
    """Per setting, the statistics over its seeds of every column (Tables 1 and 2)."""
    return [{c.key: statistics([v for v in map(c.value, s.runs) if v is not None])
             for c in columns} for s in settings]


def table_rows(settings: list[Setting], columns: list[Column]) -> list[dict[str, Any]]:
    """table_search.csv: setting, seeds, then mean, std, median and n of every column."""
    rows = []
    for setting, stats in zip(settings, setting_statistics(settings, columns), strict=True):
        row: dict[str, Any] = {"setting": setting.label, "seeds": len(setting.runs)}
        for column in columns:
            row.update(numeric_cells(column.key, stats[column.key]))
        rows.append(row)
    return rows


def markdown_rows(settings: list[Setting], columns: list[Column]) -> list[list[str]]:
    """The search table for report.md: 'mean +- std (median)' cells."""
    return [[s.label, str(len(s.runs)),
             *[format_statistics(stats[c.key], c.decimals) for c in columns]]
            for s, stats in zip(settings, setting_statistics(settings, columns), strict=True)]


def run_row(setting: Setting, run: SearchRun) -> dict[str, Any]:
    """One row of runs.csv: what a search found and how good it is."""
    stop = run.early_stop
    entry = table_entry(run.benchmark, run.genotype) or {}
    return {
        "run": run.name, "setting": setting.label, "seed": run.seed, "method": run.method,
        "space": run.config.get("space"), "dataset": run.config.get("dataset"),
        "selection": run.selection or "", "chosen": run.chosen if run.selection else "",
        "genotype": json.dumps(run.genotype, separators=(",", ":")) if run.genotype else "",
        "architecture": entry.get("architecture", ""),
        "es_return_epoch": stop.get("return_epoch") if stop else "",
        "es_decided_at": stop.get("decided_at") if stop else "",
        "score_name": run.score_name or "", "score": csv_number(run.final_score),
        run.metric.csv_key("test"): csv_number(run.test_value),
        "test_error_source": run.test_source or "",
        run.metric.csv_key("es_test"): csv_number(run.es_test_value),
        **({run.metric.csv_key("test_shift"): csv_number(run.split_value("test_shift"))}
           if run.split_value("test_shift") is not None else {}),
        "parameters_m": csv_number(run.parameters),
        "test_regret_points": csv_number(run.final_test_regret),
        "es_test_regret_points": csv_number(run.es_test_regret),
        "lambda_max_end": csv_number(run.final_lambda_max),
        "lambda_max_mean": csv_number(run.mean_lambda_max),
        "path": str(run.path),
    }


def run_rows(settings: list[Setting]) -> list[dict[str, Any]]:
    """runs.csv: one row per search run, settings in order, seeds within."""
    return [run_row(setting, run) for setting in settings for run in setting.runs]


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Rows of one table as CSV with a header line: every key of any row, in order of first
    appearance (runs of different metrics have different value columns), '' where missing."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(dict.fromkeys(k for r in rows for k in r)),
                                restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


@dataclass
class Section:
    """A report.md section: a heading, one sentence saying what is shown, and markdown (a table
    or images)."""

    title: str
    sentence: str
    body: str


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub markdown table; '|' inside cells is escaped."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
              for row in rows]
    return "\n".join(lines)


# ---- Table 5: selection protocols ----------------------------------------------------------


def selection_columns(metric: Metric) -> tuple[tuple[str, str, Callable[[SelectionRun],
                                                                    float | None]], ...]:
    """Table 5's quantities in `metric`'s unit: key, header, value."""
    return (
        (metric.csv_key("test"), metric.header("Test") + " (chosen cell)",
         lambda r: r.test_value),
        (metric.csv_key("val"), metric.header("Retraining val.") + " (chosen)",
         lambda r: r.val_value),
        ("test_regret_points", "Test regret (points)", lambda r: r.test_regret),
    )


def selection_groups(selections: list[SelectionRun]) -> dict[str, list[SelectionRun]]:
    """Selection runs by protocol, space and dataset (their seeds)."""
    groups: dict[str, list[SelectionRun]] = {}
    for run in selections:
        groups.setdefault(run.setting, []).append(run)
    return groups


def selection_statistics(members: list[SelectionRun]) -> dict[str, Stats]:
    columns = selection_columns(common_metric([r.metric for r in members]))
    return {key: statistics([v for v in map(value, members) if v is not None])
            for key, _, value in columns}


def selection_rows(selections: list[SelectionRun]) -> list[dict[str, Any]]:
    """table_selection.csv (Table 5): per protocol, space and dataset, mean, std, median and n
    over the selection runs (seeds) of the chosen cell's test error, its retraining validation
    error and, on S5, its test regret; which candidates were chosen."""
    rows = []
    for setting, members in selection_groups(selections).items():
        row: dict[str, Any] = {"setting": setting, "runs": len(members)}
        for key, stats in selection_statistics(members).items():
            row.update(numeric_cells(key, stats))
        row["chosen"] = ", ".join(str(r.chosen_label) for r in members)
        row["test_error_source"] = ", ".join(sorted({str(r.test_source) for r in members
                                                     if r.test_source}))
        rows.append(row)
    return rows


def selection_markdown_rows(selections: list[SelectionRun]) -> list[list[str]]:
    """Table 5 for report.md: 'mean +- std (median)' cells."""
    return [[setting, str(len(members)),
             *[format_statistics(s, 2 if key.endswith("points") else members[0].metric.decimals)
               for key, s in selection_statistics(members).items()],
             ", ".join(str(r.chosen_label) for r in members)]
            for setting, members in selection_groups(selections).items()]
