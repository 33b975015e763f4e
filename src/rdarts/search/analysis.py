"""Offline analyses of a finished (or running) search from its checkpoints.

- `run_hessian`: lambda_max (and the dense spectrum) at a saved epoch (spec section 5; the
  paper's Figures 13/14), written to RUN_DIR/hessian/epoch-NNNN.json.
- `run_discretization`: one-shot validation accuracy with softmax(alpha) versus the one-hot
  genotype with the search weights kept, and the drop (the paper's Section 6, Figure 6),
  written to RUN_DIR/discretization.json.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rdarts.core.genotype import one_hot
from rdarts.errors import RdartsError
from rdarts.runs.driver import load_task_state
from rdarts.runs.rundir import RunDir
from rdarts.search.config import SearchConfig, from_dict
from rdarts.search.loop import Search, build_search


def load_search_run(path: str, device: str | None = None
                    ) -> tuple[RunDir, SearchConfig, Search]:
    """A search run directory, its configuration, and a `Search` built from it."""
    run_dir = RunDir(path)
    if not run_dir.holds_run():
        raise RdartsError(f"{run_dir.path} holds no rdarts run (no config.yaml)")
    config = from_dict(run_dir.read_config())
    if device is not None:
        config = dataclasses.replace(config, device=device)
    return run_dir, config, build_search(config)


def run_hessian(path: str, *, epoch: int | None = None, batches: int | None = None,
                spectrum: bool = False, mode: str | None = None, shift: bool | None = None,
                device: str | None = None) -> dict[str, Any]:
    """Curvature at the end of `epoch` (a saved epoch) or of the latest checkpoint."""
    if batches is not None and batches < 1:
        raise RdartsError("--batches must be >= 1")
    run_dir, config, search = load_search_run(path, device)
    state = run_dir.load_checkpoint(map_location=search.device, epoch=epoch)
    load_task_state(search, state, run_dir.path)
    search.epoch = state["epoch"] - 1  # the epoch the checkpoint ends; same batches as logged
    mode = mode or config.hessian_mode
    shift = config.hessian_shift if shift is None else shift
    record = {"run": str(run_dir.path), "epoch": search.epoch, "mode": mode, "shift": shift,
              **search.measure_curvature(batches, with_spectrum=spectrum, mode=mode,
                                         shift=shift)}
    run_dir.write_json(f"hessian/epoch-{search.epoch:04d}.json", record)
    return record


def run_discretization(path: str, *, epochs: list[int] | None = None, all_saved: bool = False,
                       device: str | None = None) -> list[dict[str, Any]]:
    """The discretisation drop at the given saved epochs, every saved epoch, or the latest."""
    run_dir, _, search = load_search_run(path, device)
    chosen: list[int | None] = list(epochs) if epochs else [None]
    if all_saved:
        chosen = list(run_dir.saved_epochs())
        if not chosen:
            raise RdartsError(f"{run_dir.path} has no saved epochs (search with --save-every)")
    records = []
    score = search.domain.score.name  # accuracy; perplexity, EPE: a rise is the drop
    worse = 1.0 if search.domain.score.higher_is_better else -1.0
    for epoch in chosen:
        state = run_dir.load_checkpoint(map_location=search.device, epoch=epoch)
        load_task_state(search, state, run_dir.path)
        genotype = search.genotype()
        continuous = search.evaluate()
        discrete = search.evaluate(one_hot(genotype, search.space))
        records.append({
            "epoch": state["epoch"] - 1,
            f"one_shot_{score}": continuous[f"val_{score}"],
            f"discretized_{score}": discrete[f"val_{score}"],
            "drop": worse * (continuous[f"val_{score}"] - discrete[f"val_{score}"]),
            "one_shot_loss": continuous["val_loss"],
            "discretized_loss": discrete["val_loss"],
            "genotype": genotype.to_dict(),
        })
    run_dir.write_json("discretization.json", records)
    return records
