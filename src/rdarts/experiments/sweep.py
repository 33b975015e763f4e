"""Sweeps: the paper's experiment grids as data files (Tables 1, 2, 5; Figures 4, 5).

A sweep file names a base search configuration and a grid of values; every point of the grid
is one job: a search (or, with `kind: selection`, the selection protocol of Section 7.2 / Table 5)
followed by its evaluations (training the found genotype from scratch) and analyses (the
Hessian spectrum and discretisation drop at the final checkpoint, Figure 4). The jobs go to an
executor (in-process or Ray, `rdarts.executors`), one job per grid point, each writing only
below its own directory, so a killed sweep is rerun with the same command: finished jobs are
skipped and unfinished ones resume from their checkpoints.

File format (YAML; option names with dashes or underscores):

    name: table1                         # used for the default output directory
    description: ...
    kind: search                         # search | selection | train
    preset: paper                        # search preset (train: a training preset; optional)
    base: {method: darts-es, ...}        # search options shared by every job
    grid: {space: [s1, s2], seed: [0, 1]}   # search option -> values; cartesian product
    evaluate: {preset: {cifar10: paper-c10, ...} | quick, overrides: {...}, early_stopping: bool}
    analyses: [spectrum, discretization]
    selection: {protocol: select | rdarts, regularizer: l2 | dp, values: [...], seeds: 4,
                retrain_preset: ..., retrain_epochs: 100, retrain_overrides: {...}}

With `kind: train` each grid point trains one genotype from scratch (a tabular benchmark such
as S5's is such a sweep): `base` and `grid` hold training options and `genotype` (a genotype
file, run directory or known name; in a variant also a genotype mapping).

A grid axis named `variant` bundles several settings under one name, for comparisons that are
not a product (Table 5: five methods, R-DARTS with two regularisers): each value is a mapping
with a `name`, search options and, for selection sweeps, `selection` overrides.

Output directory:

    OUT/sweep.yaml     the sweep as loaded (validated, normalised)
    OUT/jobs.json      the expanded jobs (name, kind, settings, steps, ...) and their status
    OUT/summary.json   per job: status (done / failed / skipped), attempts, seconds, results
    OUT/<job>/search/  OUT/<job>/eval/  OUT/<job>/eval-es/  OUT/<job>/selection/
    OUT/<job>/train/   (kind: train)
"""

from __future__ import annotations

import contextlib
import fnmatch
import itertools
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from rdarts.errors import ConfigError, RdartsError, RunDirError
from rdarts.experiments.executors import Executor, Job, JobResult, LocalExecutor, make_executor
from rdarts.runs.rundir import RESUMABLE_CHANGES, RunDir, atomic_write_json, atomic_write_text
from rdarts.search.config import (
    PRESETS,
    TRAIN_PRESETS,
    SearchConfig,
    TrainConfig,
    from_dict,
    normalise_keys,
    resolve,
    resolve_train,
    train_from_dict,
)
from rdarts.search.selection import (
    Candidate,
    rdarts_candidates,
    run_selection,
    search_job,
    seed_candidates,
)
from rdarts.search.stopping import rule_from_options

Log = Callable[[str], None]

KINDS = ("search", "selection", "train")
GENOTYPE_KEY = "genotype"
ANALYSES = ("spectrum", "discretization")
PROTOCOLS = ("select", "rdarts")
REGULARIZERS = ("l2", "dp")
SWEEP_KEYS = ("name", "description", "kind", "preset", "base", "grid", "evaluate", "analyses",
              "selection")
EVALUATE_KEYS = ("preset", "overrides", "early_stopping")
SELECTION_KEYS = ("protocol", "regularizer", "values", "seeds", "retrain_preset",
                  "retrain_epochs", "retrain_overrides")
VARIANT_AXIS = "variant"
# Short forms of grid options in job names: wd-0.0009, dp-0.2.
SHORT_NAMES = {"weight_decay": "wd", "drop_path": "dp", "cutout_prob": "cutout"}
STATUSES = ("done", "failed", "skipped")

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")
_SAFE_SWEEP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

PresetSpec = str | dict[str, str] | None  # one preset name, or dataset -> preset name


# ---- the sweep file ------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One value of the `variant` axis: a named bundle of search and selection settings."""

    name: str
    search: dict[str, Any] = field(default_factory=dict)
    selection: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, **self.search}
        if self.selection:
            data["selection"] = dict(self.selection)
        return data


@dataclass(frozen=True)
class Evaluation:
    """Training the found genotype(s) from scratch (spec section 10): `preset` per dataset or
    one name, then `overrides`; `early_stopping` also trains the DARTS-ES genotype (Table 1)."""

    preset: PresetSpec = None
    overrides: dict[str, Any] = field(default_factory=dict)
    early_stopping: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"preset": self.preset, "overrides": dict(self.overrides),
                "early_stopping": self.early_stopping}


@dataclass(frozen=True)
class Sweep:
    """A validated sweep file; `expand` turns it into jobs."""

    name: str
    kind: str = "search"
    description: str = ""
    preset: str | None = None
    base: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    evaluate: Evaluation | None = None
    analyses: tuple[str, ...] = ()
    selection: dict[str, Any] | None = None
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The sweep as plain YAML-able data (what OUT/sweep.yaml holds)."""
        grid = {axis: [v.to_dict() if isinstance(v, Variant) else v for v in values]
                for axis, values in self.grid.items()}
        return {"name": self.name, "description": self.description, "kind": self.kind,
                "preset": self.preset, "base": dict(self.base), "grid": grid,
                "evaluate": None if self.evaluate is None else self.evaluate.to_dict(),
                "analyses": list(self.analyses), "selection": self.selection}


def shipped_sweeps() -> list[str]:
    """Names of the sweep files shipped in rdarts/sweeps (`rdarts sweep table1`)."""
    folder = resources.files("rdarts") / "sweeps"
    return sorted(entry.name[:-5] for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def _read_sweep_text(path: str | Path) -> tuple[str, str]:
    """The text of a sweep file, given as a path or as the name of a shipped sweep."""
    candidate = Path(path).expanduser()
    if candidate.is_file():
        return candidate.read_text(), str(candidate)
    name = str(path)
    if "/" not in name and "\\" not in name:
        shipped = resources.files("rdarts") / "sweeps" / f"{name.removesuffix('.yaml')}.yaml"
        if shipped.is_file():
            return shipped.read_text(), f"sweep {name.removesuffix('.yaml')}"
    raise ConfigError(f"sweep file {path} does not exist; shipped sweeps: "
                      f"{', '.join(shipped_sweeps())}")


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file (a path, or a shipped name such as `table1`).

    Unknown keys, kinds, analyses, presets and search or training options are a ConfigError
    naming the key; value ranges are checked when `expand` resolves each job.
    """
    text, source = _read_sweep_text(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{source} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of sweep keys, got {data!r}")
    return sweep_from_dict(data, source, default_name=Path(str(path)).stem)


def sweep_from_dict(data: dict[str, Any], source: str = "sweep",
                    default_name: str | None = None) -> Sweep:
    """Validate the mapping of a sweep file (see the module docstring for its keys)."""
    _check_keys(data, SWEEP_KEYS, source)
    name = data.get("name", default_name)
    if not isinstance(name, str) or not _SAFE_SWEEP_NAME.fullmatch(name):
        raise ConfigError(f"{source}: name must be letters, digits, '.', '_' or '-', "
                          f"got {name!r}")
    kind = data.get("kind", "search")
    if kind not in KINDS:
        raise ConfigError(f"{source}: unknown kind {kind!r}; known kinds: {', '.join(KINDS)}")
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise ConfigError(f"{source}: description must be text, got {description!r}")
    preset = data.get("preset")
    presets = TRAIN_PRESETS if kind == "train" else PRESETS
    if preset is not None and preset not in presets:
        raise ConfigError(f"{source}: unknown {'training' if kind == 'train' else 'search'} "
                          f"preset {preset!r}; known: {', '.join(presets)}")
    base = _options(_mapping(data.get("base"), f"{source}: base"), f"{source}: base", kind)
    grid = _load_grid(data.get("grid"), f"{source}: grid", kind)
    if kind == "train":
        _check_train_sweep(data, base, grid, source)
    evaluate = None
    if data.get("evaluate") is not None:
        evaluate = _load_evaluation(data["evaluate"], f"{source}: evaluate", kind)
    analyses = _load_analyses(data.get("analyses"), f"{source}: analyses", kind)
    selection = None
    if kind == "selection":
        selection = _check_selection(_mapping(data.get("selection"), f"{source}: selection"),
                                     f"{source}: selection")
    elif data.get("selection") is not None:
        raise ConfigError(f"{source}: 'selection' needs kind: selection (got kind: {kind})")
    return Sweep(name=name, kind=kind, description=description, preset=preset, base=base,
                 grid=grid, evaluate=evaluate, analyses=analyses, selection=selection,
                 source=source)


def _options(values: dict[str, Any], where: str, kind: str) -> dict[str, Any]:
    """Search options, or for `kind: train` training options plus `genotype`."""
    if kind != "train":
        return normalise_keys(values, where)
    rest = {k: v for k, v in values.items() if k != GENOTYPE_KEY}
    options = normalise_keys(rest, where, TrainConfig)
    if GENOTYPE_KEY in values:
        genotype = values[GENOTYPE_KEY]
        if not isinstance(genotype, str | dict):
            raise ConfigError(f"{where}: genotype must be a file, run directory or name (or a "
                              f"genotype mapping), got {genotype!r}")
        options[GENOTYPE_KEY] = genotype
    return options


def _check_train_sweep(data: dict[str, Any], base: dict[str, Any],
                       grid: dict[str, tuple[Any, ...]], source: str) -> None:
    """A training sweep has no evaluations, analyses or selection, and names a genotype."""
    for key in ("evaluate", "analyses"):
        if data.get(key):
            raise ConfigError(f"{source}: {key!r} is for search sweeps (kind: train trains the "
                              "genotypes it names)")
    variants = grid.get(VARIANT_AXIS, ())
    if not (GENOTYPE_KEY in base or GENOTYPE_KEY in grid
            or (variants and all(GENOTYPE_KEY in v.search for v in variants))):
        raise ConfigError(f"{source}: kind: train needs a genotype (in base, as a grid axis, "
                          "or in every variant)")


def _check_keys(data: dict[str, Any], known: Sequence[str], where: str) -> None:
    for key in data:
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r}; known keys: {', '.join(known)}")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {value!r}")
    return value


def _load_grid(raw: Any, where: str, kind: str) -> dict[str, tuple[Any, ...]]:
    grid: dict[str, tuple[Any, ...]] = {}
    for axis, values in _mapping(raw, where).items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: {axis!r} needs a non-empty list of values, "
                              f"got {values!r}")
        if axis == VARIANT_AXIS:
            checked: tuple[Any, ...] = tuple(
                _load_variant(value, f"{where}: {VARIANT_AXIS}", kind) for value in values)
            labels = [variant.name for variant in checked]
        else:
            name = str(axis).replace("-", "_")
            checked = tuple(_options({axis: value}, where, kind)[name] for value in values)
            axis, labels = name, list(checked)
            if name == GENOTYPE_KEY and not all(isinstance(v, str) for v in checked):
                raise ConfigError(f"{where}: a genotype axis takes files, run directories or "
                                  "names (put genotype mappings into variants)")
        if axis in grid:
            raise ConfigError(f"{where}: {axis!r} appears twice")
        if len(set(map(repr, labels))) != len(labels):
            raise ConfigError(f"{where}: {axis!r} repeats a value: {labels}")
        grid[axis] = checked
    return grid


def _load_variant(value: Any, where: str, kind: str) -> Variant:
    if not isinstance(value, dict) or "name" not in value:
        raise ConfigError(f"{where}: each value must be a mapping with a 'name', got {value!r}")
    name = value["name"]
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name):
        raise ConfigError(f"{where}: a variant name must be letters, digits, '.', '+' or '-', "
                          f"got {name!r}")
    settings = {k: v for k, v in value.items() if k not in ("name", "selection")}
    search = _options(settings, f"{where} {name}", kind)
    selection = {}
    if value.get("selection") is not None:
        if kind != "selection":
            raise ConfigError(f"{where} {name}: 'selection' needs kind: selection")
        selection = _check_selection(_mapping(value["selection"], f"{where} {name}: selection"),
                                     f"{where} {name}: selection", partial=True)
    return Variant(name=name, search=search, selection=selection)


def _load_evaluation(raw: Any, where: str, kind: str) -> Evaluation:
    data = _mapping(raw, where)
    _check_keys(data, EVALUATE_KEYS, where)
    preset = _check_preset_spec(data.get("preset"), f"{where}: preset")
    overrides = normalise_keys(_mapping(data.get("overrides"), f"{where}: overrides"),
                               f"{where}: overrides", TrainConfig)
    early_stopping = data.get("early_stopping", False)
    if not isinstance(early_stopping, bool):
        raise ConfigError(f"{where}: early_stopping must be true or false, "
                          f"got {early_stopping!r}")
    if kind == "train":
        raise ConfigError(f"{where}: kind: train sweeps are themselves trainings")
    if early_stopping and kind == "selection":
        raise ConfigError(f"{where}: early_stopping is for kind: search (a selection sweep "
                          "evaluates the chosen genotype)")
    return Evaluation(preset=preset, overrides=overrides, early_stopping=early_stopping)


def _check_preset_spec(value: Any, where: str) -> PresetSpec:
    """A training preset name, or a mapping dataset -> preset name."""
    names = value.values() if isinstance(value, dict) else [value]
    for name in names:
        if name is not None and name not in TRAIN_PRESETS:
            raise ConfigError(f"{where}: unknown training preset {name!r}; "
                              f"known: {', '.join(TRAIN_PRESETS)}")
    if isinstance(value, dict):
        return {str(dataset): str(name) for dataset, name in value.items()}
    return value


def _load_analyses(raw: Any, where: str, kind: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: expected a list, got {raw!r}")
    for name in raw:
        if name not in ANALYSES:
            raise ConfigError(f"{where}: unknown analysis {name!r}; known: {', '.join(ANALYSES)}")
    if raw and kind == "selection":
        raise ConfigError(f"{where}: analyses are for kind: search")
    return tuple(dict.fromkeys(raw))


def _check_selection(data: dict[str, Any], where: str, partial: bool = False) -> dict[str, Any]:
    """Validate the selection block (spec section 8); `partial` for a variant's overrides."""
    _check_keys(data, SELECTION_KEYS, where)
    checks: dict[str, tuple[Callable[[Any], bool], str]] = {
        "protocol": (lambda v: v in PROTOCOLS, f"one of {', '.join(PROTOCOLS)}"),
        "regularizer": (lambda v: v in REGULARIZERS, f"one of {', '.join(REGULARIZERS)}"),
        "values": (lambda v: v is None or (isinstance(v, list) and len(v) > 0 and all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in v)),
            "a non-empty list of numbers"),
        "seeds": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
                  "an integer >= 1"),
        "retrain_epochs": (lambda v: v is None or (isinstance(v, int)
                                                   and not isinstance(v, bool) and v >= 1),
                           "an integer >= 1"),
    }
    for key, (ok, expected) in checks.items():
        if key in data and not ok(data[key]):
            raise ConfigError(f"{where}: {key} must be {expected}, got {data[key]!r}")
    checked = dict(data)
    if "retrain_preset" in data:
        checked["retrain_preset"] = _check_preset_spec(data["retrain_preset"],
                                                       f"{where}: retrain_preset")
    if "retrain_overrides" in data:
        checked["retrain_overrides"] = normalise_keys(
            _mapping(data["retrain_overrides"], f"{where}: retrain_overrides"),
            f"{where}: retrain_overrides", TrainConfig)
    if not partial:
        checked = {"protocol": "select", "regularizer": "l2", "values": None, "seeds": 4,
                   "retrain_preset": "quick", "retrain_epochs": None, "retrain_overrides": {},
                   **checked}
    return checked


# ---- expansion -----------------------------------------------------------------------------


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
    from rdarts.core.genotype import genotype_from_dict, load_genotype

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
    genotype = (genotype_from_dict(reference, where=f"job {name}")
                if isinstance(reference, dict) else load_genotype(reference))
    config = resolve_train(sweep.preset, None, overrides)
    return SweepJob(name=name, kind="train",
                    settings={**config.to_dict(), GENOTYPE_KEY: genotype.to_dict()},
                    steps=("train",), point=labels)


def _check_method(search: SearchConfig) -> None:
    """The checks a method driver would make at its start, made before anything runs."""
    if search.method in ("darts-es", "darts-ada"):
        rule = rule_from_options(search.es_preset, window=search.es_window, lag=search.es_lag,
                                 threshold=search.es_threshold, burn_in=search.es_burn_in)
        if search.hessian_every != rule.period:
            raise ConfigError(f"{search.method} reads lambda_max every {rule.period} epoch(s); "
                              f"set hessian_every: {rule.period} (got {search.hessian_every})")
    if search.method == "darts-ada" and search.ada_regularizer == "drop_path" \
            and search.drop_path <= 0:
        raise ConfigError("DARTS-ADA on drop_path needs a starting drop_path > 0")


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
    inherited = {"dataset": search.dataset, "data_dir": search.data_dir,
                 "download": search.download, "device": search.device, "seed": search.seed}
    config = resolve_train(_preset_for(preset, search.dataset), None, {**inherited, **overrides})
    return config.to_dict()


def _selection_settings(raw: dict[str, Any], search: SearchConfig) -> dict[str, Any]:
    plan = _check_selection(raw, "selection")
    overrides = dict(plan["retrain_overrides"])
    if plan["retrain_epochs"] is not None:
        overrides["epochs"] = plan["retrain_epochs"]
    retrain = _train_settings(plan["retrain_preset"], {**overrides, "eval": "holdout"}, search)
    if plan["protocol"] == "rdarts":
        protocol = f"r-darts({plan['regularizer']})"
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


# ---- one job: its steps, each skipping what is finished and resuming what is not ----------


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
    differing = [key for key in sorted(set(existing) | set(config))
                 if key not in RESUMABLE_CHANGES and existing.get(key) != config.get(key)]
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
    if not run_dir.file("result.json").exists():
        return None
    result = run_dir.read_json("result.json")
    return result if result.get("status") == "completed" else None


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
    expected = {c.name: c.search.to_dict() for c in _candidates(job)}
    if (existing.get("candidates") != expected
            or existing.get("retrain") != job["selection"]["retrain"]):
        raise RunDirError(f"{run_dir.path} holds a different selection; the sweep file changed "
                          "since it ran: choose another --out")
    if not run_dir.file("result.json").exists():
        return None
    result = run_dir.read_json("result.json")
    if result.get("status") != "completed" or result.get("protocol") != job["selection"]["label"]:
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


def _es_genotype(job: dict[str, Any], job_dir: Path) -> dict[str, Any] | None:
    """The DARTS-ES genotype if the rule fired (Section 4.2), else None."""
    stop = _search_result(job, job_dir).get("early_stopping") or {}
    return stop.get("genotype") if stop.get("triggered") else None


def _train_config(job: dict[str, Any], genotype: dict[str, Any]) -> dict[str, Any]:
    return {**job["evaluate"], "genotype": genotype}  # what run_training writes as config.yaml


def _train(job: dict[str, Any], genotype: dict[str, Any], path: Path, quiet: bool) -> None:
    from rdarts.core.genotype import genotype_from_dict
    from rdarts.train.training import run_training

    run_training(train_from_dict(job["evaluate"]), genotype_from_dict(genotype), path,
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
    from rdarts.core.genotype import genotype_from_dict
    from rdarts.train.training import run_training

    settings = dict(job["settings"])
    genotype = genotype_from_dict(settings.pop(GENOTYPE_KEY))
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


def job_results(job: dict[str, Any], job_dir: Path) -> dict[str, Any]:
    """The key numbers of a job from its directory (what summary.json holds per job).

    Search jobs: `genotype`, `lambda_max` (the last one measured during the search),
    `es_triggered`, `es_return_epoch`, `es_genotype`, `test_error`, `parameters`,
    `es_test_error` (when the rule never fired, DARTS-ES returns the final genotype, so it is
    the DARTS test error), `lambda_max_dense` and `discretization_drop` from the analyses,
    `test_regret` / `es_test_regret` on S5 with a tabular benchmark.
    Selection jobs: `protocol`, `chosen`, `val_accuracy`, `genotype`, `test_error`.
    Training jobs: `genotype`, `test_error` and/or `val_error`, `parameters`, `train_seconds`.
    Steps that have not finished contribute nothing.
    """
    results: dict[str, Any] = {}
    with contextlib.suppress(RdartsError, OSError, ValueError, KeyError):
        _collect(job, job_dir, results)  # a failed job: report what did finish
    return results


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
    trained = evaluation(job_dir / "eval", search["genotype"])
    if trained is not None:
        results.update(test_error=trained.get("test_error"), parameters=trained.get("parameters"))
    if "eval-es" in job["steps"]:
        if results.get("es_triggered"):
            trained_es = evaluation(job_dir / "eval-es", results["es_genotype"])
            if trained_es is not None:
                results["es_test_error"] = trained_es.get("test_error")
        elif "test_error" in results:
            results["es_test_error"] = results["test_error"]
    if "spectrum" in job["steps"] and _spectrum_done(job, job_dir):
        path = _spectrum_path(job_dir)
        results["lambda_max_dense"] = RunDir(path.parent).read_json(path.name).get(
            "lambda_max_dense")
    if "discretization" in job["steps"] and _discretization_done(job, job_dir):
        record = RunDir(job_dir / "search").read_json("discretization.json")[-1]
        results.update(discretization_drop=record["drop"],
                       one_shot_accuracy=record["one_shot_accuracy"],
                       discretized_accuracy=record["discretized_accuracy"])


# ---- the whole sweep -----------------------------------------------------------------------


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _prepare_out(out: Path, sweep: Sweep) -> None:
    """Write OUT/sweep.yaml, or check that OUT holds this sweep (rerun, or an extended grid)."""
    path = out / "sweep.yaml"
    if path.exists():
        try:
            existing = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise RunDirError(f"{path} is unreadable: {error}") from None
        if not isinstance(existing, dict) or existing.get("name") != sweep.name:
            other = existing.get("name") if isinstance(existing, dict) else None
            raise RunDirError(f"{out} holds another sweep ({other!r}, not {sweep.name!r}); "
                              "choose another --out")
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunDirError(f"{out} is not empty and holds no sweep (no sweep.yaml); "
                          "choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, yaml.safe_dump(sweep.to_dict(), sort_keys=False))


def _write_jobs(out: Path, sweep: Sweep, jobs: list[SweepJob], status: dict[str, str]) -> None:
    atomic_write_json(out / "jobs.json", {
        "sweep": sweep.name, "kind": sweep.kind,
        "jobs": [{**job.to_dict(), "status": status[job.name]} for job in jobs]})


def run_sweep(sweep: Sweep, out: str | Path, executor: Executor | str = "local",
              retries: int | None = None, only: str | None = None, quiet: bool = True, *,
              executor_options: dict[str, Any] | None = None,
              log: Log | None = None) -> dict[str, Any]:
    """Run every job of the sweep (or those matching `only`); write and return summary.json.

    `executor` is a name ("local", "ray"; built with `retries`, default 1, and
    `executor_options`) or a ready executor, which brings its own retries. Jobs whose steps
    are all finished are not run again (status done, attempts 0); jobs left out by `only` are
    reported as they stand on disk (done, or skipped). A failed job is a line in the summary,
    never an exception: the other jobs run on.
    """
    out = Path(out)
    log = _stderr if log is None else log
    if isinstance(executor, str):
        retries = 1 if retries is None else retries
    elif retries is not None:
        raise ConfigError("a ready executor brings its own retries; pass retries when "
                          "building it")
    else:
        retries = getattr(executor, "retries", None)
    jobs = expand(sweep)
    chosen = {job.name for job in select_jobs(jobs, only)}
    _prepare_out(out, sweep)
    status = {job.name: "pending" for job in jobs}
    _write_jobs(out, sweep, jobs, status)

    records: dict[str, dict[str, Any]] = {}
    to_run: list[SweepJob] = []
    for job in jobs:
        data = job.to_dict()
        if job_finished(data, out / job.name):
            log(f"skip {job.name}: finished earlier")
            records[job.name] = {"name": job.name, "status": "done", "attempts": 0,
                                 "seconds": 0.0, "steps": list(job.steps), "reused": True,
                                 **job_results(data, out / job.name)}
        elif job.name in chosen:
            to_run.append(job)
        else:
            records[job.name] = {"name": job.name, "status": "skipped", "attempts": 0,
                                 "seconds": 0.0, "steps": list(job.steps),
                                 "reason": f"not selected by --only {only}"}

    results = _execute(to_run, out, executor, retries, quiet, executor_options or {}, log)
    for job, result in zip(to_run, results, strict=True):
        records[job.name] = _record(job, result, out)

    summary = {"sweep": sweep.name, "kind": sweep.kind, "out": str(out), "retries": retries,
               "counts": {s: sum(r["status"] == s for r in records.values()) for s in STATUSES},
               "jobs": [records[job.name] for job in jobs]}
    atomic_write_json(out / "summary.json", summary)
    _write_jobs(out, sweep, jobs, {name: record["status"] for name, record in records.items()})
    return summary


def _execute(jobs: list[SweepJob], out: Path, executor: Executor | str, retries: int | None,
             quiet: bool, options: dict[str, Any], log: Log) -> list[JobResult]:
    if not jobs:
        return []
    work = [Job(name=job.name, function=run_sweep_job,
                kwargs={"job": job.to_dict(), "out": str(out / job.name), "quiet": quiet})
            for job in jobs]
    if not isinstance(executor, str):
        return executor.run(work)
    with make_executor(executor, retries=retries, log=log, **options) as built:
        return built.run(work)


def _record(job: SweepJob, result: JobResult, out: Path) -> dict[str, Any]:
    record: dict[str, Any] = {"name": job.name, "status": "done" if result.ok else "failed",
                              "attempts": result.attempts, "seconds": round(result.seconds, 3),
                              "steps": list(job.steps)}
    if result.ok:
        record.update(result.value)
    else:
        record["error"] = result.error
        record.update(job_results(job.to_dict(), out / job.name))
    return record


# ---- the command ---------------------------------------------------------------------------


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else "-"


def result_line(record: dict[str, Any]) -> str:
    """The key numbers of one summary record, on one line."""
    if record["status"] == "failed":
        return record.get("error") or "failed"
    if record["status"] == "skipped":
        return record.get("reason", "")
    parts = []
    if "chosen" in record:
        parts.append(f"chosen {record['chosen']} (val acc {_number(record['val_accuracy'])})")
    if "val_error" in record:
        parts.append(f"val error {_number(record['val_error'])}")
    if "test_error" in record:
        parts.append(f"test error {_number(record['test_error'])}")
    if "es_test_error" in record:
        epoch = (f" (epoch {record['es_return_epoch']})" if record.get("es_triggered")
                 else " (not triggered)")
        parts.append(f"ES test error {_number(record['es_test_error'])}{epoch}")
    if record.get("test_regret") is not None:
        parts.append(f"test regret {_number(record['test_regret'])}")
    if record.get("es_test_regret") is not None:
        parts.append(f"ES test regret {_number(record['es_test_regret'])}")
    if record.get("lambda_max") is not None:
        parts.append(f"lambda_max {_number(record['lambda_max'])}")
    if "discretization_drop" in record:
        parts.append(f"discretization drop {_number(record['discretization_drop'])}")
    return "  ".join(parts)


def summary_table(summary: dict[str, Any]) -> str:
    """One line per job: name, status, attempts, seconds, key numbers."""
    rows = summary["jobs"]
    width = max([len("job"), *(len(r["name"]) for r in rows)])
    lines = [f"{'job':<{width}}  {'status':<7}  {'tries':>5}  {'seconds':>9}  results"]
    for r in rows:
        lines.append(f"{r['name']:<{width}}  {r['status']:<7}  {r['attempts']:>5}  "
                     f"{r['seconds']:>9.1f}  {result_line(r)}")
    counts = summary["counts"]
    lines.append(f"{len(rows)} jobs: {counts['done']} done, {counts['failed']} failed, "
                 f"{counts['skipped']} skipped; summary in {summary['out']}/summary.json")
    return "\n".join(lines)


def _changed(values: dict[str, Any], defaults: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items() if defaults.get(k) != v) or "-"


def describe_jobs(sweep: Sweep, jobs: list[SweepJob]) -> str:
    """The dry-run listing: each job's name, steps and the settings that differ from the
    defaults (search, and training for evaluations and retrainings)."""
    search_defaults = SearchConfig().to_dict()
    train_defaults = TrainConfig().to_dict()
    lines = [f"sweep {sweep.name} ({sweep.kind}): {len(jobs)} jobs"
             + (f"; {sweep.description}" if sweep.description else "")]
    for job in jobs:
        lines.append(f"{job.name}: {', '.join(job.steps)}")
        if job.kind == "train":
            settings = {k: v for k, v in job.settings.items() if k != GENOTYPE_KEY}
            lines.append(f"    train: {_changed(settings, train_defaults)}")
            continue
        lines.append(f"    search: {_changed(job.settings, search_defaults)}")
        if job.selection is not None:
            plan = job.selection
            lines.append(f"    selection: {plan['label']}"
                         + (f" values {plan['values']}" if plan["values"] else ""))
            lines.append(f"    retrain: {_changed(plan['retrain'], train_defaults)}")
        if job.evaluate is not None:
            lines.append(f"    eval: {_changed(job.evaluate, train_defaults)}")
    return "\n".join(lines)


def default_out(sweep: Sweep) -> Path:
    return Path("sweeps") / sweep.name


def sweep_command(path: str | Path, out: str | Path | None = None, executor: str = "local",
                  address: str | None = None, max_parallel: int | None = None,
                  retries: int = 1, dry_run: bool = False, only: str | None = None,
                  quiet: bool = True) -> int:
    """`rdarts sweep SWEEP.yaml`: run (or list, with `dry_run`) a sweep; print one line per
    job; return 1 if any job failed, else 0. User mistakes raise RdartsError (one line)."""
    sweep = load_sweep(path)
    if dry_run:
        print(describe_jobs(sweep, select_jobs(expand(sweep), only)))
        return 0
    options: dict[str, Any] = {}
    if executor == "ray":
        options = {"address": address, "max_parallel": max_parallel}
    elif address is not None or max_parallel is not None:
        raise ConfigError("--address and --max-parallel are options of --executor ray")
    summary = run_sweep(sweep, default_out(sweep) if out is None else out, executor, retries,
                        only, quiet, executor_options=options)
    print(summary_table(summary))
    return 1 if summary["counts"]["failed"] else 0
