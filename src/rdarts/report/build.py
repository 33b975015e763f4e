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

Every figure uses matplotlib's object API (`Figure`, Agg), never pyplot's global state.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from rdarts.errors import RdartsError
from rdarts.runs.rundir import RESUMABLE_CHANGES
from rdarts.core.space import CELL_TYPES, edge_endpoints, get_space

DPI = 120
MAX_RUN_FIGURES = 12  # alpha heat maps and cell diagrams are drawn for this many search runs
# Keys that do not change what a search computes: runs differing only in these are seeds.
NOT_SETTING = frozenset({"seed"}) | RESUMABLE_CHANGES
LABEL_FIRST = ("space", "dataset", "method")  # shown as bare values in setting labels
LABEL_SHORT = {"weight_decay": "wd", "drop_path": "dp"}


# ---- reading run directories ---------------------------------------------------------------


@dataclass(frozen=True)
class TrainingRun:
    """A training run (config.yaml with `genotype` and `eval`) and its result.json."""

    path: Path
    config: dict[str, Any]
    result: dict[str, Any] | None

    @property
    def error(self) -> float | None:
        """Final error in % on the test set (eval: test) or the held-out part (holdout)."""
        result = self.result or {}
        for name in ("test", "val"):
            if result.get(f"{name}_error") is not None:
                return 100.0 * float(result[f"{name}_error"])
            if result.get(f"{name}_accuracy") is not None:
                return 100.0 * (1.0 - float(result[f"{name}_accuracy"]))
        return None

    @property
    def parameters(self) -> float | None:
        """Parameters of the evaluated network in millions."""
        count = (self.result or {}).get("parameters")
        return None if count is None else count / 1e6


@dataclass
class SearchRun:
    """A search run (config.yaml with `space`), its files, and its paired evaluations."""

    path: Path
    name: str
    config: dict[str, Any]
    metrics: list[dict[str, Any]]
    result: dict[str, Any] | None
    hessian: list[dict[str, Any]]  # hessian/epoch-NNNN.json, by epoch
    discretization: list[dict[str, Any]]
    evaluation: TrainingRun | None = None  # SIBLING/eval: the search's genotype trained
    evaluation_es: TrainingRun | None = None  # SIBLING/eval-es: the DARTS-ES genotype trained

    @property
    def seed(self) -> Any:
        return self.config.get("seed")

    @property
    def setting(self) -> dict[str, Any]:
        """The configuration without the seed and execution-only keys (device, data_dir...)."""
        return {k: v for k, v in self.config.items() if k not in NOT_SETTING}

    def series(self, key: str) -> dict[int, float]:
        """{epoch: value} of a per-epoch metric, finite values only."""
        return {int(r["epoch"]): float(r[key]) for r in self.metrics
                if "epoch" in r and _finite(r.get(key))}

    @property
    def one_shot_val_error(self) -> dict[int, float]:
        """One-shot validation error in % per epoch (100 (1 - val_accuracy))."""
        return {e: 100.0 * (1.0 - a) for e, a in self.series("val_accuracy").items()}

    @property
    def final_lambda_max(self) -> float | None:
        """The last logged lambda_max (Table 2's lambda_max at the end of the search)."""
        values = self.series("lambda_max")
        if values:
            return values[max(values)]
        final = (self.result or {}).get("final", {}).get("lambda_max")
        return float(final) if _finite(final) else None

    @property
    def mean_lambda_max(self) -> float | None:
        """lambda_max averaged over the search (the x axis of Figure 15)."""
        values = list(self.series("lambda_max").values())
        return float(np.mean(values)) if values else None

    @property
    def final_val_error(self) -> float | None:
        errors = self.one_shot_val_error
        if errors:
            return errors[max(errors)]
        accuracy = (self.result or {}).get("final", {}).get("val_accuracy")
        return 100.0 * (1.0 - float(accuracy)) if _finite(accuracy) else None

    @property
    def genotype(self) -> dict[str, Any] | None:
        """The search's answer: result.json's genotype, else the last epoch's (still running)."""
        if self.result and self.result.get("genotype"):
            return self.result["genotype"]
        logged = [r["genotype"] for r in self.metrics if r.get("genotype")]
        return logged[-1] if logged else None

    @property
    def early_stop(self) -> dict[str, Any] | None:
        """The DARTS-ES decision (decided_at, return_epoch, ...) if the rule fired."""
        if not self.answers_es:
            return None
        stop = self.es_decision or {}
        if stop.get("triggered"):
            return stop
        fired = [r["early_stop"] for r in self.metrics if r.get("early_stop")]
        return fired[0] if fired else None

    @property
    def es_genotype(self) -> dict[str, Any] | None:
        """The DARTS-ES answer: the genotype of the return epoch, or the final one when the rule
        was on but never fired (DARTS-ES then returns what DARTS returns)."""
        stop = self.es_decision
        if stop is None:
            return None
        return stop.get("genotype") if stop.get("triggered") else self.genotype

    @property
    def answers_es(self) -> bool:
        """Whether the run can give a DARTS-ES answer: DARTS-ADA's rule triggers rollbacks."""
        return self.config.get("method") != "darts-ada"

    @property
    def es_decision(self) -> dict[str, Any] | None:
        """result.json's DARTS-ES decision, for runs that give a DARTS-ES answer."""
        return (self.result or {}).get("early_stopping") if self.answers_es else None

    @property
    def test_regret(self) -> dict[int, float]:
        """Test regret in percentage points per epoch (S5 with a tabular benchmark)."""
        return {e: 100.0 * v for e, v in self.series("test_regret").items()}

    @property
    def final_test_regret(self) -> float | None:
        """Test regret (points) of the returned genotype: result.json's, else the last epoch's."""
        value = (self.result or {}).get("test_regret")
        if _finite(value):
            return 100.0 * float(value)
        regrets = self.test_regret
        return regrets[max(regrets)] if regrets else None

    @property
    def es_test_regret(self) -> float | None:
        """Test regret (points) of the DARTS-ES genotype; the final one if the rule never fired."""
        stop = self.es_decision
        if stop is None:
            return None
        if stop.get("triggered"):
            value = stop.get("test_regret")
            return 100.0 * float(value) if _finite(value) else None
        return self.final_test_regret

    @property
    def test_error(self) -> float | None:
        return self.evaluation.error if self.evaluation else None

    @property
    def es_test_error(self) -> float | None:
        """Test error % of the DARTS-ES genotype: eval-es, or eval when both genotypes agree."""
        if self.evaluation_es is not None:
            return self.evaluation_es.error
        same = self.es_genotype is not None and self.es_genotype == self.genotype
        return self.test_error if same else None

    @property
    def parameters(self) -> float | None:
        return self.evaluation.parameters if self.evaluation else None

    def lambda_max_at(self, epoch: int) -> float | None:
        """lambda_max at the end of `epoch`: logged during the search, else an offline one."""
        logged = self.series("lambda_max")
        if epoch in logged:
            return logged[epoch]
        offline = [h["lambda_max"] for h in self.hessian
                   if h.get("epoch") == epoch and _finite(h.get("lambda_max"))]
        return float(offline[-1]) if offline else None

    @property
    def top_eigenvalues(self) -> list[float] | None:
        """The 30 largest-magnitude eigenvalues at the last hessian epoch with a dense spectrum
        (Figure 13)."""
        dense = [h for h in self.hessian if h.get("top30_by_magnitude") or h.get("spectrum")]
        if not dense:
            return None
        last = dense[-1]
        if last.get("top30_by_magnitude"):
            return [float(v) for v in last["top30_by_magnitude"]]
        return sorted((float(v) for v in last["spectrum"]), key=abs, reverse=True)[:30]


@dataclass(frozen=True)
class SelectionRun:
    """A selection protocol run (R-DARTS, best of K seeds; config.yaml with `protocol` and
    `candidates`), its result.json and the sibling eval/ of the chosen cell (Table 5)."""

    path: Path
    name: str
    config: dict[str, Any]
    result: dict[str, Any] | None
    evaluation: TrainingRun | None = None

    @property
    def first_candidate(self) -> dict[str, Any]:
        candidates = self.config.get("candidates") or {}
        return next(iter(candidates.values()), {}) if isinstance(candidates, dict) else {}

    @property
    def setting(self) -> str:
        """Protocol, space and dataset: what Table 5 has one cell for."""
        first = self.first_candidate
        return " ".join(str(v) for v in (self.config.get("protocol"), first.get("space"),
                                          first.get("dataset")) if v is not None)

    @property
    def seed(self) -> Any:
        return self.first_candidate.get("seed")

    @property
    def chosen(self) -> str | None:
        return (self.result or {}).get("chosen")

    @property
    def val_error(self) -> float | None:
        accuracy = (self.result or {}).get("val_accuracy")
        return 100.0 * (1.0 - float(accuracy)) if _finite(accuracy) else None

    @property
    def test_error(self) -> float | None:
        return self.evaluation.error if self.evaluation else None

    @property
    def test_regret(self) -> float | None:
        value = (self.result or {}).get("test_regret")
        return 100.0 * float(value) if _finite(value) else None


@dataclass
class Runs:
    """Everything found under the inputs."""

    searches: list[SearchRun] = field(default_factory=list)
    trainings: list[TrainingRun] = field(default_factory=list)
    selections: list[SelectionRun] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)  # config.yaml of neither kind

    @property
    def count(self) -> int:
        return len(self.searches) + len(self.trainings) + len(self.selections)

    def unpaired_trainings(self) -> list[TrainingRun]:
        paired = {id(t) for s in self.searches for t in (s.evaluation, s.evaluation_es) if t}
        paired |= {id(s.evaluation) for s in self.selections if s.evaluation}
        return [t for t in self.trainings if id(t) not in paired]


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise RdartsError(f"{path} is unreadable: {error}") from None
    if not isinstance(data, dict):
        raise RdartsError(f"{path} does not hold a configuration (expected a mapping)")
    return data


def _read_json(path: Path, default: Any = None) -> Any:
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise RdartsError(f"{path} is unreadable: {error}") from None


def _read_metrics(path: Path) -> list[dict[str, Any]]:
    """metrics.jsonl; a torn last line (a run killed mid-write) is skipped, others are errors."""
    if not path.exists():
        return []
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
    except OSError as error:
        raise RdartsError(f"{path} is unreadable: {error}") from None
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            if number == len(lines):
                break
            raise RdartsError(f"{path} line {number} is not JSON: {error}") from None
        if not isinstance(record, dict):
            raise RdartsError(f"{path} line {number}: expected a JSON object, got {record!r}")
        records.append(record)
    return records


def _read_hessian(run_path: Path) -> list[dict[str, Any]]:
    records = [_read_json(p) for p in sorted((run_path / "hessian").glob("epoch-*.json"))]
    return sorted((r for r in records if isinstance(r, dict) and "epoch" in r),
                  key=lambda r: r["epoch"])


def _run_name(path: Path, step: str = "search") -> str:
    """The sweep job's name for SWEEP/<job>/<step>, else the folder's own name."""
    name = path.parent.name if path.name == step else path.name
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "run"


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return unique


def find_runs(inputs: Iterable[str | Path]) -> Runs:
    """Every run directory below the inputs, with searches paired to their evaluations by the
    sweep layout (JOB/search <- JOB/eval, JOB/eval-es)."""
    folders: list[Path] = []
    for item in inputs:
        root = Path(item).expanduser()
        if not root.is_dir():
            raise RdartsError(f"{root} is not a directory (expected a run or sweep directory)")
        found = [root] if (root / "config.yaml").is_file() else []
        found += [p.parent for p in sorted(root.rglob("config.yaml")) if p.parent != root]
        folders += [f.resolve() for f in found]
    folders = sorted(dict.fromkeys(folders))
    runs = Runs()
    search_folders: list[tuple[Path, dict[str, Any]]] = []
    selection_folders: list[tuple[Path, dict[str, Any]]] = []
    trainings: dict[Path, TrainingRun] = {}
    for folder in folders:
        config = _read_yaml(folder / "config.yaml")
        if "genotype" in config and "eval" in config:
            trainings[folder] = TrainingRun(folder, config, _read_json(folder / "result.json"))
        elif "space" in config:
            search_folders.append((folder, config))
        elif "protocol" in config and "candidates" in config:
            selection_folders.append((folder, config))
        else:
            runs.ignored.append(folder)
    names = _unique_names([_run_name(folder) for folder, _ in search_folders])
    for (folder, config), name in zip(search_folders, names, strict=True):
        runs.searches.append(SearchRun(
            path=folder, name=name, config=config,
            metrics=_read_metrics(folder / "metrics.jsonl"),
            result=_read_json(folder / "result.json"),
            hessian=_read_hessian(folder),
            discretization=_read_json(folder / "discretization.json", default=[]) or [],
            evaluation=trainings.get(folder.parent / "eval") if folder.name == "search" else None,
            evaluation_es=(trainings.get(folder.parent / "eval-es")
                           if folder.name == "search" else None),
        ))
    runs.trainings = list(trainings.values())
    names = _unique_names([_run_name(folder, "selection") for folder, _ in selection_folders])
    for (folder, config), name in zip(selection_folders, names, strict=True):
        runs.selections.append(SelectionRun(
            path=folder, name=name, config=config, result=_read_json(folder / "result.json"),
            evaluation=(trainings.get(folder.parent / "eval")
                        if folder.name == "selection" else None)))
    return runs


# ---- settings and the table ----------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """Search runs that differ only in their seed."""

    label: str
    config: dict[str, Any]
    runs: tuple[SearchRun, ...]


def _format_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def key_applies(key: str, config: dict[str, Any]) -> bool:
    """Whether a configuration key can change what the run's method does: rs_* only for
    RS-ws, ada_* only for DARTS-ADA, the ES rule's parameters only where the rule is evaluated
    (DARTS-ES, DARTS-ADA, or es_simulate), es_simulate only for DARTS and DARTS-ES."""
    method = config.get("method")
    if key.startswith("rs_"):
        return method == "rs-ws"
    if key.startswith("ada_"):
        return method == "darts-ada"
    if key == "es_simulate":
        return method in ("darts", "darts-es")
    if key.startswith("es_"):
        return method in ("darts-es", "darts-ada") or bool(config.get("es_simulate"))
    return True


def setting_labels(configs: list[dict[str, Any]]) -> list[str]:
    """Short labels from the keys that differ between settings, e.g. 's1 cifar10 darts-es
    wd=0.0009' (space, dataset, method first as bare values). A key counts only among the
    settings whose method reads it (`key_applies`), so an RS-ws sample count never labels a
    DARTS setting."""
    relevant = [{k: v for k, v in c.items() if key_applies(k, c)} for c in configs]
    keys = list(dict.fromkeys(k for c in relevant for k in c))
    differing = [k for k in keys
                 if len({_format_value(c[k]) for c in relevant if k in c}) > 1]
    if not differing:
        differing = [k for k in LABEL_FIRST if k in keys]
    ordered = [k for k in LABEL_FIRST if k in differing]
    ordered += [k for k in differing if k not in LABEL_FIRST]

    def label(config: dict[str, Any]) -> str:
        parts = [_format_value(config.get(k)) if k in LABEL_FIRST
                 else f"{LABEL_SHORT.get(k, k)}={_format_value(config.get(k))}"
                 for k in ordered if k in config or k in LABEL_FIRST]
        return " ".join(parts) or "search"

    return _unique_names([label(c) for c in relevant])


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
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
              for row in rows]
    return "\n".join(lines)


# ---- figures -------------------------------------------------------------------------------


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, dpi=DPI)
    return path


def _color(index: int) -> str:
    return f"C{index % 10}"


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
    figure = _figure(7.5, 6.5)
    lambda_axes, error_axes = figure.subplots(2, 1, sharex=True)
    marked = False
    for index, setting in enumerate(settings):
        color = _color(index)
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
    return _save(figure, path)


def plot_regret(settings: list[Setting], path: Path) -> Path | None:
    """Figure 2 layout: test regret of each epoch's architecture (solid, left axis) and the
    one-shot validation error (dashed, right axis) over the search, mean +- std over seeds."""
    if not any(r.test_regret for s in settings for r in s.runs):
        return None
    figure = _figure(7.5, 4.5)
    regret_axes = figure.subplots()
    error_axes = regret_axes.twinx()
    for index, setting in enumerate(settings):
        color = _color(index)
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
    return _save(figure, path)


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
    figure = _figure(6.5, 4.8)
    axes = figure.subplots()
    for index, setting in enumerate(settings):
        mine = [(x, y) for i, _, x, y in points if i == index]
        if mine:
            xs, ys = zip(*mine, strict=True)
            axes.scatter(xs, ys, color=_color(index), label=setting.label, s=40)
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return _save(figure, path)


def plot_spectrum(settings: list[Setting], path: Path) -> Path | None:
    """Figure 13: the 30 largest-magnitude Hessian eigenvalues at the last saved epoch: per
    setting the mean over seeds (line) and every run (faint points)."""
    figure = _figure(6.5, 4.5)
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
                      color=_color(index))
        axes.plot(ranks, values.mean(axis=0), marker="o", markersize=3, color=_color(index),
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
    return _save(figure, path)


def discretization_points(settings: list[Setting]) -> list[tuple[int, SearchRun, float, float]]:
    """(setting index, run, lambda_max, drop in percentage points) per discretisation record
    whose epoch has a lambda_max."""
    points = []
    for index, setting in enumerate(settings):
        for run in setting.runs:
            for record in run.discretization:
                lambda_max = run.lambda_max_at(record.get("epoch", -1))
                if lambda_max is not None and _finite(record.get("drop")):
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


def state_name(source: int) -> str:
    """c_{k-2}, c_{k-1}, then intermediate nodes 0..N-1 (state s >= 2 is node s - 2)."""
    return {0: "c_{k-2}", 1: "c_{k-1}"}.get(source, str(source - 2))


def alpha_row_labels(run: SearchRun, cell_type: str, edges: int, ops: int) -> list[str]:
    """'node <- source: op' for every alpha entry, with op names from the run's space."""
    nodes = int((math.isqrt(9 + 8 * edges) - 3) // 2)  # E = N (N + 3) / 2
    try:
        space = get_space(run.config["space"], run.config.get("nodes"))
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
    figure = _figure(min(4 + 0.25 * len(epochs), 16), 1.5 + 0.16 * len(labels))
    axes = figure.subplots()
    image = axes.imshow(values, aspect="auto", cmap="viridis", vmin=0, vmax=1,
                        interpolation="nearest")
    axes.set_yticks(range(len(labels)), labels, fontsize=6)
    step = max(1, len(epochs) // 12)
    axes.set_xticks(range(0, len(epochs), step), [str(e) for e in epochs[::step]])
    axes.set_xlabel("epoch")
    axes.set_title(f"softmax(alpha), {cell_type} cell, {run.name}", fontsize="medium")
    figure.colorbar(image, ax=axes, label="softmax(alpha)")
    return _save(figure, path)


# ---- cell diagrams (graphviz `dot` when installed, matplotlib otherwise) -------------------


def cell_edges(genotype: dict[str, Any], cell_type: str) -> list[tuple[str, int, int]]:
    """(op, source state, target node) for every kept edge; two per node in genotype order."""
    pairs = genotype.get(cell_type) or []
    return [(str(op), int(source), index // 2) for index, (op, source) in enumerate(pairs)]


def cell_dot(genotype: dict[str, Any], cell_type: str) -> str:
    """The cell as a graphviz digraph: inputs, intermediate nodes, labelled op edges, and every
    intermediate node into the output c_{k}."""
    edges = cell_edges(genotype, cell_type)
    nodes = max((target for *_, target in edges), default=-1) + 1
    lines = [f"digraph {cell_type} {{", "  rankdir=LR;",
             '  node [style=filled, shape=rect, fontname="Helvetica"];',
             '  edge [fontname="Helvetica", fontsize=10];',
             '  "c_{k-2}" [fillcolor=darkseagreen2];', '  "c_{k-1}" [fillcolor=darkseagreen2];',
             '  "c_{k}" [fillcolor=palegoldenrod];']
    lines += [f'  "{node}" [fillcolor=lightblue, shape=box];' for node in range(nodes)]
    lines += [f'  "{state_name(source)}" -> "{target}" [label="{op}"];'
              for op, source, target in edges]
    lines += [f'  "{node}" -> "c_{{k}}" [color=grey];' for node in range(nodes)]
    return "\n".join([*lines, "}"]) + "\n"


def render_dot(dot: str, source: Path, path: Path) -> Path:
    """Write `source` and render it to PNG with graphviz's `dot`."""
    source.write_text(dot)
    try:
        subprocess.run([str(shutil.which("dot")), "-Tpng", f"-Gdpi={DPI}", str(source),
                        "-o", str(path)], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        raise RdartsError(f"graphviz could not render {source}: {error}") from None
    return path


def _node_positions(nodes: int) -> dict[str, tuple[float, float]]:
    positions = {"c_{k-2}": (0.0, 1.0), "c_{k-1}": (0.0, -1.0)}
    for node in range(nodes):
        positions[str(node)] = (1.6 + 1.4 * node, 0.9 if node % 2 == 0 else -0.9)
    positions["c_{k}"] = (1.6 + 1.4 * nodes + 0.6, 0.0)
    return positions


def _arrow(axes: Any, start: tuple[float, float], end: tuple[float, float], rad: float,
           color: str, label: str | None) -> None:
    axes.annotate("", xy=end, xytext=start, arrowprops={
        "arrowstyle": "-|>", "color": color, "shrinkA": 18, "shrinkB": 18,
        "connectionstyle": f"arc3,rad={rad}", "linewidth": 1.2})
    if label:
        # the arc3 curve's midpoint lies rad/2 * (dy, -dx) off the chord's midpoint
        dx, dy = end[0] - start[0], end[1] - start[1]
        x, y = (start[0] + end[0]) / 2 + rad / 2 * dy, (start[1] + end[1]) / 2 - rad / 2 * dx
        axes.text(x, y, label, fontsize=7, ha="center", va="center",
                  bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"})


def draw_cell(genotype: dict[str, Any], cell_type: str, path: Path) -> Path:
    """The cell drawn with matplotlib (the fallback when graphviz is not installed)."""
    edges = cell_edges(genotype, cell_type)
    nodes = max((target for *_, target in edges), default=-1) + 1
    positions = _node_positions(nodes)
    figure = _figure(2.5 + 1.5 * nodes, 3.8)
    axes = figure.subplots()
    for index, (op, source, target) in enumerate(edges):
        rad = 0.25 if index % 2 == 0 else -0.25
        _arrow(axes, positions[state_name(source)], positions[str(target)], rad, "black", op)
    for node in range(nodes):
        _arrow(axes, positions[str(node)], positions["c_{k}"], 0.0, "grey", None)
    colors = {"c_{k-2}": "#b4eeb4", "c_{k-1}": "#b4eeb4", "c_{k}": "#eee8aa"}
    for name, (x, y) in positions.items():
        text = f"${name}$" if name.startswith("c_") else name
        axes.text(x, y, text, ha="center", va="center", fontsize=11, bbox={
            "boxstyle": "round,pad=0.4", "facecolor": colors.get(name, "#add8e6")})
    xs = [x for x, _ in positions.values()]
    axes.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    axes.set_ylim(-1.6, 1.6)
    axes.set_axis_off()
    axes.set_title(f"{cell_type} cell")
    return _save(figure, path)


def write_cell(genotype: dict[str, Any], cell_type: str, out: Path, stem: str) -> list[Path]:
    """cells_<run>_<cell>.png via graphviz (plus its .dot source) or the matplotlib drawing."""
    png = out / f"{stem}.png"
    if shutil.which("dot"):
        source = out / f"{stem}.dot"
        return [source, render_dot(cell_dot(genotype, cell_type), source, png)]
    return [draw_cell(genotype, cell_type, png)]


# ---- the report ----------------------------------------------------------------------------


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
             ", ".join(f"{k}={_format_value(v)}" for k, v in s.config.items()
                       if k not in common and key_applies(k, s.config))
             or "-"] for s in settings]
    body = markdown_table(["setting", "seeds", "differs in"], rows)
    body += "\n\nCommon to all settings: " + (", ".join(
        f"`{k}={_format_value(v)}`" for k, v in common.items()) or "-") + "."
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


def _run_sections(searches: list[SearchRun], out: Path) -> tuple[list[Section], list[Path]]:
    shown, skipped = searches[:MAX_RUN_FIGURES], searches[MAX_RUN_FIGURES:]
    note = (f" Drawn for the first {MAX_RUN_FIGURES} search runs; {len(skipped)} more were "
            f"skipped: {', '.join(r.name for r in skipped)}." if skipped else "")
    alpha_images, cell_images, written = [], [], []
    for run in shown:
        for cell_type in CELL_TYPES:
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
