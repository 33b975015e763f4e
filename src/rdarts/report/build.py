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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rdarts.errors import RdartsError
from rdarts.report.collect import Runs, find_runs
from rdarts.report.figures import (
    lambda_test_points,
    pearson,
    plot_discretization,
    plot_lambda_max,
    plot_spectrum,
    plot_test_error_vs_lambda,
)
from rdarts.report.records import SearchRun, SelectionRun, TrainingRun, format_value
from rdarts.report.regret import plot_regret, random_baselines
from rdarts.report.runfigures import run_sections
from rdarts.report.tables import (
    COLUMNS,
    SELECTION_COLUMNS,
    Column,
    Section,
    Setting,
    group_settings,
    key_applies,
    markdown_rows,
    markdown_table,
    run_rows,
    selection_markdown_rows,
    selection_rows,
    setting_statistics,
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
        **{column.key: column.value(run) for column in COLUMNS},
        "test_error_source": run.test_error_source,
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


def _table_section(settings: list[Setting], columns: list[Column]) -> Section:
    body = markdown_table(["setting", "seeds", *[c.header for c in columns]],
                          markdown_rows(settings, columns))
    body += ("\n\nValues are mean +- std (median) over seeds (population std); '-' where no run "
             "of the setting has the value. Regrets are in percentage points. CSV (mean, std, "
             "median and n columns): [table_search.csv](table_search.csv); every run: "
             "[runs.csv](runs.csv).")
    body += _table_sources([(s.label, r.test_error_source) for s in settings for r in s.runs],
                           "Test errors and parameters of the runs")
    if any(r.evaluation and r.evaluation.config.get("eval") == "holdout"
           for s in settings for r in s.runs):
        body += " Evaluations run with `eval: holdout` report the held-out validation error."
    return Section("Search results (Tables 1 and 2)",
                   "Test error of the found architecture (DARTS) and of the early-stopping "
                   "architecture (DARTS-ES), the one-shot validation error and lambda_max at the "
                   "end of the search, per setting. Disparity searches (Tables 3 and 4) show "
                   "EPEs in input pixels instead: one-shot validation, test and shifted test.",
                   body)


def _number(value: Any, decimals: int = 2) -> str:
    return "-" if value in (None, "") else f"{value:.{decimals}f}"


def _runs_section(settings: list[Setting]) -> Section:
    by_epe = all(r.score_name == "epe" for s in settings for r in s.runs)  # disparity
    test = ("test_epe", "test EPE", 3) if by_epe else ("test_error_pct", "test error %", 2)
    rows = [[row["run"], str(row["seed"]), row["method"],
             row["architecture"] or "-", str(row["es_return_epoch"]) or "-",
             _number(row[test[0]], test[2]), _number(row["test_regret_points"]),
             _number(row["es_test_regret_points"]), _number(row["lambda_max_end"], 3)]
            for row in run_rows(settings)]
    header = ["run", "seed", "method", "table architecture", "ES return epoch",
              test[1], "test regret (points)", "DARTS-ES regret (points)",
              "lambda_max (end)"]
    return Section("Runs", "Every search run: what it returned and how good it is; all columns "
                   "(genotype, score, sources, paths) are in [runs.csv](runs.csv).",
                   markdown_table(header, rows))


def _image(path: Path) -> str:
    return f"![{path.stem}]({path.name})"


def _pearson_sentence(summary: dict[str, Any]) -> str:
    r = summary["pearson"]["r"]
    r_text = ("undefined (fewer than 2 runs or a constant coordinate)" if r is None
              else f"{r:.4f}")
    return (f"Each point is one search: its final architecture's test error against lambda_max "
            f"averaged over the search; the Pearson correlation coefficient over "
            f"{len(summary['pearson']['points'])} runs is {r_text}.")


def _regret_sentence(summary: dict[str, Any]) -> str:
    baselines = "".join(f" The dashed grey line is the expected regret of a uniformly random "
                        f"architecture of the {name} table ({value:.2f} points)."
                        for name, value in summary["random_regret_points"].items())
    candidates = sum(1 for s in summary["settings"] for r in s["runs"] if r["selection"])
    inside = (f" The {candidates} searches run inside selections are not drawn as curves: "
              "their selection's band stands for them." if candidates else "")
    stars = (" Stars: the final regret of each selection run (R-DARTS), its band the mean +- "
             "std over those runs." if summary.get("selections") else "")
    return ("Test regret (table test error of the architecture a method returns minus the "
            "best architecture's, in percentage points) over the search epochs, mean over "
            "seeds with shaded std. DARTS is each epoch's architecture; DARTS-ES the same "
            "until its rule fires and from that stop epoch on the architecture it returns."
            + stars + baselines + inside + " The one-shot validation error is in "
            "lambda_max.png.")


@dataclass(frozen=True)
class FigureSpec:
    """A figure: how to draw it, its file, section title, sentence and why it can be absent."""

    plot: Callable[[list[Setting], Runs, Path], Path | None]
    name: str
    title: str
    sentence: str | Callable[[dict[str, Any]], str]
    missing: str


FIGURES = (
    FigureSpec(lambda s, runs, p: plot_lambda_max(s, p), "lambda_max.png",
               "lambda_max during the search (Figures 3 and 11)",
               "The dominant eigenvalue of the validation-loss Hessian with respect to alpha and "
               "the one-shot validation error per epoch (mean over seeds, shaded std); circles "
               "mark the epochs DARTS-ES returns.",
               "no search run measured lambda_max (`hessian_every: 0`, or no epoch finished)"),
    FigureSpec(lambda s, runs, p: plot_regret(s, p, runs.selections), "regret.png",
               "Test regret during the search (Figure 2)", _regret_sentence,
               "no search run was scored against a tabular benchmark and no selection has a "
               "test regret (S5 with its table only)"),
    FigureSpec(lambda s, runs, p: plot_test_error_vs_lambda(s, p), "test_error_vs_lambda.png",
               "Test error vs. lambda_max (Figure 15)", _pearson_sentence,
               "no search run has both lambda_max and a test error (an eval/ training or, on "
               "S5, the table's)"),
    FigureSpec(lambda s, runs, p: plot_spectrum(s, p), "spectrum.png",
               "Hessian spectrum (Figure 13)",
               "The 30 eigenvalues of largest magnitude of the dense Hessian at the last saved "
               "epoch: the mean over the seeds of each setting (line) and every run (points).",
               "no run has a dense Hessian spectrum (`rdarts hessian RUN_DIR --spectrum`)"),
    FigureSpec(lambda s, runs, p: plot_discretization(s, p), "discretization.png",
               "Discretisation drop vs. lambda_max (Figure 6)",
               "The validation accuracy lost by replacing softmax(alpha) with the discrete "
               "genotype (search weights kept) against lambda_max at the same epoch; one point "
               "per record.",
               "no run has discretisation records with a lambda_max at the same epoch "
               "(`rdarts discretize RUN_DIR`)"),
)


def _figure_sections(settings: list[Setting], runs: Runs, out: Path,
                     summary: dict[str, Any]) -> tuple[list[Section], list[Path]]:
    """Every figure the runs have data for, each with its section, and one section saying
    why the others are absent."""
    sections: list[Section] = []
    written: list[Path] = []
    absent: list[str] = []
    for spec in FIGURES:
        path = spec.plot(settings, runs, out / spec.name)
        if path is None:
            absent.append(f"- {spec.name} ({spec.title}): {spec.missing}.")
            continue
        written.append(path)
        text = spec.sentence(summary) if callable(spec.sentence) else spec.sentence
        sections.append(Section(spec.title, text, _image(path)))
    if absent:
        sections.append(Section("Figures not drawn", "Figures this report has no data for, and "
                                "why.", "\n".join(absent)))
    return sections, written


def _selection_section(selections: list[SelectionRun]) -> Section:
    headers = ["setting", "runs", *[header for _, header, _ in SELECTION_COLUMNS], "chosen"]
    body = markdown_table(headers, selection_markdown_rows(selections))
    body += ("\n\nValues are mean +- std (median) over the selection runs of a setting (their "
             "seeds); regrets in percentage points. CSV (mean, std, median and n columns): "
             "[table_selection.csv](table_selection.csv).")
    body += _table_sources([(r.setting, r.test_error_source) for r in selections],
                           "Test errors of the chosen cells")
    return Section("Selection protocols (Table 5)",
                   "Each selection runs K searches, retrains every found cell briefly on "
                   "held-out training data and keeps the best; the chosen cell's test error "
                   "comes from the job's eval/ run.", body)


def _trainings_section(trainings: list[TrainingRun]) -> Section | None:
    if not trainings:
        return None
    rows = [[str(t.path), str(t.config.get("eval")),
             "-" if t.error is None else f"{t.error:.2f}",
             " / ".join(_number(t.epe(split), 3) for split in ("test", "test_shift", "val")),
             "-" if t.parameters is None else f"{t.parameters:.3f}"] for t in trainings]
    return Section("Other training runs",
                   "Training runs that are not the eval/ or eval-es/ of a search above.",
                   markdown_table(["run", "eval", "error %", "EPE test / shifted / val",
                                   "params (M)"], rows))


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
        "trainings": [{"path": str(t.path), "eval": t.config.get("eval"), "error_pct": t.error,
                       "parameters_m": t.parameters} for t in runs.trainings],
    }


def _tables(settings: list[Setting], runs: Runs, out: Path,
            summary: dict[str, Any]) -> tuple[list[Section], list[Path]]:
    """table_search.csv, runs.csv, table_selection.csv and their report sections."""
    sections: list[Section] = []
    tables: list[Path] = []
    if settings:
        columns = table_columns(settings)
        tables.append(write_csv(out / "table_search.csv", table_rows(settings, columns)))
        tables.append(write_csv(out / "runs.csv", run_rows(settings)))
        for entry, stats in zip(summary["settings"], setting_statistics(settings, columns),
                                strict=True):
            entry["table"] = stats
        sections += [_settings_section(settings), _table_section(settings, columns),
                     _runs_section(settings)]
    if runs.selections:
        tables.append(write_csv(out / "table_selection.csv", selection_rows(runs.selections)))
        summary["selections"] = [
            {"path": str(r.path), "setting": r.setting, "seed": r.seed, "chosen": r.chosen,
             "test_error_pct": r.test_error, "val_error_pct": r.val_error,
             "test_regret_points": r.test_regret} for r in runs.selections]
        sections.append(_selection_section(runs.selections))
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
    figure_sections, figures = _figure_sections(settings, runs, out, summary)
    run_figure_sections, run_files = run_sections(settings, out, max_run_figures)
    other = _trainings_section(runs.unpaired_trainings())
    sections += figure_sections + run_figure_sections + ([other] if other else [])
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
