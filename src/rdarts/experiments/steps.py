"""One sweep job: its steps (search or selection, evaluations, analyses, or a training), each
skipping what is finished and resuming what is not.

A job is the plain dict of a SweepJob, so that this module is all an executor's worker needs.
Each step is a (done, run) pair in STEPS; `done` reads the job's directory back, so a job that
is run again after a kill or a failure continues where it stopped, and `job_results` collects
the key numbers from whatever did finish.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rdarts.errors import RdartsError, RunDirError
from rdarts.experiments.executors import LocalExecutor
from rdarts.experiments.sweepfile import GENOTYPE_KEY
from rdarts.runs.rundir import RunDir, differences
from rdarts.search.config import from_dict, train_from_dict
from rdarts.search.selection import (
    Candidate,
    rdarts_candidates,
    run_selection,
    same_selection,
    search_job,
    seed_candidates,
)


def run_sweep_job(job: dict[str, Any], out: str, quiet: bool = True) -> dict[str, Any]:
    """One grid point (an executor job): its steps in order, then its key results.

    `out` is the job's directory. Every step reads back a finished run and resumes an
    unfinished one from its checkpoint, so calling this again after a kill (or a retry after
    a failure) continues where the job stopped.
    """
    job_dir = Path(out)
    for step in job["steps"]:
        done, run = STEPS[step]
        if not done(job, job_dir):
            run(job, job_dir, quiet)
    return job_results(job, job_dir)


def _check_same_config(run_dir: RunDir, config: dict[str, Any]) -> None:
    """A run directory from an earlier version of the sweep file must not be mistaken for
    this job's run (options that only change how a run executes may differ)."""
    existing = run_dir.read_config()
    differing = differences(existing, config)
    if differing:
        details = ", ".join(f"{k}: {existing.get(k)!r} -> {config.get(k)!r}"
                            for k in differing[:3])
        raise RunDirError(f"{run_dir.path} holds a different run ({details}); the sweep file "
                          "changed since it ran: choose another --out")


def _finished_run(path: Path, config: dict[str, Any]) -> dict[str, Any] | None:
    """The result of the completed run in `path`, None if there is none (yet)."""
    run_dir = RunDir(path)
    if not run_dir.holds_run():
        return None
    _check_same_config(run_dir, config)
    return run_dir.finished_result()


def _search_result(job: dict[str, Any], job_dir: Path) -> dict[str, Any]:
    result = _finished_run(job_dir / "search", job["settings"])
    if result is None:
        raise RdartsError(f"{job_dir / 'search'} holds no finished search")
    return result


def _candidates(job: dict[str, Any]) -> list[Candidate]:
    """The K searches of a selection job: K regularisation strengths (R-DARTS) or K seeds."""
    plan = job["selection"]
    base = from_dict(job["settings"])
    if plan["protocol"] == "rdarts":
        values = tuple(plan["values"]) if plan["values"] else None
        return rdarts_candidates(base, plan["regularizer"], values)
    return seed_candidates(base, plan["seeds"])


def _selection_result(job: dict[str, Any], job_dir: Path) -> dict[str, Any] | None:
    """The completed selection in job_dir/selection, None if unfinished; a selection run with
    other candidates or retraining settings (an edited sweep file) is a RunDirError."""
    run_dir = RunDir(job_dir / "selection")
    if not run_dir.file("config.yaml").exists():
        return None
    existing = run_dir.read_config()
    expected = {"candidates": {c.name: c.search.to_dict() for c in _candidates(job)},
                "retrain": job["selection"]["retrain"]}
    if not same_selection(existing, expected):
        raise RunDirError(f"{run_dir.path} holds a different selection; the sweep file changed "
                          "since it ran: choose another --out")
    result = run_dir.finished_result()
    if result is None or result.get("protocol") != job["selection"]["label"]:
        return None
    return result


def _last_epoch(job_dir: Path) -> int:
    records = RunDir(job_dir / "search").read_metrics()
    if not records:
        raise RdartsError(f"{job_dir / 'search'} has no finished epoch")
    return int(records[-1]["epoch"])


def _found_genotype(job: dict[str, Any], job_dir: Path) -> dict[str, Any]:
    """The genotype the evaluation trains: the search's final one, or the selection's choice."""
    if job["kind"] == "selection":
        result = _selection_result(job, job_dir)
        if result is None:
            raise RdartsError(f"{job_dir / 'selection'} holds no finished selection")
        return result["genotype"]
    return _search_result(job, job_dir)["genotype"]


def _distinct_es_genotype(search: dict[str, Any]) -> dict[str, Any] | None:
    """The DARTS-ES genotype of a search result if the rule fired (Section 4.2) and returned
    another cell than the final one, else None: then the eval step's training serves both."""
    stop = search.get("early_stopping") or {}
    if not stop.get("triggered") or stop.get("genotype") == search.get("genotype"):
        return None
    return stop["genotype"]


def _es_genotype(job: dict[str, Any], job_dir: Path) -> dict[str, Any] | None:
    return _distinct_es_genotype(_search_result(job, job_dir))


def _train_config(job: dict[str, Any], genotype: dict[str, Any]) -> dict[str, Any]:
    return {**job["evaluate"], "genotype": genotype}  # what run_training writes as config.yaml


def _train(job: dict[str, Any], genotype: dict[str, Any], path: Path, quiet: bool) -> None:
    from rdarts.domains.registry import domain_genotype
    from rdarts.train.run import run_training

    config = job["evaluate"]
    run_training(train_from_dict(config), domain_genotype(genotype, config.get("domain")), path,
                 resume=RunDir(path).holds_run(), quiet=quiet)


def _search_done(job: dict[str, Any], job_dir: Path) -> bool:
    return _finished_run(job_dir / "search", job["settings"]) is not None


def _search_run(job: dict[str, Any], job_dir: Path, quiet: bool) -> None:
    search_job(job["settings"], str(job_dir / "search"), quiet)


def _eval_done(job: dict[str, Any], job_dir: Path) -> bool:
    genotype = _found_genotype(job, job_dir)
    return _finished_run(job_dir / "eval", _train_config(job, genotype)) is not None


def _eval_run(job: dict[str, Any], job_dir: Path, quiet: bool) -> None:
    _train(job, _found_genotype(job, job_dir), job_dir / "eval", quiet)


def _eval_es_done(job: dict[str, Any], job_dir: Path) -> bool:
    genotype = _es_genotype(job, job_dir)
    return genotype is None or _finished_run(job_dir / "eval-es",
                                             _train_config(job, genotype)) is not None


def _eval_es_run(job: dict[str, Any], job_dir: Path, quiet: bool) -> None:
    genotype = _es_genotype(job, job_dir)
    if genotype is not None:
        _train(job, genotype, job_dir / "eval-es", quiet)


def _spectrum_path(job_dir: Path) -> Path:
    return job_dir / "search" / "hessian" / f"epoch-{_last_epoch(job_dir):04d}.json"


def _spectrum_done(job: dict[str, Any], job_dir: Path) -> bool:
    path = _spectrum_path(job_dir)
    return path.exists() and "spectrum" in RunDir(path.parent).read_json(path.name)


def _spectrum_run(job: dict[str, Any], job_dir: Path, quiet: bool) -> None:
    from rdarts.search.analysis import run_hessian

    run_hessian(str(job_dir / "search"), spectrum=True)


def _discretization_done(job: dict[str, Any], job_dir: Path) -> bool:
    run_dir = RunDir(job_dir / "search")
    if not run_dir.file("discretization.json").exists():
        return False
    records = run_dir.read_json("discretization.json")
    return bool(records) and records[-1].get("epoch") == _last_epoch(job_dir)


def _discretization_run(job: dict[str, Any], job_dir: Path, quiet: bool) -> None:
    from rdarts.search.analysis import run_discretization

    run_discretization(str(job_dir / "search"))


def _train_done(job: dict[str, Any], job_dir: Path) -> bool:
    return _finished_run(job_dir / "train", job["settings"]) is not None


def _train_run(job: dict[str, Any], job_dir: Path, quiet: bool) -> None:
    from rdarts.domains.registry import domain_genotype
    from rdarts.train.run import run_training

    settings = dict(job["settings"])
    genotype = domain_genotype(settings.pop(GENOTYPE_KEY), settings.get("domain"))
    path = job_dir / "train"
    run_training(train_from_dict(settings), genotype, path, resume=RunDir(path).holds_run(),
                 quiet=quiet)


def _selection_done(job: dict[str, Any], job_dir: Path) -> bool:
    return _selection_result(job, job_dir) is not None


def _selection_run(job: dict[str, Any], job_dir: Path, quiet: bool) -> None:
    """The selection protocol (Section 7.2, Table 5): K searches run one after another inside
    this job; run_selection itself reads back finished searches and retrainings."""
    plan = job["selection"]
    prefix = job_dir.name

    def log(message: str) -> None:
        if not quiet:
            print(f"{prefix}: {message}", file=sys.stderr, flush=True)

    result = run_selection(_candidates(job), train_from_dict(plan["retrain"]),
                           job_dir / "selection",
                           executor=LocalExecutor(log=log), protocol=plan["label"], quiet=quiet)
    if result["status"] != "completed":
        failed = "; ".join(f"{c['name']}: {c['error']}" for c in result["candidates"]
                           if "error" in c)
        raise RdartsError(f"the selection finished only some candidates ({failed})")


StepDone = Callable[[dict[str, Any], Path], bool]
StepRun = Callable[[dict[str, Any], Path, bool], None]
STEPS: dict[str, tuple[StepDone, StepRun]] = {
    "search": (_search_done, _search_run),
    "selection": (_selection_done, _selection_run),
    "eval": (_eval_done, _eval_run),
    "eval-es": (_eval_es_done, _eval_es_run),
    "spectrum": (_spectrum_done, _spectrum_run),
    "discretization": (_discretization_done, _discretization_run),
    "train": (_train_done, _train_run),
}


def job_finished(job: dict[str, Any], job_dir: Path) -> bool:
    """Whether every step of the job is finished (anything unreadable counts as unfinished:
    the job then runs and reports the problem itself)."""
    try:
        return all(STEPS[step][0](job, job_dir) for step in job["steps"])
    except (RdartsError, OSError, ValueError, KeyError):
        return False


JOB_STATES = ("done", "partial", "pending")


def job_state(job: dict[str, Any], job_dir: Path) -> str:
    """done (`job_finished`), pending (nothing in its directory yet) or partial (it started:
    a rerun resumes it, or reports what stops it)."""
    if job_finished(job, job_dir):
        return "done"
    started = job_dir.is_dir() and any(job_dir.iterdir())
    return "partial" if started else "pending"


def job_results(job: dict[str, Any], job_dir: Path) -> dict[str, Any]:
    """The key numbers of a job from its directory (what summary.json holds per job).

    Search jobs: `genotype`, `lambda_max` (the last one measured during the search),
    `es_triggered`, `es_return_epoch`, `es_genotype`, `test_error`, `parameters`,
    `es_test_error` (when the rule never fired, DARTS-ES returns the final genotype, so it is
    the DARTS test error), `lambda_max_dense` and `discretization_drop` from the analyses,
    `test_regret` / `es_test_regret` on S5 with a tabular benchmark; other domains' scores
    (`one_shot_val_perplexity`, `test_perplexity`, `one_shot_val_epe`, `test_epe`,
    `test_shift_epe`, each with its `es_` twin).
    Selection jobs: `protocol`, `chosen`, `val_accuracy`, `genotype`, `test_error`.
    Training jobs: `genotype`, `test_error` and/or `val_error`, `parameters`, `train_seconds`.
    Steps that have not finished contribute nothing.
    """
    results: dict[str, Any] = {}
    with contextlib.suppress(RdartsError, OSError, ValueError, KeyError):
        _collect(job, job_dir, results)  # a failed job: report what did finish
    return results


def _test_scores(trained: dict[str, Any]) -> dict[str, float]:
    """A training's test scores other than the image error (kept under its own key):
    perplexity (language), EPE on the test and the shifted test split (disparity)."""
    return {key: value for key, value in trained.items()
            if key.startswith("test_") and key not in ("test_error", "test_regret")
            and isinstance(value, int | float) and not isinstance(value, bool)}


def _collect(job: dict[str, Any], job_dir: Path, results: dict[str, Any]) -> None:
    def evaluation(path: Path, genotype: dict[str, Any]) -> dict[str, Any] | None:
        return _finished_run(path, _train_config(job, genotype)) if job["evaluate"] else None

    if job["kind"] == "train":
        trained_run = _finished_run(job_dir / "train", job["settings"])
        if trained_run is not None:
            results.update({key: trained_run[key] for key in
                            ("genotype", "test_error", "val_error", "parameters",
                             "train_seconds") if trained_run.get(key) is not None})
        return
    if job["kind"] == "selection":
        selection = _selection_result(job, job_dir)
        if selection is None:
            return
        results.update(protocol=selection["protocol"], chosen=selection["chosen"],
                       val_accuracy=selection["val_accuracy"], genotype=selection["genotype"])
        if selection.get("test_regret") is not None:
            results["test_regret"] = selection["test_regret"]
        trained = evaluation(job_dir / "eval", selection["genotype"])
        if trained is not None:
            results.update(test_error=trained.get("test_error"),
                           parameters=trained.get("parameters"))
        return
    search = _finished_run(job_dir / "search", job["settings"])
    if search is None:
        return
    results["genotype"] = search["genotype"]
    if search.get("test_regret") is not None:
        results["test_regret"] = search["test_regret"]
    measured = [r["lambda_max"] for r in RunDir(job_dir / "search").read_metrics()
                if r.get("lambda_max") is not None]
    results["lambda_max"] = measured[-1] if measured else None
    stop = search.get("early_stopping")
    if stop is not None:
        results["es_triggered"] = bool(stop.get("triggered"))
        if stop.get("triggered"):
            results.update(es_return_epoch=stop["return_epoch"], es_genotype=stop["genotype"])
            if stop.get("test_regret") is not None:
                results["es_test_regret"] = stop["test_regret"]
    score = (search.get("score") or {}).get("name")
    if score not in (None, "accuracy") and search.get("final", {}).get(f"val_{score}") is not None:
        results[f"one_shot_val_{score}"] = search["final"][f"val_{score}"]  # Fig. 16, Tables 3-4
    trained = evaluation(job_dir / "eval", search["genotype"])
    if trained is not None:
        results.update(test_error=trained.get("test_error"), parameters=trained.get("parameters"),
                       **_test_scores(trained))
    if "eval-es" in job["steps"]:
        distinct = _distinct_es_genotype(search)
        trained_es = trained if distinct is None else evaluation(job_dir / "eval-es", distinct)
        if trained_es is not None:
            if trained_es.get("test_error") is not None:
                results["es_test_error"] = trained_es["test_error"]
            results.update({f"es_{k}": v for k, v in _test_scores(trained_es).items()})
    if "spectrum" in job["steps"] and _spectrum_done(job, job_dir):
        path = _spectrum_path(job_dir)
        results["lambda_max_dense"] = RunDir(path.parent).read_json(path.name).get(
            "lambda_max_dense")
    if "discretization" in job["steps"] and _discretization_done(job, job_dir):
        record = RunDir(job_dir / "search").read_json("discretization.json")[-1]
        results.update(discretization_drop=record["drop"],
                       one_shot_accuracy=record["one_shot_accuracy"],
                       discretized_accuracy=record["discretized_accuracy"])
