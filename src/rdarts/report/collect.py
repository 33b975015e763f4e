"""Reading run directories for the report: searches, trainings and selections, and pairing them.

Any folder below the inputs with a config.yaml is a run; its kind follows from its
configuration (a training has `genotype` and `eval`, a search `space`, a selection `protocol`
and `candidates`). The sweep layout pairs a search with the trainings of its genotypes
(JOB/search <- JOB/eval, JOB/eval-es) and a selection with its chosen cell's (JOB/eval).

Files are read through `rdarts.runs.rundir.RunDir`, the module that writes them, so there is one
rule for a run's files (a torn last metrics line is skipped, others are errors); the report
only adds that a file an unfinished run has not written yet means "nothing yet".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rdarts.errors import RdartsError
from rdarts.runs.rundir import RESUMABLE_CHANGES, RunDir
from rdarts.search.registry import METHODS

# Keys that do not change what a search computes: runs differing only in these are seeds.
NOT_SETTING = frozenset({"seed"}) | RESUMABLE_CHANGES


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
                if "epoch" in r and finite(r.get(key))}

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
        return float(final) if finite(final) else None

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
        return 100.0 * (1.0 - float(accuracy)) if finite(accuracy) else None

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
        spec = METHODS.get(self.config.get("method", "darts"))
        return spec is None or spec.answers_early_stop(self.config)

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
        if finite(value):
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
            return 100.0 * float(value) if finite(value) else None
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
                   if h.get("epoch") == epoch and finite(h.get("lambda_max"))]
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
        return 100.0 * (1.0 - float(accuracy)) if finite(accuracy) else None

    @property
    def test_error(self) -> float | None:
        return self.evaluation.error if self.evaluation else None

    @property
    def test_regret(self) -> float | None:
        value = (self.result or {}).get("test_regret")
        return 100.0 * float(value) if finite(value) else None


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


def finite(value: Any) -> bool:
    """Whether `value` is a real, finite number (not a bool, None, NaN or a string)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _read_hessian(run_dir: RunDir) -> list[dict[str, Any]]:
    """hessian/epoch-NNNN.json of a run, by epoch (the offline analyses' records)."""
    paths = sorted(run_dir.file("hessian").glob("epoch-*.json"))
    records = [run_dir.read_json_or(f"hessian/{p.name}") for p in paths]
    return sorted((r for r in records if isinstance(r, dict) and "epoch" in r),
                  key=lambda r: r["epoch"])


def _run_name(path: Path, step: str = "search") -> str:
    """The sweep job's name for SWEEP/<job>/<step>, else the folder's own name."""
    name = path.parent.name if path.name == step else path.name
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "run"


def unique_names(names: list[str]) -> list[str]:
    """`names` with repeats numbered ('a', 'a-2', 'a-3'), so file names do not collide."""
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
        run_dir = RunDir(folder)
        config = run_dir.read_config()
        if "genotype" in config and "eval" in config:
            trainings[folder] = TrainingRun(folder, config, run_dir.read_json_or("result.json"))
        elif "space" in config:
            search_folders.append((folder, config))
        elif "protocol" in config and "candidates" in config:
            selection_folders.append((folder, config))
        else:
            runs.ignored.append(folder)
    names = unique_names([_run_name(folder) for folder, _ in search_folders])
    for (folder, config), name in zip(search_folders, names, strict=True):
        run_dir = RunDir(folder)
        runs.searches.append(SearchRun(
            path=folder, name=name, config=config,
            metrics=run_dir.read_metrics(),
            result=run_dir.read_json_or("result.json"),
            hessian=_read_hessian(run_dir),
            discretization=run_dir.read_json_or("discretization.json", []) or [],
            evaluation=trainings.get(folder.parent / "eval") if folder.name == "search" else None,
            evaluation_es=(trainings.get(folder.parent / "eval-es")
                           if folder.name == "search" else None),
        ))
    runs.trainings = list(trainings.values())
    names = unique_names([_run_name(folder, "selection") for folder, _ in selection_folders])
    for (folder, config), name in zip(selection_folders, names, strict=True):
        runs.selections.append(SelectionRun(
            path=folder, name=name, config=config,
            result=RunDir(folder).read_json_or("result.json"),
            evaluation=(trainings.get(folder.parent / "eval")
                        if folder.name == "selection" else None)))
    return runs

