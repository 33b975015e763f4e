"""What the report reads from one run: a search, a training or a selection, and its numbers.

Each record holds a run's files as `rdarts.report.collect` found them and answers in the
report's units (`rdarts.report.metric`: errors in %, perplexities, EPE; regrets in percentage
points; parameters in millions). A search's DARTS-ES answer follows the method registry. A
search scored against a tabular benchmark (S5) and never trained takes its test error and
parameter count from the table, and says so (`test_source`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rdarts.domains.base import TabularBenchmark
from rdarts.domains.registry import get_domain
from rdarts.errors import RdartsError
from rdarts.report.benchmark import table_entry
from rdarts.report.labels import candidate_labels
from rdarts.report.metric import Metric, metric_for
from rdarts.runs.rundir import RESUMABLE_CHANGES, with_added_settings
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
    def score_name(self) -> str | None:
        """The score its domain ranks by (result.json's `score`, else the domain's)."""
        return _score_name(self.result, self.config)

    @property
    def metric(self) -> Metric:
        return metric_for(self.score_name)

    @property
    def value(self) -> float | None:
        """The final value of its metric (error %, perplexity, EPE) on the test set (eval:
        test), else on the held-out part (holdout)."""
        for split in ("test", "val"):
            found = self.value_on(split)
            if found is not None:
                return found
        return None

    def value_on(self, split: str) -> float | None:
        """Its metric on one split (test, val; test_shift: disparity's shifted test set)."""
        return self.metric.value(self.result or {}, split)

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
        """The configuration without the seed and execution-only keys (device, data_dir...),
        settings added since older runs at the value those had (the same-run rule's)."""
        return {k: v for k, v in with_added_settings(self.config).items()
                if k not in NOT_SETTING}

    def series(self, key: str) -> dict[int, float]:
        """{epoch: value} of a per-epoch metric, finite values only."""
        return {int(r["epoch"]): float(r[key]) for r in self.metrics
                if "epoch" in r and finite(r.get(key))}

    @property
    def score_name(self) -> str | None:
        """The metric the search ranks by (result.json's `score`, else its domain's)."""
        return _score_name(self.result, self.config)

    @property
    def metric(self) -> Metric:
        return metric_for(self.score_name)

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
    def one_shot_series(self) -> dict[int, float]:
        """The one-shot model's validation value per epoch in the metric's unit (error %:
        100 (1 - val_accuracy); perplexity; EPE)."""
        values = ((r.get("epoch"), self.metric.value(r, "val")) for r in self.metrics)
        return {int(e): v for e, v in values if e is not None and finite(v)}

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
    def final_one_shot(self) -> float | None:
        """The one-shot validation value at the end of the search (Table 2's column)."""
        series = self.one_shot_series
        if series:
            return series[max(series)]
        return self.metric.value((self.result or {}).get("final", {}), "val")

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
    def test_value(self) -> float | None:
        """The found genotype's test value (error %, perplexity, EPE): its eval/ run, else
        (never trained) its table entry."""
        if self.evaluation is not None:
            return self.evaluation.value
        return self._table_value(self.genotype)

    def _table_value(self, genotype: dict[str, Any] | None) -> float | None:
        found = self.table(genotype)
        return self.metric.of_fraction(float(found["test_error"])) if found else None

    @property
    def test_source(self) -> str | None:
        """Where `test_value` comes from: 'eval' (a training) or the table's name."""
        if self.evaluation is not None:
            return "eval" if self.evaluation.value is not None else None
        found = self.table(self.genotype)
        return str(found.get("table", "table")) if found else None

    @property
    def es_test_value(self) -> float | None:
        """The DARTS-ES genotype's test value: eval-es, or eval when both genotypes agree, or
        (never trained) its table entry."""
        if self.evaluation_es is not None:
            return self.evaluation_es.value
        if self.es_genotype is not None and self.es_genotype == self.genotype:
            return self.test_value
        return self._table_value(self.es_genotype)

    def split_value(self, split: str, early_stopping: bool = False) -> float | None:
        """The found (or DARTS-ES) genotype's trained value on another test split (disparity's
        shifted test set, test_shift); the DARTS one when both genotypes agree."""
        if early_stopping and self.evaluation_es is not None:
            return self.evaluation_es.value_on(split)
        if early_stopping and self.es_genotype != self.genotype:
            return None
        return None if self.evaluation is None else self.evaluation.value_on(split)

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
    def metric(self) -> Metric:
        return metric_for(_score_name(self.result, self.first_candidate))

    @property
    def val_value(self) -> float | None:
        """The chosen cell's retraining validation value (error %, perplexity, EPE)."""
        return self.metric.value(self.result or {}, "val")

    def _table(self) -> dict[str, Any] | None:
        genotype = (self.result or {}).get("genotype")
        return None if self.evaluation else table_entry(self.benchmark, genotype)

    @property
    def test_value(self) -> float | None:
        """The chosen cell's test value: its eval/ run, else (never trained) its table entry."""
        if self.evaluation is not None:
            return self.evaluation.value
        found = self._table()
        return self.metric.of_fraction(float(found["test_error"])) if found else None

    @property
    def test_source(self) -> str | None:
        if self.evaluation is not None:
            return "eval" if self.evaluation.value is not None else None
        found = self._table()
        return str(found.get("table", "table")) if found else None

    @property
    def test_regret(self) -> float | None:
        value = (self.result or {}).get("test_regret")
        return 100.0 * float(value) if finite(value) else None



def _score_name(result: dict[str, Any] | None, config: dict[str, Any]) -> str | None:
    """A run's score: result.json's `score`, else its domain's (None for an unknown domain)."""
    named = ((result or {}).get("score") or {}).get("name")
    if named:
        return str(named)
    try:
        return get_domain(config.get("domain")).score.name
    except RdartsError:
        return None


def finite(value: Any) -> bool:
    """Whether `value` is a real, finite number (not a bool, None, NaN or a string)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
