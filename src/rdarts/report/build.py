"""`rdarts report`: run and sweep directories -> report.md, CSV tables, PNG figures.

Reads what searches, trainings, sweeps and the offline analyses wrote (run directories: any
folder with config.yaml) and reproduces the paper's summaries:

- table_search.csv: Table 1 (DARTS vs DARTS-ES test error) and Table 2 (one-shot validation
  error, test error and lambda_max per setting), "mean +- std (median)" over seeds;
- table_selection.csv: Table 5 (selection protocols: the chosen cell's test error);
- regret.png (Figure 2, searches on S5 scored against a tabular benchmark);
- lambda_max.png (Figures 3/11), test_error_vs_lambda.png (Figure 15), spectrum.png
  (Figure 13), discretization.png (Figure 6), softmax(alpha) heat maps and cell diagrams;
- summary.json: the per-run numbers behind every table row and figure.

This module assembles them into report.md: reading runs (collect), tables, figures and cell
drawings (cells) each live in their own module, so each can be changed and tested alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rdarts.errors import RdartsError
from rdarts.report.cells import cell_types, write_cell
from rdarts.report.collect import Runs, SearchRun, TrainingRun, find_runs
from rdarts.report.figures import (
    lambda_test_points,
    pearson,
    plot_alpha,
    plot_discretization,
    plot_lambda_max,
    plot_regret,
    plot_spectrum,
    plot_test_error_vs_lambda,
)
from rdarts.report.tables import (
    COLUMNS,
    SELECTION_COLUMNS,
    Column,
    Setting,
    format_value,
    group_settings,
    key_applies,
    markdown_table,
    selection_rows,
    table_columns,
    table_rows,
    write_csv,
)
from rdarts.runs.rundir import check_out

MAX_RUN_FIGURES = 12  # alpha heat maps and cell diagrams are drawn for this many search runs

@dataclass
class Section:
    """A heading, one sentence saying what is shown, and markdown (a table or images)."""

    title: str
    sentence: str
    body: str


def _run_summary(run: SearchRun) -> dict[str, Any]:
    stop = run.early_stop
    return {
        "name": run.name, "path": str(run.path), "seed": run.seed,
        **{column.key: column.value(run) for column in COLUMNS},
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


def _table_section(settings: list[Setting], columns: list[Column],
                   rows: list[dict[str, str]]) -> Section:
    body = markdown_table(["setting", "seeds", *[c.header for c in columns]],
                          [list(row.values()) for row in rows])
    body += ("\n\nValues are mean +- std (median) over seeds (population std); '-' where no run "
             "of the setting has the value. CSV: [table_search.csv](table_search.csv).")
    if any(r.evaluation and r.evaluation.config.get("eval") == "holdout"
           for s in settings for r in s.runs):
        body += " Evaluations run with `eval: holdout` report the held-out validation error."
    return Section("Search results (Tables 1 and 2)",
                   "Test error of the found architecture (DARTS) and of the early-stopping "
                   "architecture (DARTS-ES), the one-shot validation error and lambda_max at the "
                   "end of the search, per setting.", body)


def _image(path: Path) -> str:
    return f"![{path.stem}]({path.name})"


def _pearson_sentence(summary: dict[str, Any]) -> str:
    r = summary["pearson"]["r"]
    r_text = ("undefined (fewer than 2 runs or a constant coordinate)" if r is None
              else f"{r:.4f}")
    return (f"Each point is one search: its final architecture's test error against lambda_max "
            f"averaged over the search; the Pearson correlation coefficient over "
            f"{len(summary['pearson']['points'])} runs is {r_text}.")


# (plot, file name, section title, sentence or a function of summary.json for it)
FIGURES: tuple[tuple[Callable[[list[Setting], Path], Path | None], str, str,
                     str | Callable[[dict[str, Any]], str]], ...] = (
    (plot_lambda_max, "lambda_max.png", "lambda_max during the search (Figures 3 and 11)",
     "The dominant eigenvalue of the validation-loss Hessian with respect to alpha and the "
     "one-shot validation error per epoch (mean over seeds, shaded std); circles mark the "
     "epochs DARTS-ES returns."),
    (plot_regret, "regret.png", "Test regret during the search (Figure 2)",
     "The table test error of each epoch's architecture minus the best architecture's (S5 "
     "tabular benchmark; solid, mean over seeds with shaded std) and the one-shot validation "
     "error (dashed)."),
    (plot_test_error_vs_lambda, "test_error_vs_lambda.png",
     "Test error vs. lambda_max (Figure 15)", _pearson_sentence),
    (plot_spectrum, "spectrum.png", "Hessian spectrum (Figure 13)",
     "The 30 eigenvalues of largest magnitude of the dense Hessian at the last saved epoch: the "
     "mean over the seeds of each setting (line) and every run (points)."),
    (plot_discretization, "discretization.png", "Discretisation drop vs. lambda_max (Figure 6)",
     "The validation accuracy lost by replacing softmax(alpha) with the discrete genotype "
     "(search weights kept) against lambda_max at the same epoch; one point per record."),
)


def _figure_sections(settings: list[Setting], out: Path,
                     summary: dict[str, Any]) -> tuple[list[Section], list[Path]]:
    """Every figure the runs have data for, each with its report section."""
    sections: list[Section] = []
    written: list[Path] = []
    for plot, name, title, sentence in FIGURES:
        path = plot(settings, out / name)
        if path is None:
            continue
        written.append(path)
        text = sentence(summary) if callable(sentence) else sentence
        sections.append(Section(title, text, _image(path)))
    return sections, written


def _run_cell_types(run: SearchRun) -> list[str]:
    """The cell types a run logged alphas or a genotype for, in order of appearance (normal,
    reduce today; whatever a space's cells are called, never a fixed list)."""
    logged = [name for r in run.metrics for name in (r.get("alpha_softmax") or {})]
    return list(dict.fromkeys([*logged, *cell_types(run.genotype or {})]))


def _run_sections(searches: list[SearchRun], out: Path) -> tuple[list[Section], list[Path]]:
    shown, skipped = searches[:MAX_RUN_FIGURES], searches[MAX_RUN_FIGURES:]
    note = (f" Drawn for the first {MAX_RUN_FIGURES} search runs; {len(skipped)} more were "
            f"skipped: {', '.join(r.name for r in skipped)}." if skipped else "")
    alpha_images, cell_images, written = [], [], []
    for run in shown:
        for cell_type in _run_cell_types(run):
            path = plot_alpha(run, cell_type, out / f"alpha_{run.name}_{cell_type}.png")
            if path:
                written.append(path)
                alpha_images.append(f"**{run.name}, {cell_type}**\n\n{_image(path)}")
            if run.genotype and run.genotype.get(cell_type):
                files = write_cell(run.genotype, cell_type, out, f"cells_{run.name}_{cell_type}")
                written += files
                cell_images.append(f"**{run.name}, {cell_type}**\n\n{_image(files[-1])}")
    sections = []
    if alpha_images:
        sections.append(Section(
            "Architecture weights", "softmax(alpha) of every edge and op (rows) over the search "
            "epochs (columns), per search run and cell type." + note, "\n\n".join(alpha_images)))
    if cell_images:
        sections.append(Section(
            "Found cells", "The genotype each search returned: two (op, source) edges per "
            "intermediate node, all intermediate nodes concatenated into c_{k}." + note,
            "\n\n".join(cell_images)))
    return sections, written


def _selection_section(rows: list[dict[str, str]]) -> Section:
    headers = ["setting", "runs", *[header for _, header, _ in SELECTION_COLUMNS], "chosen"]
    body = markdown_table(headers, [list(row.values()) for row in rows])
    body += ("\n\nValues are mean +- std (median) over the selection runs of a setting (their "
             "seeds). CSV: [table_selection.csv](table_selection.csv).")
    return Section("Selection protocols (Table 5)",
                   "Each selection runs K searches, retrains every found cell briefly on "
                   "held-out training data and keeps the best; the chosen cell's test error "
                   "comes from the job's eval/ run.", body)


def _trainings_section(trainings: list[TrainingRun]) -> Section | None:
    if not trainings:
        return None
    rows = [[str(t.path), str(t.config.get("eval")),
             "-" if t.error is None else f"{t.error:.2f}",
             "-" if t.parameters is None else f"{t.parameters:.3f}"] for t in trainings]
    return Section("Other training runs",
                   "Training runs that are not the eval/ or eval-es/ of a search above.",
                   markdown_table(["run", "eval", "error %", "params (M)"], rows))


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


def build_report(inputs: list[str | Path], out: str | Path) -> dict[str, Any]:
    """Read every run below `inputs` and write report.md, table_search.csv, the figures and
    summary.json into `out`; return {"report", "files", "tables", "figures", "runs", ...}."""
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
    points = lambda_test_points(settings)
    summary: dict[str, Any] = {
        "inputs": [str(p) for p in roots],
        "runs": runs.count,
        "settings": [{"label": s.label, "config": s.config,
                      "runs": [_run_summary(r) for r in s.runs]} for s in settings],
        "pearson": {"r": pearson([(x, y) for *_, x, y in points]),
                    "points": [{"run": run.name, "lambda_max_mean": x, "test_error_pct": y}
                               for _, run, x, y in points]},
        "trainings": [{"path": str(t.path), "eval": t.config.get("eval"), "error_pct": t.error,
                       "parameters_m": t.parameters} for t in runs.trainings],
    }
    sections: list[Section] = []
    tables: list[Path] = []
    if settings:
        columns = table_columns(settings)
        rows = table_rows(settings, columns)
        tables.append(write_csv(out / "table_search.csv", rows))
        for entry, row in zip(summary["settings"], rows, strict=True):
            entry["table"] = row
        sections += [_settings_section(settings), _table_section(settings, columns, rows)]
    if runs.selections:
        selection_table = selection_rows(runs.selections)
        tables.append(write_csv(out / "table_selection.csv", selection_table))
        summary["selections"] = [
            {"path": str(r.path), "setting": r.setting, "seed": r.seed, "chosen": r.chosen,
             "test_error_pct": r.test_error, "val_error_pct": r.val_error,
             "test_regret_pct": r.test_regret} for r in runs.selections]
        sections.append(_selection_section(selection_table))
    figure_sections, figures = _figure_sections(settings, out, summary)
    run_sections, run_files = _run_sections(runs.searches, out)
    other = _trainings_section(runs.unpaired_trainings())
    sections += figure_sections + run_sections + ([other] if other else [])
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
