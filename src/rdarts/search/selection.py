"""The selection protocol and R-DARTS (paper Section 7.2, spec section 8).

Run K searches (R-DARTS: K regularisation strengths; any other method: K seeds), retrain each
found cell briefly on held-out training data (`--eval holdout`, never the test set), and keep
the one with the best validation accuracy. Every search and every retraining is an independent
job with its own run directory, run through an executor (in-process or Ray), so a rerun skips
finished jobs and resumes unfinished ones.

Layout of the selection directory:
    config.yaml, result.json          the protocol's settings and outcome
    searches/<candidate>/             one search run directory per candidate
    retrain/<candidate>/              one short retraining per candidate
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rdarts.domains.registry import domain_settings, get_domain
from rdarts.errors import ConfigError, RdartsError, RunDirError
from rdarts.experiments.executors import Executor, Job, LocalExecutor
from rdarts.runs.atomic import atomic_write_json, atomic_write_text, check_out
from rdarts.runs.records import SelectionResult
from rdarts.runs.rundir import RunDir, with_added_settings
from rdarts.search.config import (
    SearchConfig,
    TrainConfig,
    from_dict,
    train_from_dict,
    with_setting,
)

# The four strengths R-DARTS tries by default (the paper's), per regulariser; a domain may
# bring its own (`Regularizer.grid`: the augmentation scaling factors of disparity). The
# names are DARTS-ADA's (`--ada-regularizer l2|drop_path|augment`); `dp`, R-DARTS's first
# spelling, stays an alias. SHORT_NAMES label candidates and the protocol as the paper does:
# R-DARTS(DP).
RDARTS_VALUES = {"l2": (3e-4, 9e-4, 27e-4, 81e-4), "drop_path": (0.0, 0.2, 0.4, 0.6),
                 "augment": ()}
RDARTS_SETTINGS = {"l2": "weight_decay", "drop_path": "drop_path", "augment": "augment_scale"}
REGULARIZER_ALIASES = {"dp": "drop_path"}
SHORT_NAMES = {"l2": "l2", "drop_path": "dp", "augment": "aug"}


@dataclass(frozen=True)
class Candidate:
    name: str
    search: SearchConfig
    setting: dict[str, Any]  # what distinguishes it: {"weight_decay": 9e-4} or {"seed": 2}


def rdarts_regularizer(name: str) -> str:
    """The canonical name of an R-DARTS regulariser (`dp` is `drop_path`)."""
    canonical = REGULARIZER_ALIASES.get(name, name)
    if canonical not in RDARTS_VALUES:
        raise ConfigError(f"unknown regulariser {name!r}; known: l2, drop_path (alias dp), "
                          "augment")
    return canonical


def rdarts_label(regularizer: str) -> str:
    """The protocol's name in result.json: r-darts(l2), r-darts(dp)."""
    return f"r-darts({SHORT_NAMES[rdarts_regularizer(regularizer)]})"


def check_rdarts_values(regularizer: str, values: Sequence[float] | None,
                        given: Collection[str] = ()) -> None:
    """Refuse what R-DARTS would silently ignore or repeat: a setting it varies that the user
    also fixed (`given`: the settings from flags or a config file), and repeated values."""
    setting = RDARTS_SETTINGS[rdarts_regularizer(regularizer)]
    if setting in given:
        flag = "--" + setting.replace("_", "-")
        raise ConfigError(f"R-DARTS({regularizer}) varies {setting} itself (--values), so "
                          f"{flag} would be ignored; leave it out")
    if values is not None:
        repeated = sorted({v for v in values if list(values).count(v) > 1})
        if repeated:
            raise ConfigError(f"--values repeats {', '.join(f'{v:g}' for v in repeated)}; "
                              "each strength is one search")


def rdarts_candidates(base: SearchConfig, regularizer: str,
                      values: tuple[float, ...] | None = None) -> list[Candidate]:
    """R-DARTS: the same search with K regularisation strengths (L2 factor, drop path or the
    augmentation scaling factor)."""
    regularizer = rdarts_regularizer(regularizer)
    key = RDARTS_SETTINGS[regularizer]
    if values is None:
        grids = {r.setting: r.grid for r in get_domain(base.domain).regularizers.values()}
        if key not in grids:
            raise RdartsError(f"the {base.domain} domain has no {regularizer} regulariser; "
                              f"it has {', '.join(grids)}")
        values = grids[key] or RDARTS_VALUES[regularizer]
    check_rdarts_values(regularizer, values)
    return [Candidate(name=f"{SHORT_NAMES[regularizer]}-{value:g}",
                      search=with_setting(base, key, value), setting={key: value})
            for value in values]


def seed_candidates(base: SearchConfig, seeds: int) -> list[Candidate]:
    """Any method: K searches with seeds base.seed, base.seed + 1, ..."""
    return [Candidate(name=f"seed-{base.seed + k}",
                      search=dataclasses.replace(base, seed=base.seed + k),
                      setting={"seed": base.seed + k}) for k in range(seeds)]


def inherited_training(search: SearchConfig) -> dict[str, Any]:
    """The training settings a search fixes for the trainings of its cells: its domain (when
    the domain trains with settings of its own), data, device and seed."""
    inherited = {"dataset": search.dataset, "data_dir": search.data_dir, "device": search.device,
                 "seed": search.seed}
    own = domain_settings(search.domain)
    if own is not None and own.train_cls is not None:
        return {**inherited, "domain": search.domain}
    return {**inherited, "download": search.download}


def search_job(config: dict[str, Any], out: str, quiet: bool = True) -> dict[str, Any]:
    """One candidate search (an executor job): finished runs are read back, others resumed."""
    from rdarts.search.task import run_search

    run_dir = RunDir(out)
    result = run_dir.finished_result()
    if result is not None:
        return result
    outcome = run_search(from_dict(config), out, resume=run_dir.holds_run(), quiet=quiet)
    return outcome.result


def retrain_job(genotype: dict[str, Any], config: dict[str, Any], out: str,
                quiet: bool = True, domain: str | None = None) -> float:
    """One short retraining on held-out data (an executor job); returns the domain's
    validation score (accuracy for images)."""
    from rdarts.domains.registry import domain_genotype
    from rdarts.train.run import retrain_score

    return retrain_score(domain_genotype(genotype, domain), train_from_dict(config), out,
                         quiet=quiet, domain=domain)


def _gpus(config: SearchConfig | TrainConfig) -> float:
    return 0.0 if config.device == "cpu" else 1.0


def run_selection(candidates: list[Candidate], retrain: TrainConfig, out: str | Path, *,
                  executor: Executor | None = None, protocol: str = "selection",
                  quiet: bool = True, log: Any = None) -> dict[str, Any]:
    """Search every candidate, retrain each result with --eval holdout, choose the best."""
    out = Path(out)
    executor = LocalExecutor(log=log) if executor is None else executor
    retrain = dataclasses.replace(retrain, eval="holdout")
    _prepare(out, protocol, candidates, retrain)
    searches = executor.run([
        Job(name=f"search {c.name}", function=search_job, gpus=_gpus(c.search),
            kwargs={"config": c.search.to_dict(), "out": str(out / "searches" / c.name),
                    "quiet": quiet})
        for c in candidates])
    found = [(c, r.value) for c, r in zip(candidates, searches, strict=True) if r.ok]
    domain = candidates[0].search.domain if candidates else None
    score = get_domain(domain).score
    key = f"val_{score.name}"
    retrains = executor.run([
        Job(name=f"retrain {c.name}", function=retrain_job, gpus=_gpus(retrain),
            kwargs={"genotype": result["genotype"], "config": retrain.to_dict(),
                    "out": str(out / "retrain" / c.name), "quiet": quiet,
                    "domain": domain})
        for c, result in found])
    scores = {c.name: r for (c, _), r in zip(found, retrains, strict=True)}
    records = []
    for candidate, job in zip(candidates, searches, strict=True):
        record: dict[str, Any] = {"name": candidate.name, "setting": candidate.setting,
                                  "search_run": str(out / "searches" / candidate.name)}
        if not job.ok:
            record["error"] = job.error
        else:
            record["genotype"] = job.value["genotype"]
            if job.value.get("test_regret") is not None:  # S5 with a tabular benchmark
                record["test_regret"] = job.value["test_regret"]
            retrained = scores[candidate.name]
            record["retrain_run"] = str(out / "retrain" / candidate.name)
            if retrained.ok:
                record[key] = retrained.value
            else:
                record["error"] = retrained.error
        records.append(record)
    scored = [r for r in records if key in r]
    if not scored:
        errors = "; ".join(f"{r['name']}: {r.get('error')}" for r in records)
        raise RdartsError(f"no candidate finished its search and retraining ({errors})")
    chosen = scored[score.best({i: r[key] for i, r in enumerate(scored)})]
    status = "completed" if len(scored) == len(records) else "partial"
    result: SelectionResult = {"protocol": protocol, "status": status, "candidates": records,
                               "chosen": chosen["name"], "genotype": chosen["genotype"],
                               "score": score.to_dict()}
    result[key] = chosen[key]  # type: ignore[literal-required]  # val_<score name>
    if "test_regret" in chosen:
        result["test_regret"] = chosen["test_regret"]
    atomic_write_json(out / "result.json", result)
    atomic_write_json(out / "genotype.json", chosen["genotype"])
    return result


def _normalised(config: dict[str, Any]) -> dict[str, Any]:
    """A selection's config.yaml with every candidate's settings completed by the settings
    added since older runs were recorded (the same-run rule of rdarts.runs.rundir)."""
    candidates = config.get("candidates")
    if not isinstance(candidates, dict):
        return config
    return {**config, "candidates": {name: with_added_settings(settings)
                                     if isinstance(settings, dict) else settings
                                     for name, settings in candidates.items()}}


def same_selection(existing: Any, expected: dict[str, Any]) -> bool:
    """Whether a selection directory's config.yaml asks for `expected`'s candidates and
    retraining (THE same-run rule for selections; a protocol key is compared when given)."""
    if not isinstance(existing, dict):
        return False
    keys = set(expected)
    return {k: v for k, v in _normalised(existing).items() if k in keys} == _normalised(expected)


def _prepare(out: Path, protocol: str, candidates: list[Candidate], retrain: TrainConfig) -> None:
    """Write the protocol's config.yaml, or check that a rerun asks for the same protocol."""
    config = {"protocol": protocol,
              "candidates": {c.name: c.search.to_dict() for c in candidates},
              "retrain": retrain.to_dict()}
    check_out(out)
    path = out / "config.yaml"
    if path.exists():
        try:
            existing = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise RunDirError(f"{path} is unreadable: {error}") from None
        if not same_selection(existing, config):
            raise RunDirError(f"{out} holds a different selection run; choose another --out")
        return
    if out.exists() and any(out.iterdir()):
        raise RunDirError(f"{out} is not empty and holds no selection run; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, yaml.safe_dump(config, sort_keys=False))
