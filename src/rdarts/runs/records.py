"""Typed records: what run files hold, defined once (style.md: typed records).

`metrics.jsonl` holds one `MetricsLine` per epoch, `result.json` a `SearchResult`,
`TrainingResult` or `SelectionResult`, and a sweep's `summary.json` one `JobRecord` per job.
Metric names follow the domain's summary (`train_loss`, `val_accuracy`, `val_epe`, ...), so the
lines are `total=False`: every key is optional except where a writer guarantees it. Readers
that need a domain-free answer use the record's `score` ({name, higher}).
"""

from __future__ import annotations

from typing import Any, TypedDict


class ScoreRecord(TypedDict):
    """The metric a run is ranked by and its direction (accuracy: higher is better)."""

    name: str
    higher: bool


class MetricsLine(TypedDict, total=False):
    """One epoch of a search or a training (metrics.jsonl)."""

    epoch: int
    seconds: float
    lr: float
    drop_path_prob: float
    cutout_prob: float
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    lambda_max: float
    lambda_min: float
    hessian_products: int
    hessian_seconds: float
    hessian_residual: float
    lambda_max_error_estimate: float
    hessian_batches: int
    lambda_max_dominant: list[list[Any]]
    lambda_max_per_batch: list[float]
    lambda_max_std: float
    spectrum: list[float]
    alpha_softmax: dict[str, list[list[float]]]
    genotype: dict[str, Any]
    lambda_bar_history: list[list[float]]
    early_stop: dict[str, Any]
    test_regret: float
    benchmark: dict[str, Any]
    rs_val_accuracy: float
    rollback: int  # metrics-superseded.jsonl: the rollback that superseded the line
    # the language domain (perplexity = exp(loss) over the predicted tokens)
    train_perplexity: float
    val_perplexity: float
    rs_val_perplexity: float
    best_val_perplexity: float  # a training's best so far (NT-ASGD keeps those weights)
    test_loss: float
    test_perplexity: float
    asgd: bool  # a training averages (ASGD) since the non-monotonic trigger
    switched_to_asgd: bool
    rolled_back: bool  # a NaN loss restored the best weights


class SearchResult(TypedDict, total=False):
    """result.json of a search."""

    status: str  # completed | diverged
    method: str
    space: str
    epochs: int
    genotype: dict[str, Any]
    final: dict[str, float]
    search_seconds: float
    score: ScoreRecord
    early_stopping: dict[str, Any]
    stopped_at_epoch: int
    rollbacks: list[dict[str, Any]]
    ignored_triggers: list[dict[str, Any]]
    final_regularization: dict[str, float]
    rs_ws: dict[str, Any]
    test_regret: float
    benchmark: dict[str, Any]
    epoch: int  # diverged: the epoch that diverged
    reason: str


class TrainingResult(TypedDict, total=False):
    """result.json of a training from scratch."""

    status: str
    eval: str
    val_accuracy: float
    val_error: float
    test_accuracy: float
    test_error: float
    parameters: int
    parameters_with_auxiliary: int
    epochs: int
    genotype: dict[str, Any]
    train_seconds: float
    # the language domain
    corpus: str
    val_perplexity: float  # the best validation epoch's
    test_perplexity: float  # the best validation weights'
    asgd_from_epoch: int | None
    score: dict[str, Any]


class SelectionResult(TypedDict, total=False):
    """result.json of a selection (R-DARTS or best of K)."""

    protocol: str
    status: str  # completed | partial
    candidates: list[dict[str, Any]]
    chosen: str
    genotype: dict[str, Any]
    val_accuracy: float
    score: ScoreRecord
    test_regret: float


class JobRecord(TypedDict, total=False):
    """One job of a sweep in summary.json."""

    name: str
    status: str  # done | failed | skipped
    attempts: int  # tries in this invocation (0: reused)
    seconds: float | None  # the measured cost; a reused job keeps it (None: never recorded)
    rerun_seconds: float  # reused jobs: what this invocation spent on them
    reused: bool
    steps: list[str]
    error: str
    results: dict[str, Any]
