"""The sweep file: the paper's experiment grids as data (Tables 1, 2, 5; Figures 4, 5).

A sweep file names a base search configuration and a grid of values; every point of the grid
is one job: a search (or, with `kind: selection`, the selection protocol of Section 7.2 / Table 5)
followed by its evaluations (training the found genotype from scratch) and analyses (the
Hessian spectrum and discretisation drop at the final checkpoint, Figure 4). The jobs go to an
executor (in-process or Ray, `rdarts.experiments.executors`), one job per grid point, each
writing only below its own directory, so a killed sweep is rerun with the same command:
finished jobs are skipped and unfinished ones resume from their checkpoints.

File format (YAML; option names with dashes or underscores):

    name: table1                         # used for the default output directory
    description: ...
    kind: search                         # search | selection | train
    preset: paper                        # search preset (train: a training preset; optional)
    base: {method: darts-es, ...}        # search options shared by every job
    grid: {space: [s1, s2], seed: [0, 1]}   # search option -> values; cartesian product
    evaluate: {preset: {cifar10: paper-c10, ...} | quick, overrides: {...}, early_stopping: bool}
    analyses: [spectrum, discretization]
    selection: {protocol: select | rdarts, regularizer: l2 | drop_path, values: [...], seeds: 4,
                retrain_preset: ..., retrain_epochs: 100, retrain_overrides: {...}}

With `kind: train` each grid point trains one genotype from scratch (a tabular benchmark such
as S5's is such a sweep): `base` and `grid` hold training options and `genotype` (a genotype
file, run directory or known name; in a variant also a genotype mapping).

A grid axis named `variant` bundles several settings under one name, for comparisons that are
not a product (Table 5: five methods, R-DARTS with two regularisers): each value is a mapping
with a `name`, search options and, for selection sweeps, `selection` overrides.

This module only reads and validates the file, so that every mistake in it is a ConfigError
naming the key before anything runs; `jobs` expands a Sweep into jobs, `steps` runs one job
and `runner` runs them all (its docstring describes the output directory).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from rdarts.domains.registry import domain_names, domain_settings
from rdarts.errors import ConfigError, did_you_mean
from rdarts.search.config import (
    PRESETS,
    TRAIN_PRESETS,
    SearchConfig,
    TrainConfig,
    normalise_keys,
    train_preset_names,
)
from rdarts.userfiles import parse_user_text

KINDS = ("search", "selection", "train")
GENOTYPE_KEY = "genotype"
ANALYSES = ("spectrum", "discretization")
PROTOCOLS = ("select", "rdarts")
REGULARIZERS = ("l2", "drop_path", "dp")  # dp: the first spelling of drop_path
SWEEP_KEYS = ("name", "description", "kind", "preset", "base", "grid", "evaluate", "analyses",
              "selection")
EVALUATE_KEYS = ("preset", "overrides", "early_stopping")
SELECTION_KEYS = ("protocol", "regularizer", "values", "seeds", "retrain_preset",
                  "retrain_epochs", "retrain_overrides")
VARIANT_AXIS = "variant"

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")
_SAFE_SWEEP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

PresetSpec = str | dict[str, str] | None  # one preset name, or dataset -> preset name


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
    raise ConfigError(f"sweep file {path} does not exist"
                      f"{did_you_mean(name.removesuffix('.yaml'), shipped_sweeps())}; "
                      f"shipped sweeps: {', '.join(shipped_sweeps())}")


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file (a path, or a shipped name such as `table1`).

    Unknown keys, kinds, analyses, presets and search or training options are a ConfigError
    naming the key; value ranges are checked when `expand` resolves each job.
    """
    text, source = _read_sweep_text(path)
    where = source if source.startswith("sweep ") else f"sweep file {source}"
    data = parse_user_text(text, where, "YAML", ConfigError)
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
    base = _options(_mapping(data.get("base"), f"{source}: base"), f"{source}: base", kind)
    presets = _presets(kind, str(base.get("domain", SearchConfig.domain)))
    if preset is not None and preset not in presets:
        raise ConfigError(f"{source}: unknown {'training' if kind == 'train' else 'search'} "
                          f"preset {preset!r}; known: {', '.join(presets)}")
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
        return _with_domain_keys(values, where, SearchConfig)
    rest = {k: v for k, v in values.items() if k != GENOTYPE_KEY}
    options = _with_domain_keys(rest, where, TrainConfig)
    if GENOTYPE_KEY in values:
        genotype = values[GENOTYPE_KEY]
        if not isinstance(genotype, str | dict):
            raise ConfigError(f"{where}: genotype must be a file, run directory or name (or a "
                              f"genotype mapping), got {genotype!r}")
        options[GENOTYPE_KEY] = genotype
    return options


def _presets(kind: str, domain: str) -> list[str]:
    """The search (or, for kind: train, training) presets of the base's domain."""
    own = domain_settings(domain) if domain in domain_names() else None
    if kind == "train":
        return list(own.train_presets or ()) if own is not None and own.train_cls else list(
            TRAIN_PRESETS)
    return list(own.presets) if own is not None else list(PRESETS)


def _with_domain_keys(values: dict[str, Any], where: str, cls: type) -> dict[str, Any]:
    """`normalise_keys` against `cls` and the settings of the domain whose own settings
    hold the other keys (a language sweep's hidden_size, bptt, ...): which domain a job is
    in is checked when `expand` resolves it."""
    known = {f.name for f in fields(cls)}
    others = {str(k).replace("-", "_") for k in values} - known
    owns = [domain_settings(name) for name in domain_names()]
    classes = [own.cls if cls is SearchConfig else own.train_cls for own in owns
               if own is not None]
    own = next((c for c in classes if c is not None
                and others <= {f.name for f in fields(c)}), None) if others else None
    return normalise_keys(values, where, cls, own)


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
    overrides = _with_domain_keys(_mapping(data.get("overrides"), f"{where}: overrides"),
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
        if name is not None and name not in train_preset_names():
            raise ConfigError(f"{where}: unknown training preset {name!r}; "
                              f"known: {', '.join(train_preset_names())}")
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
            isinstance(x, int | float) and not isinstance(x, bool) for x in v)
            and len(set(v)) == len(v)), "a non-empty list of distinct numbers"),
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
        checked["retrain_overrides"] = _with_domain_keys(
            _mapping(data["retrain_overrides"], f"{where}: retrain_overrides"),
            f"{where}: retrain_overrides", TrainConfig)
    if not partial:
        checked = {"protocol": "select", "regularizer": "l2", "values": None, "seeds": 4,
                   "retrain_preset": "quick", "retrain_epochs": None, "retrain_overrides": {},
                   **checked}
    return checked
