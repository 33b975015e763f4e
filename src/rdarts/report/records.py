"""What the report reads from one run: a search, a training or a selection, and its numbers.

Each record holds a run's files as `rdarts.report.collect` found them and answers in the
report's units: errors in %, regrets in percentage points (the files hold fractions),
parameters in millions. A search's DARTS-ES answer follows the method registry (DARTS-ADA's
rule triggers rollbacks, not an early-stopping answer). A search scored against a tabular
benchmark (S5) and never trained takes its test error and parameter count from the table,
and says so (`test_error_source`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rdarts.domains.base import TabularBenchmark
from rdarts.domains.registry import get_domain
from rdarts.errors import RdartsError
from rdarts.report.benchmark import table_entry
from rdarts.runs.rundir import RESUMABLE_CHANGES
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

    def epe(self, split: str) -> float | None:
        """The EPE (input pixels) on `split` (test, test_shift, val) of a disparity training."""
        value = (self.result or {}).get(f"{split}_epe")
        return float(value) if finite(value) else None


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
    benchmark: TabularBenchmark | None = None  # the table it is scored against (S5)
    selection: str | None = None  # the selection run this search is a candidate of
    chosen: bool = False  # whether that selection chose this candidate

    @property
    def seed(self) -> Any:
        return self.config.get("seed")

    @property
    def method(self) -> str:
        return str(self.config.get("method", "darts"))

    @property
    def trained(self) -> bool:
        """Whether a training run (eval/ or eval-es/) belongs to this search."""
        return self.evaluation is not None or self.evaluation_es is not None

    def table(self, genotype: dict[str, Any] | None) -> dict[str, Any] | None:
        """The benchmark's entry of `genotype`, for a search without any training."""
        return None if self.trained else table_entry(self.benchmark, genotype)

    @property
    def setting(self) -> dict[str, Any]:
        """The configuration without the seed and execution-only keys (device, data_dir...)."""
        return {k: v for k, v in self.config.items() if k not in NOT_SETTING}

    def series(self, key: str) -> dict[int, float]:
        """{epoch: value} of a per-epoch metric, finite values only."""
        return {int(r["epoch"]): float(r[key]) for r in self.metrics
                if "epoch" in r and finite(r.get(key))}

    @property
    def score_name(self) -> str | None:
        """The metric the search ranks by (result.json's `score`, else its domain's)."""
        named = ((self.result or {}).get("score") or {}).get("name")
        if named:
            return str(named)
        try:
            return get_domain(self.config.get("domain")).score.name
        except RdartsError:
            return None

    @property
    def final_score(self) -> float | None:
        """The answer's score on the search's validation split at the end: RS-ws's re-scored
        choice, else the one-shot model's (a fraction, as the files hold it)."""
        if self.score_name is None:
            return None
        key = f"val_{self.score_name}"
        result = self.result or {}
        for source in (result.get("rs_ws") or {}, result.get("final") or {}):
            if finite(source.get(key)):
                return float(source[key])
        logged = self.series(key)
        return logged[max(logged)] if logged else None

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
    def final_val_epe(self) -> float | None:
        """The one-shot validation EPE at the end (disparity searches)."""
        logged = self.series("val_epe")
        if logged:
            return logged[max(logged)]
        value = (self.result or {}).get("final", {}).get("val_epe")
        return float(value) if finite(value) else None

    def test_epe(self, split: str = "test") -> float | None:
        """EPE on a test split (test, test_shift) of the found genotype's training (eval/)."""
        return None if self.evaluation is None else self.evaluation.epe(split)

    def es_test_epe(self, split: str = "test") -> float | None:
        """EPE of the DARTS-ES genotype's training: eval-es, or eval when both agree."""
        if self.evaluation_es is not None:
            return self.evaluation_es.epe(split)
        if self.es_genotype is not None and self.es_genotype == self.genotype:
            return self.test_epe(split)
        return None

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
        """Test error % of the found genotype: its eval/ run, else (never trained) its table
        entry."""
        if self.evaluation is not None:
            return self.evaluation.error
        found = self.table(self.genotype)
        return 100.0 * float(found["test_error"]) if found else None

    @property
    def test_error_source(self) -> str | None:
        """Where `test_error` comes from: 'eval' (a training) or the table's name."""
        if self.evaluation is not None:
            return "eval" if self.evaluation.error is not None else None
        found = self.table(self.genotype)
        return str(found.get("table", "table")) if found else None

    @property
    def es_test_error(self) -> float | None:
        """Test error % of the DARTS-ES genotype: eval-es, or eval when both genotypes agree,
        or (never trained) its table entry."""
        if self.evaluation_es is not None:
            return self.evaluation_es.error
        if self.es_genotype is not None and self.es_genotype == self.genotype:
            return self.test_error
        found = self.table(self.es_genotype)
        return 100.0 * float(found["test_error"]) if found else None

    @property
    def parameters(self) -> float | None:
        """Parameters (millions) of the evaluated network, else of the table's network."""
        if self.evaluation is not None:
            return self.evaluation.parameters
        count = (self.table(self.genotype) or {}).get("parameters")
        return count / 1e6 if finite(count) else None

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
    benchmark: TabularBenchmark | None = None  # the candidates' table (S5)

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
    def chosen_label(self) -> str | None:
        """The chosen candidate by the settings it differs in ('drop_path=0.2')."""
        labels = candidate_labels(self.config.get("candidates"))
        return labels.get(self.chosen, self.chosen) if self.chosen is not None else None

    @property
    def val_error(self) -> float | None:
        accuracy = (self.result or {}).get("val_accuracy")
        return 100.0 * (1.0 - float(accuracy)) if finite(accuracy) else None

    def _table(self) -> dict[str, Any] | None:
        genotype = (self.result or {}).get("genotype")
        return None if self.evaluation else table_entry(self.benchmark, genotype)

    @property
    def test_error(self) -> float | None:
        """Test error % of the chosen cell: its eval/ run, else (never trained) its table
        entry."""
        if self.evaluation is not None:
            return self.evaluation.error
        found = self._table()
        return 100.0 * float(found["test_error"]) if found else None

    @property
    def test_error_source(self) -> str | None:
        if self.evaluation is not None:
            return "eval" if self.evaluation.error is not None else None
        found = self._table()
        return str(found.get("table", "table")) if found else None

    @property
    def test_regret(self) -> float | None:
        value = (self.result or {}).get("test_regret")
        return 100.0 * float(value) if finite(value) else None



def finite(value: Any) -> bool:
    """Whether `value` is a real, finite number (not a bool, None, NaN or a string)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def format_value(value: Any) -> str:
    """A configuration value as names, labels and tables show it (lower-case booleans, compact
    JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def candidate_labels(candidates: Any) -> dict[str, str]:
    """{candidate: 'drop_path=0.2'}: the settings a selection's candidate differs in from the
    others (its own name when they differ in nothing)."""
    configs = {n: c for n, c in candidates.items() if isinstance(c, dict)} \
        if isinstance(candidates, dict) else {}
    keys = dict.fromkeys(k for c in configs.values() for k in c)
    differing = [k for k in keys if len({format_value(c.get(k)) for c in configs.values()}) > 1]
    return {name: ",".join(f"{k}={format_value(c.get(k))}" for k in differing) or name
            for name, c in configs.items()}
