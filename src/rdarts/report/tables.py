"""The report's tables: search settings, their labels, statistics over seeds, CSV and markdown.

A setting is a search configuration without its seed (and execution-only keys); its runs are the
seeds. Each table cell is "mean +- std (median)" over them, the form of the paper's Tables 1, 2
and 5. Labels name only the keys that differ between settings and that the setting's method
actually reads, so a table stays readable when a sweep varies many options.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rdarts.report.collect import SearchRun, SelectionRun, unique_names
from rdarts.search.registry import setting_applies

LABEL_FIRST = ("space", "dataset", "method")  # shown as bare values in setting labels
LABEL_SHORT = {"weight_decay": "wd", "drop_path": "dp"}


@dataclass(frozen=True)
class Setting:
    """Search runs that differ only in their seed."""

    label: str
    config: dict[str, Any]
    runs: tuple[SearchRun, ...]


def format_value(value: Any) -> str:
    """A configuration value as labels and tables show it (lower-case booleans, compact JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


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

    return unique_names([label(c) for c in relevant])


def group_settings(searches: list[SearchRun]) -> list[Setting]:
    """Settings in order of first appearance; runs within one ordered by seed."""
    groups: dict[str, list[SearchRun]] = {}
    for run in searches:
        groups.setdefault(json.dumps(run.setting, sort_keys=True, default=str), []).append(run)
    members = [sorted(g, key=lambda r: (str(r.seed), r.name)) for g in groups.values()]
    labels = setting_labels([g[0].setting for g in members])
    return [Setting(label, g[0].setting, tuple(g)) for label, g in zip(labels, members,
                                                                          strict=True)]


@dataclass(frozen=True)
class Column:
    """One numeric column of table_search.csv: a per-run value and its decimals."""

    key: str
    header: str
    decimals: int
    value: Callable[[SearchRun], float | None]


COLUMNS = (
    Column("test_error_pct", "Test error % (DARTS)", 2, lambda r: r.test_error),
    Column("es_test_error_pct", "Test error % (DARTS-ES)", 2, lambda r: r.es_test_error),
    Column("one_shot_val_error_pct", "One-shot val. error % (end)", 2,
           lambda r: r.final_val_error),
    Column("parameters_m", "Params (M)", 3, lambda r: r.parameters),
    Column("lambda_max", "lambda_max (end)", 3, lambda r: r.final_lambda_max),
    Column("test_regret_pct", "Test regret % (S5 table)", 2, lambda r: r.final_test_regret),
    Column("es_test_regret_pct", "Test regret % (DARTS-ES)", 2, lambda r: r.es_test_regret),
)


def statistics(values: list[float]) -> dict[str, float] | None:
    """mean, std (population, ddof=0), median and count over seeds; None without values."""
    if not values:
        return None
    array = np.asarray(values, dtype=float)
    return {"mean": float(array.mean()), "std": float(array.std()),
            "median": float(np.median(array)), "n": len(values)}


def format_statistics(stats: dict[str, float] | None, decimals: int) -> str:
    """'mean +- std (median)' with fixed decimals, '-' without values."""
    if stats is None:
        return "-"
    d = decimals
    return f"{stats['mean']:.{d}f} +- {stats['std']:.{d}f} ({stats['median']:.{d}f})"


def table_columns(settings: list[Setting]) -> list[Column]:
    """All columns, without DARTS-ES when no run has an early-stopping genotype and without
    regret when no run was scored against a tabular benchmark."""
    runs = [r for s in settings for r in s.runs]
    has_es = any(r.es_genotype is not None or r.evaluation_es is not None for r in runs)
    has_regret = any(r.final_test_regret is not None for r in runs)
    dropped = set()
    if not has_es:
        dropped |= {"es_test_error_pct", "es_test_regret_pct"}
    if not has_regret:
        dropped |= {"test_regret_pct", "es_test_regret_pct"}
    return [c for c in COLUMNS if c.key not in dropped]


def table_rows(settings: list[Setting], columns: list[Column]) -> list[dict[str, str]]:
    """Tables 1 and 2 of the paper: one row per setting, 'mean +- std (median)' over seeds."""
    rows = []
    for setting in settings:
        row = {"setting": setting.label, "seeds": str(len(setting.runs))}
        for column in columns:
            values = [v for v in map(column.value, setting.runs) if v is not None]
            row[column.key] = format_statistics(statistics(values), column.decimals)
        rows.append(row)
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    """Rows of one table (dicts with the same keys) as CSV with a header line."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub markdown table; '|' inside cells is escaped."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
              for row in rows]
    return "\n".join(lines)


# ---- Table 5: selection protocols ----------------------------------------------------------


SELECTION_COLUMNS = (
    ("test_error_pct", "Test error % (chosen cell)", lambda r: r.test_error),
    ("val_error_pct", "Retraining val. error % (chosen)", lambda r: r.val_error),
    ("test_regret_pct", "Test regret % (S5 table)", lambda r: r.test_regret),
)


def selection_rows(selections: list[SelectionRun]) -> list[dict[str, str]]:
    """Table 5: per protocol, space and dataset, 'mean +- std (median)' over the selection
    runs (seeds) of the chosen cell's test error, its retraining validation error and, on S5,
    its test regret; which candidates were chosen."""
    groups: dict[str, list[SelectionRun]] = {}
    for run in selections:
        groups.setdefault(run.setting, []).append(run)
    rows = []
    for setting, members in groups.items():
        row = {"setting": setting, "runs": str(len(members))}
        for key, _, value in SELECTION_COLUMNS:
            values = [v for v in map(value, members) if v is not None]
            row[key] = format_statistics(statistics(values), 2)
        row["chosen"] = ", ".join(str(r.chosen) for r in members)
        rows.append(row)
    return rows
