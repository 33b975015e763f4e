"""Expanding a sweep into jobs: one SweepJob per grid point, named after its grid values.

Every job's search, evaluation and selection settings are resolved and range-checked here,
before anything runs, so that a mistake in any grid point stops the whole sweep at once
instead of failing one job hours in. A SweepJob is plain data (`to_dict`): that is what an
executor ships to a worker and what OUT/jobs.json records.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rdarts.errors import ConfigError, GenotypeError
from rdarts.experiments.sweepfile import (
    GENOTYPE_KEY,
    PresetSpec,
    Sweep,
    Variant,
    _check_selection,
)
from rdarts.search.config import SearchConfig, resolve, resolve_train
from rdarts.search.selection import rdarts_label

# Short forms of grid options in job names: wd-0.0009, dp-0.2.
SHORT_NAMES = {"weight_decay": "wd", "drop_path": "dp", "cutout_prob": "cutout"}


@dataclass(frozen=True)
class SweepJob:
    """One grid point: what an executor job does, as plain data.

    `settings` is the fully resolved search configuration (for a selection job: the base of
    its candidates); `point` the grid values that name the job; `evaluate` the resolved
    training configuration of the evaluations; `selection` the protocol and its retraining.
    """

    name: str
    kind: str
    settings: dict[str, Any]
    steps: tuple[str, ...]
    point: dict[str, Any] = field(default_factory=dict)
    evaluate: dict[str, Any] | None = None
    selection: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "settings": self.settings,
                "steps": list(self.steps), "point": self.point, "evaluate": self.evaluate,
                "selection": self.selection}


def expand(sweep: Sweep) -> list[SweepJob]:
    """The cartesian product of the grid, in grid order (the first axis varies slowest).

    Names join one segment per axis with '_': a text value as it is (`s1`), an integer as
    `key` + value (`seed0`), a float as `key-value` (`wd-0.0009`, `dp-0.2`), a variant by
    its name. Each job's settings are resolved and range-checked here, so that a mistake in
    any grid point stops the sweep before anything runs.
    """
    axes = list(sweep.grid.items())
    jobs = []
    for values in itertools.product(*(values for _, values in axes)):
        point = dict(zip((axis for axis, _ in axes), values, strict=True))
        name = "_".join(_segment(axis, value) for axis, value in point.items()) or sweep.name
        try:
            jobs.append(_make_job(sweep, name, point))
        except ConfigError as error:
            raise ConfigError(f"{sweep.source or sweep.name}: job {name}: {error}") from None
    seen: set[str] = set()
    for job in jobs:
        if job.name in seen:
            raise ConfigError(f"{sweep.source or sweep.name}: two grid points are both named "
                              f"{job.name!r}; make the grid values distinct")
        seen.add(job.name)
    return jobs


def _segment(axis: str, value: Any) -> str:
    if isinstance(value, Variant):
        return value.name
    if axis == GENOTYPE_KEY and isinstance(value, str):  # a file or run directory: its name
        value = Path(value).stem if value.endswith(".json") else Path(value).name
    if isinstance(value, str):
        return re.sub(r"[^A-Za-z0-9.+-]+", "-", value).strip("-") or "empty"
    key = SHORT_NAMES.get(axis, axis.replace("_", "-"))
    if value is None:
        return f"{key}-none"
    if isinstance(value, bool):
        return f"{key}-{'on' if value else 'off'}"
    if isinstance(value, int):
        return f"{key}{value}"
    return f"{key}-{value:g}"


def _make_job(sweep: Sweep, name: str, point: dict[str, Any]) -> SweepJob:
    if sweep.kind == "train":
        return _make_train_job(sweep, name, point)
    overrides = dict(sweep.base)
    selection_raw = dict(sweep.selection or {})
    labels = {}
    for axis, value in point.items():
        if isinstance(value, Variant):
            overrides.update(value.search)
            selection_raw.update(value.selection)
            labels[axis] = value.name
        else:
            overrides[axis] = value
            labels[axis] = value
    search = resolve(sweep.preset, None, overrides)
    _check_method(search)
    evaluate = None
    if sweep.evaluate is not None:
        if sweep.evaluate.early_stopping and not (search.method == "darts-es"
                                                  and search.es_simulate):
            raise ConfigError("evaluate.early_stopping needs method darts-es with "
                              "es_simulate: true, so that one search gives both the DARTS and "
                              f"the DARTS-ES genotype (got method {search.method}, "
                              f"es_simulate {search.es_simulate})")
        evaluate = _train_settings(sweep.evaluate.preset, sweep.evaluate.overrides, search)
    selection = None
    if sweep.kind == "selection":
        selection = _selection_settings(selection_raw, search)
        steps: tuple[str, ...] = ("selection",)
    else:
        steps = ("search",)
    if evaluate is not None:
        steps += ("eval",)
        if sweep.evaluate is not None and sweep.evaluate.early_stopping:
            steps += ("eval-es",)
    steps += sweep.analyses
    return SweepJob(name=name, kind=sweep.kind, settings=search.to_dict(), steps=steps,
                    point=labels, evaluate=evaluate, selection=selection)


def _make_train_job(sweep: Sweep, name: str, point: dict[str, Any]) -> SweepJob:
    """A training job: its settings are exactly the config.yaml its run will hold."""
    from rdarts.core.genotype import load_genotype
    from rdarts.domains.registry import domain_genotype, get_domain

    overrides = dict(sweep.base)
    labels = {}
    for axis, value in point.items():
        if isinstance(value, Variant):
            overrides.update(value.search)
            labels[axis] = value.name
        else:
            overrides[axis] = value
            labels[axis] = value
    reference = overrides.pop(GENOTYPE_KEY)
    domain = get_domain(overrides.get("domain"))
    genotype = (domain_genotype(reference, overrides.get("domain"), where=f"job {name}")
                if isinstance(reference, dict)
                else load_genotype(reference, domain.known_genotypes, domain.layouts))
    try:
        domain.check_genotype(genotype)
    except GenotypeError as error:
        raise GenotypeError(f"job {name}: {error}") from None
    config = resolve_train(sweep.preset, None, overrides)
    return SweepJob(name=name, kind="train",
                    settings={**config.to_dict(), GENOTYPE_KEY: genotype.to_dict()},
                    steps=("train",), point=labels)


def _check_method(search: SearchConfig) -> None:
    """The method's own preconditions, from the method registry."""
    from rdarts.search.registry import check_method

    check_method(search)


def _preset_for(spec: PresetSpec, dataset: str) -> str | None:
    if not isinstance(spec, dict):
        return spec
    if dataset not in spec:
        raise ConfigError(f"no training preset for dataset {dataset!r}; the preset mapping "
                          f"names {', '.join(spec)}")
    return spec[dataset]


def _train_settings(preset: PresetSpec, overrides: dict[str, Any],
                    search: SearchConfig) -> dict[str, Any]:
    """Training settings: preset < what the search fixes (dataset, data, device, seed) <
    overrides. The evaluation uses the standard settings whatever the search's regularisation
    was (spec section 4)."""
    from rdarts.search.selection import inherited_training

    inherited = inherited_training(search)
    config = resolve_train(_preset_for(preset, search.dataset), None, {**inherited, **overrides})
    return config.to_dict()


def _selection_settings(raw: dict[str, Any], search: SearchConfig) -> dict[str, Any]:
    plan = _check_selection(raw, "selection")
    overrides = dict(plan["retrain_overrides"])
    if plan["retrain_epochs"] is not None:
        overrides["epochs"] = plan["retrain_epochs"]
    retrain = _train_settings(plan["retrain_preset"], {**overrides, "eval": "holdout"}, search)
    if plan["protocol"] == "rdarts":
        protocol = rdarts_label(plan["regularizer"])
    else:
        protocol = f"select({search.method}, {plan['seeds']} seeds)"
    return {"protocol": plan["protocol"], "regularizer": plan["regularizer"],
            "values": plan["values"], "seeds": plan["seeds"], "label": protocol,
            "retrain": retrain}


def select_jobs(jobs: list[SweepJob], only: str | None) -> list[SweepJob]:
    """The jobs whose names match `only` (shell patterns, comma-separated), or all of them."""
    if not only:
        return list(jobs)
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    chosen = [job for job in jobs if any(fnmatch.fnmatchcase(job.name, p) for p in patterns)]
    if not chosen:
        names = ", ".join(job.name for job in jobs[:8]) + (", ..." if len(jobs) > 8 else "")
        raise ConfigError(f"--only {only!r} matches no job; jobs: {names}")
    return chosen
