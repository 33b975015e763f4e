"""How the report shows a domain's score: error % for accuracy, perplexity, EPE ...

Every run records the score its domain ranks by (result.json's `score`: accuracy for images,
perplexity for language models, EPE for disparity). The paper reports image results as test
*error* in % (Tables 1, 2 and 5) but language models by perplexity (Figure 16) and disparity by
end-point error (Tables 3 and 4), so the report reads each value through its run's `Metric`:
the unit it shows, the CSV key and the header. A score the report has not met before is shown
as itself (`test_<name>`, `val_<name>`), so a new domain needs no change here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_SCORE = "accuracy"  # runs written before result.json named its score are image runs


@dataclass(frozen=True)
class Metric:
    """The report's view of one score: its label ("error %"), CSV key stem ("error_pct") and
    decimals; `value` reads it from a result or a metrics line in that unit."""

    score: str
    label: str
    key: str
    decimals: int

    def value(self, values: Mapping[str, Any], split: str) -> float | None:
        """The `split` (test, val) value in the report's unit, None if `values` lacks it."""
        if self.score == "accuracy":
            if _number(values.get(f"{split}_error")):
                return 100.0 * float(values[f"{split}_error"])
            if _number(values.get(f"{split}_accuracy")):
                return 100.0 * (1.0 - float(values[f"{split}_accuracy"]))
            return None
        value = values.get(f"{split}_{self.score}")
        return float(value) if _number(value) else None

    def of_fraction(self, error: float) -> float | None:
        """A tabular benchmark's test error (a fraction) in this unit; tables hold errors."""
        return 100.0 * error if self.score == "accuracy" else None

    def header(self, what: str) -> str:
        """'Test error %' / 'Test perplexity' for what = 'Test'."""
        return f"{what} {self.label}"

    def csv_key(self, prefix: str) -> str:
        """'test_error_pct' / 'test_perplexity' for prefix = 'test'."""
        return f"{prefix}_{self.key}"


KNOWN = {
    "accuracy": Metric("accuracy", "error %", "error_pct", 2),
    "perplexity": Metric("perplexity", "perplexity", "perplexity", 1),
    "epe": Metric("epe", "EPE", "epe", 3),  # in input pixels
}


def metric_for(score: str | None) -> Metric:
    """The report's metric for a run's score name (None: an image run from before scores
    were recorded)."""
    name = score or DEFAULT_SCORE
    return KNOWN.get(name) or Metric(name, name, name, 3)


def common_metric(metrics: list[Metric]) -> Metric:
    """The metric shared by `metrics`; the default (accuracy) one when there are none. Callers
    split mixed reports by metric first (`tables.metric_groups`)."""
    found = dict.fromkeys(metrics)
    if len(found) > 1:
        raise ValueError("runs with different scores share a table: "
                         + ", ".join(m.score for m in found))
    return next(iter(found), KNOWN[DEFAULT_SCORE])


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value
