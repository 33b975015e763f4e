"""The search driver: a `Search` plus its run directory (metrics, checkpoints, results).

Order of writes per epoch, chosen so that a kill at any moment loses nothing and a resume is
exact: (1) append the epoch's metrics line, (2) replace genotype.json, (3) replace
checkpoint.pt. A resume trims metrics lines the checkpoint does not cover and redoes them.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from rdarts.config import SearchConfig
from rdarts.errors import DivergenceError
from rdarts.genotype import Genotype, save_genotype
from rdarts.runs import RunDir, manifest
from rdarts.search import Search, build_search, epoch_record, progress_bar


@dataclass(frozen=True)
class SearchOutcome:
    genotype: Genotype
    run_dir: Path
    result: dict[str, Any]


def run_search(config: SearchConfig, out: str | Path, *, resume: bool = False,
               overwrite: bool = False, quiet: bool = False,
               log: TextIO | None = None) -> SearchOutcome:
    """Run (or continue) a DARTS search into the run directory `out`."""
    log = sys.stderr if log is None else log
    run_dir = RunDir(out)
    search = build_search(config)
    has_checkpoint = run_dir.prepare(config.to_dict(), resume=resume, overwrite=overwrite)
    if has_checkpoint:
        search.load_state_dict(run_dir.load_checkpoint(map_location=search.device))
        run_dir.trim_metrics(search.epoch)
        _say(log, quiet, f"resuming {run_dir.path} at epoch {search.epoch}/{config.epochs}")
    else:
        run_dir.trim_metrics(0)
    info = manifest(config.seed, search.device)
    run_dir.write_json("manifest.json", info)
    started = time.perf_counter()
    _say(log, quiet, f"search: space {search.space.name} ({search.space.num_alpha} alphas), "
         f"dataset {config.dataset}, {config.epochs} epochs x {search.steps_per_epoch} steps, "
         f"order {config.order}, device {search.device}")
    while search.epoch < config.epochs:
        _run_epoch(search, run_dir, quiet, log)
    seconds = time.perf_counter() - started
    genotype = search.genotype()
    records = run_dir.read_metrics()
    result = {
        "status": "completed",
        "space": search.space.name,
        "epochs": config.epochs,
        "genotype": genotype.to_dict(),
        "final": {k: records[-1][k] for k in ("train_loss", "train_accuracy", "val_loss",
                                              "val_accuracy")} if records else {},
        "search_seconds": round(sum(r["seconds"] for r in records), 3),
        "seconds_this_session": round(seconds, 3),
    }
    run_dir.write_json("result.json", result)
    run_dir.write_json("manifest.json", {**info, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return SearchOutcome(genotype=genotype, run_dir=run_dir.path, result=result)


def _run_epoch(search: Search, run_dir: RunDir, quiet: bool, log: TextIO) -> None:
    config = search.config
    start = time.perf_counter()
    bar = progress_bar(search.steps_per_epoch, f"epoch {search.epoch + 1}/{config.epochs}", quiet)
    try:
        try:
            train = search.train_epoch(progress=bar.update)
        finally:
            bar.close()
        val = search.evaluate()
        if search.curvature_due():
            val.update(search.measure_curvature())
    except DivergenceError as error:
        last = search.epoch - 1
        kept = (f"the checkpoint of epoch {last} in {run_dir.path} is kept" if last >= 0
                else "no epoch had finished, so there is no checkpoint")
        run_dir.write_json("result.json", {"status": "diverged", "epoch": search.epoch,
                                           "reason": str(error)})
        raise DivergenceError(f"{error}; stopped, {kept}") from None
    record = epoch_record(search, train, val, time.perf_counter() - start)
    run_dir.append_metrics(record)
    save_genotype(search.genotype(), run_dir.file("genotype.json"))
    search.epoch += 1
    state = search.state_dict()
    run_dir.save_checkpoint(state)
    if config.save_every and search.epoch % config.save_every == 0:
        run_dir.save_epoch_checkpoint(search.epoch - 1, state)
    _say(log, quiet, f"epoch {record['epoch'] + 1}/{config.epochs}  "
         f"train loss {record['train_loss']:.3f} acc {record['train_accuracy']:.3f}  "
         f"one-shot val loss {record['val_loss']:.3f} acc {record['val_accuracy']:.3f}  "
         f"lr {record['lr']:.4f}"
         + (f"  lambda_max {record['lambda_max']:.4f}" if "lambda_max" in record else "")
         + f"  {record['seconds']:.1f}s")


def _say(log: TextIO, quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=log, flush=True)
