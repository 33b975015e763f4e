"""Training a genotype from scratch in its domain's run directory, and the short retraining
the selection protocol scores candidates by (paper Section 7.2, spec section 8).

The domain builds the training task (the discrete network, its data, optimiser and schedule:
SGD with cosine annealing and drop path for images); the epoch driver runs it with the same
run-directory rules as a search, so a training resumes exactly too.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from rdarts.core.genotype import Genotype
from rdarts.domains.registry import get_domain
from rdarts.runs.driver import Outcome, run_epochs
from rdarts.runs.rundir import RunDir


def run_training(config: Any, genotype: Genotype, out: str | Path, *, resume: bool = False,
                 overwrite: bool = False, quiet: bool = False,
                 domain: str | None = None) -> Outcome:
    """Train `genotype` from scratch into the run directory `out` (or continue it); the
    domain is `domain`, else the one a domain's own training settings name, else image."""
    domain = domain if domain is not None else getattr(config, "domain", None)
    task = get_domain(domain).training(config, genotype)
    run_config = {**config.to_dict(), "genotype": genotype.to_dict()}
    return run_epochs(task, run_config, config.seed, out, resume=resume,
                      overwrite=overwrite, quiet=quiet)


def retrain_score(genotype: Genotype, config: Any, out: str | Path, *, quiet: bool = True,
                  domain: str | None = None) -> float:
    """The domain's score (accuracy, ...) of a short retraining on held-out training data.

    `config` is forced to `eval="holdout"`, so the test set is never looked at. Resumes an
    unfinished run in `out`; a finished one is read back.
    """
    domain = domain if domain is not None else getattr(config, "domain", None)
    key = f"val_{get_domain(domain).score.name}"
    holdout = replace(config, eval="holdout")
    run_dir = RunDir(out)
    result = run_dir.finished_result()
    if result is not None and key in result:
        return float(result[key])
    outcome = run_training(holdout, genotype, out, resume=run_dir.holds_run(), quiet=quiet,
                           domain=domain)
    return float(outcome.result[key])
