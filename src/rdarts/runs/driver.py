"""Drivers: an epoch-based task (a search, a training) plus its run directory.

Order of writes per epoch, chosen so that a kill at any moment loses nothing and a resume is
exact: (1) append the epoch's metrics line, (2) replace the task's own epoch files (the
search's genotype.json), (3) replace checkpoint.pt, which keeps a copy of every line it covers.
A resume loads the checkpoint only if its stored configuration is this run's, makes
metrics.jsonl hold exactly the lines it covers (dropping later ones, restoring lost ones from
the copy) and redoes the later epochs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

import torch
from tqdm import tqdm

from rdarts.core.genotype import Genotype
from rdarts.errors import DivergenceError, RunDirError
from rdarts.runs.manifest import manifest
from rdarts.runs.records import MetricsLine
from rdarts.runs.rundir import METRICS_COPY, RunDir
from rdarts.runs.tensorboard import EventLog


class EpochTask(Protocol):
    """What the driver needs from a search or a training run."""

    epoch: int  # the next epoch to run
    device: torch.device

    @property
    def epochs(self) -> int: ...
    @property
    def steps_per_epoch(self) -> int: ...
    @property
    def finished(self) -> bool: ...  # stopped early (DARTS-ES)
    def between_epochs(self, run_dir: RunDir) -> None: ...  # e.g. DARTS-ADA's rollback
    def describe(self) -> str: ...
    def run_epoch(self, progress: Any) -> MetricsLine: ...
    def epoch_line(self, record: dict[str, Any]) -> str: ...
    def write_epoch_files(self, run_dir: RunDir) -> None: ...
    def summary(self, records: list[MetricsLine]) -> Mapping[str, Any]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Outcome:
    run_dir: Path
    result: dict[str, Any]


@dataclass(frozen=True)
class SearchOutcome(Outcome):
    genotype: Genotype


def progress_bar(total: int, description: str, quiet: bool) -> tqdm:
    """A tqdm bar on stderr, off with --quiet or when stderr is not a terminal."""
    return tqdm(total=total, desc=description, leave=False, file=sys.stderr,
                disable=quiet or not sys.stderr.isatty(), dynamic_ncols=True)


def run_epochs(task: EpochTask, config: dict[str, Any], seed: int, out: str | Path, *,
               resume: bool = False, overwrite: bool = False, quiet: bool = False,
               save_every: int = 0, log: TextIO | None = None) -> Outcome:
    """Run `task` to its last epoch in the run directory `out` (or continue it)."""
    log = sys.stderr if log is None else log
    run_dir = RunDir(out)
    saved = None
    if run_dir.prepare(config, resume=resume, overwrite=overwrite):
        saved = _resume(task, run_dir, config)
        _say(log, quiet, f"resuming {run_dir.path} at epoch {task.epoch}/{task.epochs}")
    elif resume:
        _say(log, quiet, f"resuming {run_dir.path} at epoch 0/{task.epochs}: it was stopped "
                         "before its first checkpoint")
    restored = run_dir.restore_metrics(task.epoch, saved)
    if restored:
        _say(log, quiet, f"restored the metrics line(s) of epoch(s) "
                         f"{', '.join(map(str, restored))} from the checkpoint")
    info = manifest(seed, task.device)
    run_dir.write_json("manifest.json", info)
    _say(log, quiet, task.describe())
    events = EventLog(run_dir)
    try:
        task.between_epochs(run_dir)  # a resumed run may stop on a decision its checkpoint holds
        while task.epoch < task.epochs and not task.finished:
            _run_epoch(task, run_dir, quiet, save_every, log, events)
            task.between_epochs(run_dir)
    finally:
        events.close()
    result = {"status": "completed", **task.summary(run_dir.read_metrics())}
    run_dir.write_json("result.json", result)
    run_dir.write_json("manifest.json", {**info, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return Outcome(run_dir=run_dir.path, result=result)


def _resume(task: EpochTask, run_dir: RunDir, config: dict[str, Any]) -> list[MetricsLine]:
    """Load checkpoint.pt into `task` (its stored configuration checked first); return its
    copy of the metrics lines ([] for a checkpoint older than the copy)."""
    state = run_dir.resume_state(config, map_location=task.device)
    load_task_state(task, state, run_dir.checkpoint)
    return list(state.get(METRICS_COPY) or [])


def load_task_state(task: EpochTask, state: dict[str, Any], path: Path) -> None:
    """`task.load_state_dict(state)`, with a state that does not fit the task (missing or
    unexpected entries, other shapes: a checkpoint of another space or kind of run) as one
    RunDirError instead of a traceback."""
    try:
        task.load_state_dict(state)
    except (KeyError, RuntimeError, ValueError, TypeError) as error:
        reason = " ".join(str(error).split())
        reason = reason if len(reason) <= 200 else reason[:197] + "..."
        raise RunDirError(
            f"checkpoint {path} does not fit this run ({type(error).__name__}: {reason}); "
            "it comes from another run: restore this run's checkpoint, or pass --overwrite to "
            "start again") from None


def _run_epoch(task: EpochTask, run_dir: RunDir, quiet: bool, save_every: int,
               log: TextIO, events: EventLog) -> None:
    start = time.perf_counter()
    bar = progress_bar(task.steps_per_epoch, f"epoch {task.epoch + 1}/{task.epochs}", quiet)
    try:
        with bar:
            record = task.run_epoch(bar.update)
    except DivergenceError as error:
        last = task.epoch - 1
        kept = (f"the checkpoint of epoch {last} in {run_dir.path} is kept" if last >= 0
                else "no epoch had finished, so there is no checkpoint")
        run_dir.write_json("result.json", {"status": "diverged", "epoch": task.epoch,
                                           "reason": str(error)})
        raise DivergenceError(f"{error}; stopped, {kept}") from None
    record = {"epoch": task.epoch, **record, "seconds": round(time.perf_counter() - start, 3)}
    run_dir.append_metrics(record)
    events.write(record)
    task.write_epoch_files(run_dir)
    task.epoch += 1
    state = task.state_dict()
    run_dir.save_checkpoint(state)
    if save_every and task.epoch % save_every == 0:
        run_dir.save_epoch_checkpoint(task.epoch - 1, state)
    _say(log, quiet, f"epoch {task.epoch}/{task.epochs}  {task.epoch_line(record)}  "
                     f"{record['seconds']:.1f}s")


def _say(log: TextIO, quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=log, flush=True)
