"""The domain interface: everything the search core needs from a task, and nothing more.

The paper searches cells in three domains (image classification, disparity estimation,
language modelling); the search loop, hypergradients, curvature, stopping rules, methods,
selection, run directories, sweeps and reports are the same for all of them, because they
never look inside a batch. A domain supplies its spaces, its data as streams of `Batch`es, the
supernet and the discrete network, the loss both levels and the Hessian use, summable metrics
and their summary, the score methods rank by, the regularisers DARTS-ADA and R-DARTS may raise,
and optional hooks (a weight-step penalty, a per-epoch plan, a tabular benchmark).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from rdarts.core.genotype import Genotype
from rdarts.core.space import CellLayout, CellSpace
from rdarts.errors import ConfigError

# The image supernet's layout options and their off values (search/config.py).
IMAGE_LAYOUT_OPTIONS = (("channels_last", False), ("mixed_sum", "loop"))


def refuse_image_layout_options(config: Any, domain: str, also: tuple = ()) -> None:
    """A domain whose networks have no meaning for the image supernet's layout options
    refuses them (one line naming them) rather than ignoring them; `also`: more (name, off
    value) pairs the domain cannot serve."""
    given = [name for name, off in (*IMAGE_LAYOUT_OPTIONS, *also)
             if getattr(config, name, off) != off]
    if given:
        raise ConfigError(f"{', '.join(given)}: speed options of the image domain; the "
                          f"{domain} domain computes its cells without them")


@dataclass(frozen=True, eq=False)
class Batch:
    """One minibatch: the model's inputs (images; left and right views; tokens and the hidden
    state), the targets the loss compares with, and how many samples it holds.

    `lr_scale` multiplies the weight learning rate of the step this batch drives (and the
    virtual step's xi): truncated BPTT scales it by seq_len / bptt. `options` are keyword
    arguments of the model's forward that belong to the batch: a curvature probe's frozen
    dropout masks, which make its loss a fixed function of alpha.
    """

    inputs: tuple[torch.Tensor, ...]
    targets: torch.Tensor
    size: int
    lr_scale: float = 1.0
    options: Mapping[str, Any] = field(default_factory=dict)


class Stream(Protocol):
    """An endless, resumable source of batches (the train or the alpha split)."""

    steps_per_epoch: int

    def next(self) -> Batch: ...
    def carry(self, outputs: Any) -> None: ...  # RNN hidden state into the next window
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class Pass(Protocol):
    """One ordered pass over a split (one-shot validation, test): batches in order, and the
    outputs of each fed back (a language model carries its hidden state to the next window)."""

    def __iter__(self) -> Iterator[Batch]: ...
    def carry(self, outputs: Any) -> None: ...


@dataclass(eq=False)
class SearchData:
    """The data of one search: the two streams of the bilevel problem, the whole alpha split
    in order (one-shot validation) and random probe batches (Hessian, RS-ws scoring)."""

    name: str
    train: Stream
    val: Stream
    evaluation: Callable[[], Pass]
    probe: Callable[[int, torch.Generator], list[Batch]]
    info: dict[str, Any] = field(default_factory=dict)  # what the supernet needs (classes, ...)


@dataclass(frozen=True)
class Score:
    """The metric methods rank by, and its direction (accuracy: higher; EPE, perplexity:
    lower). Run records carry it, so reports and selections need no domain import."""

    name: str
    higher_is_better: bool

    def best(self, values: Mapping[Any, float]) -> Any:
        """The key of the best value (the first on ties)."""
        pick = max if self.higher_is_better else min
        return pick(values, key=lambda k: values[k])

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "higher": self.higher_is_better}


@dataclass(frozen=True)
class Regularizer:
    """A regulariser of the inner problem that DARTS-ADA may raise (paper Section 7.1): its
    setting name in the search configuration and its ceiling R_max."""

    name: str
    setting: str
    r_max: float
    grid: tuple[float, ...] = ()  # R-DARTS' default strengths in this domain (else the paper's)


@dataclass(frozen=True)
class EpochPlan:
    """The schedule values of one epoch: the weight learning rate, keyword arguments of the
    supernet's training forward pass (drop path), and the values the metrics line shows."""

    lr: float
    forward: dict[str, Any]
    record: dict[str, float]


class TabularBenchmark(Protocol):
    """A table of trained architectures: a genotype's entry and its test regret (S5).

    `lookup` returns at least `table` (the table's name), `test_error` and `test_regret`
    (fractions: 0.01 is one percentage point) and may add `parameters`; the report draws
    `expected_random_regret()` (a fraction) as the random-architecture baseline."""

    name: str

    def lookup(self, genotype: dict[str, Any]) -> dict[str, Any]: ...
    def expected_random_regret(self) -> float: ...


class Domain(Protocol):
    """What a task provides to the search core (see the module docstring)."""

    name: str
    score: Score
    regularizers: dict[str, Regularizer]
    layouts: tuple[CellLayout, ...]
    known_genotypes: dict[str, dict[str, Any]]

    def spaces(self) -> dict[str, CellSpace]: ...
    def space(self, name: str, nodes: int | None = None) -> CellSpace: ...
    def search_data(self, config: Any, device: torch.device) -> SearchData: ...
    def supernet(self, space: CellSpace, config: Any, data: SearchData) -> nn.Module: ...
    def loss(self, outputs: Any, batch: Batch) -> torch.Tensor: ...
    def metrics(self, outputs: Any, batch: Batch) -> dict[str, torch.Tensor]: ...
    def summarise(self, sums: Mapping[str, float]) -> dict[str, float]: ...
    def penalty(self, outputs: Any) -> torch.Tensor | float: ...
    def plan(self, config: Any, epoch: int, regularization: Mapping[str, float]) -> EpochPlan: ...
    def apply_plan(self, data: SearchData, plan: EpochPlan) -> None: ...
    def benchmark(self, space: CellSpace, config: Any) -> TabularBenchmark | None: ...
    def training(self, config: Any, genotype: Genotype) -> Any: ...  # an EpochTask
    def add_benchmark_commands(self, benchmarks: Any) -> None: ...  # `rdarts bench ...`
    def epoch_text(self, record: Mapping[str, Any]) -> str: ...
    def check_genotype(self, genotype: Genotype) -> None: ...
