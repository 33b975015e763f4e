"""A search run: one `Search` and one method composed into the epoch driver's task.

The task is what `rdarts.runs.driver.run_epochs` runs: per epoch the search's training epoch
with the method's step, the method's additions to the record, the run files, and between
epochs the method's decision (DARTS-ADA's rollback). Its `state_dict` is the search's plus the
method's, so resume and rollback restore everything, the stopping rule included.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TextIO

import torch

from rdarts.core.genotype import Genotype, save_genotype
from rdarts.runs.driver import SearchOutcome, run_epochs
from rdarts.runs.rundir import RunDir
from rdarts.search.config import SearchConfig
from rdarts.search.loop import Search, build_search
from rdarts.search.registry import method_spec


class SearchTask:
    """The epoch task of one search with one method (`rdarts.runs.driver.EpochTask`)."""

    def __init__(self, search: Search, method: Any) -> None:
        self.search = search
        self.method = method

    @property
    def epoch(self) -> int:
        return self.search.epoch

    @epoch.setter
    def epoch(self, value: int) -> None:
        self.search.epoch = value

    @property
    def device(self) -> torch.device:
        return self.search.device

    @property
    def epochs(self) -> int:
        return self.search.epochs

    @property
    def steps_per_epoch(self) -> int:
        return self.search.steps_per_epoch

    @property
    def finished(self) -> bool:
        return self.method.finished

    def between_epochs(self, run_dir: RunDir) -> None:
        self.method.between_epochs(self, run_dir)

    def describe(self) -> str:
        return f"{self.search.config.method} {self.search.describe()}{self.method.describe()}"

    def run_epoch(self, progress: Callable[..., Any] | None = None) -> dict[str, Any]:
        """One training epoch with the method's step, then the method's epoch record (without
        epoch and seconds, which the driver adds)."""
        record: dict[str, Any] = self.search.train_epoch(
            partial(self.method.step, self.search), progress,
            validation_batches=self.method.validation_batches)
        self.method.end_epoch(self.search, record)
        return record

    def epoch_line(self, record: dict[str, Any]) -> str:
        return self.method.epoch_text(self.search, record)

    def write_epoch_files(self, run_dir: RunDir) -> None:
        self.method.write_epoch_files(self.search, run_dir)

    def summary(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        return self.method.summary(self.search, records)

    def genotype(self) -> Genotype:
        return self.method.answer(self.search)

    def state_dict(self) -> dict[str, Any]:
        return {**self.search.state_dict(), **self.method.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.search.load_state_dict(state)
        self.method.load_state_dict(state)


def build_task(config: SearchConfig, search: Search | None = None) -> SearchTask:
    """The task of `config.method` around a (new) search; the method's preconditions first."""
    spec = method_spec(config.method)
    spec.check(config)
    search = build_search(config) if search is None else search
    return SearchTask(search, spec.build(config))


def run_search(config: SearchConfig, out: str | Path, *, resume: bool = False,
               overwrite: bool = False, quiet: bool = False,
               log: TextIO | None = None) -> SearchOutcome:
    """Run (or continue) the search of `config.method` into the run directory `out`."""
    spec = method_spec(config.method)
    task = build_task(config)  # checks the method's preconditions before anything is built
    save_every = 1 if spec.save_every_epoch else config.save_every
    outcome = run_epochs(task, config.to_dict(), config.seed, out, resume=resume,
                         overwrite=overwrite, quiet=quiet, save_every=save_every, log=log)
    genotype = task.genotype()
    save_genotype(genotype, Path(out) / "genotype.json")
    return SearchOutcome(run_dir=outcome.run_dir, result=outcome.result, genotype=genotype)
