"""Reading run directories for the report: searches, trainings and selections, and pairing them.

Any folder below the inputs with a config.yaml is a run; its kind follows from its
configuration (a training has `genotype` and `eval`, a search `space`, a selection `protocol`
and `candidates`). The sweep layout pairs a search with the trainings of its genotypes
(JOB/search <- JOB/eval, JOB/eval-es) and a selection with its chosen cell's (JOB/eval).

Files are read through `rdarts.runs.rundir.RunDir`, the module that writes them, so there is one
rule for a run's files (a torn last metrics line is skipped, others are errors); the report
only adds that a file an unfinished run has not written yet means "nothing yet".

A search scored against a tabular benchmark (S5) gets its table through its domain
(`rdarts.report.benchmark`). Run names must not be misread: a selection's candidate searches
are named by the settings they differ in (`r-darts-dp_seed0.drop_path=0.2`, not `dp-0-2`), and
repeated names get `_dup2`, `_dup3`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rdarts.errors import RdartsError
from rdarts.report.benchmark import Benchmarks
from rdarts.report.labels import candidate_labels
from rdarts.report.records import SearchRun, SelectionRun, TrainingRun
from rdarts.runs.rundir import RunDir


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


def _read_hessian(run_dir: RunDir) -> list[dict[str, Any]]:
    """hessian/epoch-NNNN.json of a run, by epoch (the offline analyses' records)."""
    paths = sorted(run_dir.file("hessian").glob("epoch-*.json"))
    records = [run_dir.read_json_or(f"hessian/{p.name}") for p in paths]
    return sorted((r for r in records if isinstance(r, dict) and "epoch" in r),
                  key=lambda r: r["epoch"])


def safe_name(name: str) -> str:
    """`name` usable in a file name and a markdown link ('=', '+' and ',' kept)."""
    return re.sub(r"[^A-Za-z0-9._+=,-]+", "_", name) or "run"


def _run_name(path: Path, step: str = "search") -> str:
    """The sweep job's name for SWEEP/<job>/<step>, else the folder's own name."""
    return safe_name(path.parent.name if path.name == step else path.name)


def unique_names(names: list[str], mark: str = "_dup") -> list[str]:
    """`names` with repeats marked ('a', 'a_dup2', 'a_dup3'), so file names do not collide and
    a repeat never reads like a setting value ('dp-0' twice must not become 'dp-0-2')."""
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}{mark}{seen[name]}")
    return unique


def _folders(inputs: Iterable[str | Path]) -> list[Path]:
    """Every folder with a config.yaml at or below the inputs, each once, sorted."""
    folders: list[Path] = []
    for item in inputs:
        root = Path(item).expanduser()
        if not root.is_dir():
            raise RdartsError(f"{root} is not a directory (expected a run or sweep directory)")
        found = [root] if (root / "config.yaml").is_file() else []
        found += [p.parent for p in sorted(root.rglob("config.yaml")) if p.parent != root]
        folders += [f.resolve() for f in found]
    return sorted(dict.fromkeys(folders))


def _sibling(trainings: dict[Path, TrainingRun], folder: Path, step: str,
             name: str) -> TrainingRun | None:
    """JOB/<name> for a run in JOB/<step> (the sweep layout), else None."""
    return trainings.get(folder.parent / name) if folder.name == step else None


def _selections(found: list[tuple[Path, dict[str, Any]]], trainings: dict[Path, TrainingRun],
                benchmarks: Benchmarks) -> list[SelectionRun]:
    names = unique_names([_run_name(folder, "selection") for folder, _ in found])
    selections = []
    for (folder, config), name in zip(found, names, strict=True):
        run = SelectionRun(path=folder, name=name, config=config,
                           result=RunDir(folder).read_json_or("result.json"),
                           evaluation=_sibling(trainings, folder, "selection", "eval"))
        selections.append(dataclasses.replace(
            run, benchmark=benchmarks.for_config(run.first_candidate)))
    return selections


def _candidates(selections: list[SelectionRun]) -> dict[Path, tuple[str, str, SelectionRun]]:
    """{SELECTION/searches/<candidate>: (candidate, its label, the selection)}."""
    return {selection.path / "searches" / candidate: (candidate, label, selection)
            for selection in selections
            for candidate, label in candidate_labels(selection.config.get("candidates")).items()}


def _searches(found: list[tuple[Path, dict[str, Any]]], trainings: dict[Path, TrainingRun],
              selections: list[SelectionRun], benchmarks: Benchmarks) -> list[SearchRun]:
    candidates = _candidates(selections)
    names = unique_names([safe_name(f"{candidates[folder][2].name}.{candidates[folder][1]}")
                          if folder in candidates else _run_name(folder)
                          for folder, _ in found])
    searches = []
    for (folder, config), name in zip(found, names, strict=True):
        run_dir = RunDir(folder)
        candidate, _, selection = candidates.get(folder, (None, None, None))
        searches.append(SearchRun(
            path=folder, name=name, config=config,
            metrics=run_dir.read_metrics(),
            result=run_dir.read_json_or("result.json"),
            hessian=_read_hessian(run_dir),
            discretization=run_dir.read_json_or("discretization.json", []) or [],
            evaluation=_sibling(trainings, folder, "search", "eval"),
            evaluation_es=_sibling(trainings, folder, "search", "eval-es"),
            benchmark=benchmarks.for_config(config),
            selection=selection.name if selection else None,
            chosen=selection is not None and selection.chosen == candidate))
    return searches


def find_runs(inputs: Iterable[str | Path]) -> Runs:
    """Every run directory below the inputs, with searches paired to their evaluations by the
    sweep layout (JOB/search <- JOB/eval, JOB/eval-es), a selection's candidate searches named
    by their settings, and each search's tabular benchmark."""
    runs = Runs()
    searches: list[tuple[Path, dict[str, Any]]] = []
    selections: list[tuple[Path, dict[str, Any]]] = []
    trainings: dict[Path, TrainingRun] = {}
    for folder in _folders(inputs):
        config = RunDir(folder).read_config()
        if "genotype" in config and "eval" in config:
            trainings[folder] = TrainingRun(folder, config, RunDir(folder).read_json_or(
                "result.json"))
        elif "space" in config:
            searches.append((folder, config))
        elif "protocol" in config and "candidates" in config:
            selections.append((folder, config))
        else:
            runs.ignored.append(folder)
    benchmarks = Benchmarks()
    runs.trainings = list(trainings.values())
    runs.selections = _selections(selections, trainings, benchmarks)
    runs.searches = _searches(searches, trainings, runs.selections, benchmarks)
    return runs
