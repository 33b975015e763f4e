"""`rdarts report`: run and sweep directories -> report.md, CSV tables, PNG figures.

Reads what searches, trainings, sweeps and the offline analyses wrote (run directories: any
folder with config.yaml) and reproduces the paper's summaries:

- table_search.csv: Table 1 (DARTS vs DARTS-ES test error) and Table 2 (one-shot validation
  error, test error and lambda_max per setting): mean, std, median and n over seeds per
  quantity; runs.csv: one row per search run; table_selection.csv: Table 5 (selection
  protocols: the chosen cell's test error and regret);
- regret.png (Figure 2, searches on S5 scored against a tabular benchmark);
- lambda_max.png (Figures 3/11), test_error_vs_lambda.png (Figure 15), spectrum.png
  (Figure 13), discretization.png (Figure 6), softmax(alpha) per edge and cell diagrams;
- summary.json: the per-run numbers behind every table row and figure.

Units: errors in %, regrets in percentage points, parameters in millions. This module
assembles report.md, which also says why a figure is absent and which runs got per-run
figures; reading runs (collect, records), tables, figures, regret, alpha and cell drawings each
live in their own module, so each can be changed and tested alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rdarts.errors import RdartsError
from rdarts.report.collect import Runs, find_runs
from rdarts.report.figurelist import figure_sections
from rdarts.report.figures import (
    lambda_test_points,
    pearson,
)
from rdarts.report.labels import format_value
from rdarts.report.metric import common_metric
from rdarts.report.records import SearchRun, SelectionRun, TrainingRun
from rdarts.report.regret import random_baselines
from rdarts.report.runfigures import run_sections
from rdarts.report.strength import strength_rows
from rdarts.report.tables import (
    Column,
    Section,
    Setting,
    group_settings,
    key_applies,
    markdown_rows,
    markdown_table,
    metric_groups,
    run_rows,
    search_columns,
    selection_columns,
    selection_markdown_rows,
    selection_rows,
    setting_statistics,
    settings_metric,
    table_columns,
    table_rows,
    write_csv,
)
from rdarts.runs.atomic import check_out


def _run_summary(run: SearchRun) -> dict[str, Any]:
    stop = run.early_stop
    return {
        "name": run.name, "path": str(run.path), "seed": run.seed, "method": run.method,
        "selection": run.selection, "chosen": run.chosen,
        **{column.key: column.value(run) for column in search_columns(run.metric)},
        "test_error_source": run.test_source,
        "score_name": run.score_name, "score": run.final_score,
        "lambda_max_mean": run.mean_lambda_max,
        "es_triggered": stop is not None,
        "es_return_epoch": stop.get("return_epoch") if stop else None,
        "es_decided_at": stop.get("decided_at") if stop else None,
        "evaluation": str(run.evaluation.path) if run.evaluation else None,
        "evaluation_es": str(run.evaluation_es.path) if run.evaluation_es else None,
        "discretization": [{"epoch": r.get("epoch"), "drop": r.get("drop"),
                            "lambda_max": run.lambda_max_at(r.get("epoch", -1))}
                           for r in run.discretization],
        "top_eigenvalues": run.top_eigenvalues,
        "genotype": run.genotype,
    }


def _settings_section(settings: list[Setting]) -> Section:
    common = {k: v for k, v in settings[0].config.items()
              if all(s.config.get(k) == v for s in settings)}
    rows = [[s.label, ", ".join(str(r.seed) for r in s.runs),
             ", ".join(f"{k}={format_value(v)}" for k, v in s.config.items()
                       if k not in common and key_applies(k, s.config))
             or "-"] for s in settings]
    body = markdown_table(["setting", "seeds", "differs in"], rows)
    body += "\n\nCommon to all settings: " + (", ".join(
        f"`{k}={format_value(v)}`" for k, v in common.items()) or "-") + "."
    return Section("Settings", "Each setting is a search configuration without its seed; runs "
                   "sharing one are its seeds.", body)


def _table_sources(sources: list[tuple[str, str | None]], what: str) -> str:
    """Which settings' test errors come from a table, not a training; `sources` holds
    (setting, source) per run."""
    tables: dict[str, list[str]] = {}
    for label, source in sources:
        if source not in (None, "eval") and label not in tables.get(source, []):
            tables.setdefault(source, []).append(label)
    every = {label for label, _ in sources}
    return "".join(f" {what} without a training ("
                   f"{'all settings' if set(labels) == every else ', '.join(labels)}) are the "
                   f"{name} table's (its training protocol's network), not trained here."
                   for name, labels in tables.items())


def _table_section(settings: list[Setting], columns: list[Column], csv_name: str) -> Section:
    body = markdown_table(["setting", "seeds", *[c.header for c in columns]],
                          markdown_rows(settings, columns))
    body += ("\n\nValues are mean +- std (median) over seeds (population std); '-' where no run "
             "of the setting has the value. Regrets are in percentage points. CSV (mean, std, "
             f"median and n columns): [{csv_name}]({csv_name}); "
             "every run: [runs.csv](runs.csv).")
    body += _table_sources([(s.label, r.test_source) for s in settings for r in s.runs],
                           "Test errors and parameters of the runs")
    if any(r.evaluation and r.evaluation.config.get("eval") == "holdout"
           for s in settings for r in s.runs):
        body += " Evaluations run with `eval: holdout` report the held-out validation value."
    metric = settings_metric(settings)
    title = "Search results (Tables 1 and 2)" if metric.score == "accuracy" \
        else f"Search results ({metric.label})"
    return Section(title,
                   f"Test {metric.label} of the found architecture (DARTS) and of the "
                   f"early-stopping architecture (DARTS-ES), the one-shot validation "
                   f"{metric.label} and lambda_max at the end of the search, per setting.", body)


def _csv_name(stem: str, index: int, score: str) -> str:
    """<stem>.csv for a report's first metric; <stem>_<score>.csv for the others (a report of
    image and language runs has one table per metric)."""
    return f"{stem}.csv" if index == 0 else f"{stem}_{score}.csv"


def _number(value: Any, decimals: int = 2) -> str:
    return "-" if value in (None, "") else f"{value:.{decimals}f}"


def _runs_section(settings: list[Setting]) -> Section:
    rows = [[row["run"], str(row["seed"]), row["method"],
             row["architecture"] or "-", str(row["es_return_epoch"]) or "-",
             _test_cell(row, run), _number(row["test_regret_points"]),
             _number(row["es_test_regret_points"]), _number(row["lambda_max_end"], 3)]
            for row, run in zip(run_rows(settings), [r for s in settings for r in s.runs],
                                strict=True)]
    header = ["run", "seed", "method", "table architecture", "ES return epoch",
              "test value", "test regret (points)", "DARTS-ES regret (points)",
              "lambda_max (end)"]
    if len({r.metric for s in settings for r in s.runs}) == 1:
        header[5] = f"test {settings[0].runs[0].metric.label}"
    return Section("Runs", "Every search run: what it returned and how good it is; all columns "
                   "(genotype, score, sources, paths) are in [runs.csv](runs.csv).",
                   markdown_table(header, rows))


def _test_cell(row: dict[str, Any], run: SearchRun) -> str:
    """A run's test value in its metric's unit (with the unit when a report mixes metrics)."""
    return _number(row[run.metric.csv_key("test")], run.metric.decimals)


def _selection_section(selections: list[SelectionRun], name: str) -> Section:
    metric = common_metric([r.metric for r in selections])
    headers = ["setting", "runs", *[header for _, header, _ in selection_columns(metric)],
               "chosen"]
    body = markdown_table(headers, selection_markdown_rows(selections))
    body += ("\n\nValues are mean +- std (median) over the selection runs of a setting (their "
             "seeds); regrets in percentage points. CSV (mean, std, median and n columns): "
             f"[{name}]({name}).")
    body += _table_sources([(r.setting, r.test_source) for r in selections],
                           "Test errors of the chosen cells")
    return Section("Selection protocols (Table 5)",
                   "Each selection runs K searches, retrains every found cell briefly on "
                   f"held-out training data and keeps the best; the chosen cell's test "
                   f"{metric.label} comes from the job's eval/ run.", body)


def _trainings_section(trainings: list[TrainingRun]) -> Section | None:
    if not trainings:
        return None
    rows = [[str(t.path), str(t.config.get("eval")),
             "-" if t.value is None else f"{t.value:.{t.metric.decimals}f} {t.metric.label}",
             "-" if t.parameters is None else f"{t.parameters:.3f}"] for t in trainings]
    return Section("Other training runs",
                   "Training runs that are not the eval/ or eval-es/ of a search above.",
                   markdown_table(["run", "eval", "result", "params (M)"], rows))


def _markdown(inputs: list[Path], runs: Runs, sections: list[Section]) -> str:
    lines = ["# rdarts report", "",
             f"{len(runs.searches)} search run(s), {len(runs.selections)} selection run(s) "
             f"and {len(runs.trainings)} training run(s) found under:", ""]
    lines += [f"- `{path}`" for path in inputs]
    if runs.ignored:
        lines += ["", "Ignored (config.yaml of no search, selection or training): "
                  + ", ".join(f"`{p}`" for p in runs.ignored)]
    for section in sections:
        lines += ["", f"## {section.title}", "", section.sentence, "", section.body]
    return "\n".join(lines) + "\n"


def _summary(roots: list[Path], runs: Runs, settings: list[Setting]) -> dict[str, Any]:
    points = lambda_test_points(settings)
    return {
        "inputs": [str(p) for p in roots],
        "runs": runs.count,
        "units": {"error": "%", "regret": "percentage points", "parameters": "millions"},
        "settings": [{"label": s.label, "config": s.config,
                      "runs": [_run_summary(r) for r in s.runs]} for s in settings],
        "pearson": {"r": pearson([(x, y) for *_, x, y in points]),
                    "points": [{"run": run.name, "lambda_max_mean": x, "test_error_pct": y}
                               for _, run, x, y in points]},
        "random_regret_points": random_baselines(settings, runs.selections),
        "trainings": [{"path": str(t.path), "eval": t.config.get("eval"),
                       t.metric.key: t.value, "parameters_m": t.parameters}
                      for t in runs.trainings],
    }


def _tables(settings: list[Setting], runs: Runs, out: Path,
            summary: dict[str, Any]) -> tuple[list[Section], list[Path]]:
    """table_search.csv, runs.csv, table_selection.csv and their report sections."""
    sections: list[Section] = []
    tables: list[Path] = []
    if settings:
        tables.append(write_csv(out / "runs.csv", run_rows(settings)))
        sections.append(_settings_section(settings))
        entries = {entry["label"]: entry for entry in summary["settings"]}
        for index, group in enumerate(metric_groups(settings)):
            columns = table_columns(group)
            name = _csv_name("table_search", index, settings_metric(group).score)
            tables.append(write_csv(out / name, table_rows(group, columns)))
            sections.append(_table_section(group, columns, name))
            for setting, stats in zip(group, setting_statistics(group, columns), strict=True):
                entries[setting.label]["table"] = stats
        sections.append(_runs_section(settings))
        strength = strength_rows(settings)
        if strength:
            tables.append(write_csv(out / "table_strength.csv", strength))
    if runs.selections:
        summary["selections"] = []
        for index, group in enumerate(metric_groups(runs.selections)):
            metric = group[0].metric
            name = _csv_name("table_selection", index, metric.score)
            tables.append(write_csv(out / name, selection_rows(group)))
            summary["selections"] += [
                {"path": str(r.path), "setting": r.setting, "seed": r.seed, "chosen": r.chosen,
                 metric.csv_key("test"): r.test_value, metric.csv_key("val"): r.val_value,
                 "test_regret_points": r.test_regret} for r in group]
            sections.append(_selection_section(group, name))
    return sections, tables


def build_report(inputs: list[str | Path], out: str | Path,
                 max_run_figures: int | None = None) -> dict[str, Any]:
    """Read every run below `inputs` and write report.md, the CSV tables, the figures and
    summary.json into `out` (alpha figures and cells for at most `max_run_figures` runs,
    default runfigures.MAX_RUN_FIGURES); return {"report", "files", "tables", "figures",
    "runs", ...}."""
    roots = [Path(p).expanduser() for p in inputs]
    if not roots:
        raise RdartsError("rdarts report needs at least one run or sweep directory")
    check_out(out)
    runs = find_runs(roots)
    if runs.count == 0:
        raise RdartsError("no rdarts runs (folders with config.yaml) found under: "
                          + ", ".join(str(p) for p in roots))
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    settings = group_settings(runs.searches)
    summary = _summary(roots, runs, settings)
    sections, tables = _tables(settings, runs, out, summary)
    drawn, figures = figure_sections(settings, runs, out, summary)
    run_figure_sections, run_files = run_sections(settings, out, max_run_figures)
    other = _trainings_section(runs.unpaired_trainings())
    sections += drawn + run_figure_sections + ([other] if other else [])
    summary["figures"] = [p.name for p in figures + run_files]
    report = out / "report.md"
    report.write_text(_markdown(roots, runs, sections))
    summary_path = out / "summary.json"
    summary_path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return {"report": str(report), "runs": runs.count, "search_runs": len(runs.searches),
            "selection_runs": len(runs.selections),
            "training_runs": len(runs.trainings),
            "tables": [str(p) for p in tables],
            "figures": [str(p) for p in figures + run_files],
            "files": [str(p) for p in [report, summary_path, *tables, *figures, *run_files]]}


def report_command(inputs: list[str | Path], out: str | Path) -> int:
    """`rdarts report RUN_OR_SWEEP_DIR... --out DIR`: write the report and say where it is."""
    result = build_report(inputs, out)
    print(f"report: {result['report']} ({result['search_runs']} search run(s), "
          f"{result['training_runs']} training run(s), {len(result['files'])} files)")
    return 0
