"""The S5 tabular benchmark: all 81 architectures of the paper's smallest space, trained.

Paper Section 3 ("S5: very small search space with known global optimum", Figure 2): one
intermediate node per cell, whose two input edges (from c_{k-2} and c_{k-1}) each carry
sep_conv_3x3, skip_connect or max_pool_3x3, in the normal and in the reduction cell:
3^2 x 3^2 = 81 architectures. With every one of them trained, a search method is scored by the
*test regret* of the architecture it returns: its table test error minus the best table test
error.

An architecture's key names the ops of its four edges, normal cell first, the edge from
c_{k-2} before the one from c_{k-1}: `sep.skip-pool.sep` is sep_conv_3x3 <- c_{k-2} and
skip_connect <- c_{k-1} in the normal cell, max_pool_3x3 <- c_{k-2} and sep_conv_3x3 <- c_{k-1}
in the reduction cell. Its index orders the keys as base-3 numbers (sep, skip, pool = 0, 1, 2).

A table is built by training every architecture with each of a protocol's seeds
(`rdarts.domains.image.s5_build`, a `kind: train` sweep whose progress survives the sweep
directory); `S5Table` loads, validates and looks it up. The `cpu` protocol's table ships
inside the package.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from rdarts.core.genotype import Genotype
from rdarts.core.space import CellSpace
from rdarts.domains.image.s5_keys import (
    ARCHITECTURE_BY_KEY,
    ARCHITECTURES,
    KEY_FORM,
    LONG,
    OPS,
    SHORT,
    Architecture,
    architecture_from_key,
    architecture_key,
    architectures,
    fits_s5,
    s5_genotype,
)
from rdarts.errors import BenchmarkError, ConfigError, GenotypeError
from rdarts.userfiles import read_user_file

__all__ = ["ARCHITECTURES", "ARCHITECTURE_BY_KEY", "KEY_FORM", "LONG", "OPS", "SHORT",
           "Architecture", "S5Table", "architecture_from_key", "architecture_key",
           "architectures", "fits_s5", "load_table", "s5_genotype", "table_for_search"]

TABLE_FORMAT = "rdarts-s5-table"
TABLE_VERSION = 1
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


# ---- protocols ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Protocol:
    """How every architecture is trained: a training preset, overrides and the seeds."""

    name: str
    description: str
    preset: str | None
    train: dict[str, Any]
    seeds: tuple[int, ...]
    default_data_dir: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "preset": self.preset,
                "train": dict(self.train), "seeds": list(self.seeds)}


PROTOCOLS: dict[str, Protocol] = {
    # Sized for a 2-core CPU: 81 x 2 trainings in about 3 hours with two 1-thread workers
    # (docs/benchmarks/s5.md has the measurements this was chosen from).
    "cpu": Protocol(
        name="cpu",
        description="Fashion-MNIST (all 60,000 + 10,000 images): train on the first 50,000 "
                    "training images for 2 epochs, validation error on the last 10,000, test "
                    "error on the 10,000 test images; 5 cells (3 normal, 2 reduction), 8 "
                    "initial channels, batch 128, SGD lr 0.05 cosine to 0 (every step), "
                    "momentum 0.9, "
                    "weight decay 3e-4, random crop (padding 2) and flip, no Cutout, drop "
                    "path or auxiliary head; 2 seeds",
        preset=None,
        train={"dataset": "fashion-mnist", "eval": "both", "holdout_fraction": 1 / 6,
               "epochs": 2, "layers": 5, "channels": 8, "batch_size": 128, "lr": 0.05,
               "lr_min": 0.0, "lr_per_step": True, "momentum": 0.9, "weight_decay": 3e-4,
               "grad_clip": 5.0,
               "auxiliary": False, "drop_path": 0.0, "crop_padding": 2, "flip": True,
               "cutout_length": 0, "cutout_prob": 0.0},
        seeds=(0, 1),
        default_data_dir=FASHION_MNIST_DIR,
    ),
    # The paper's CIFAR-10 evaluation (spec section 10), for GPU clusters; 10% of the
    # training set is held out for the validation error.
    "paper": Protocol(
        name="paper",
        description="CIFAR-10 with the paper's evaluation settings (20 cells, 36 channels, "
                    "600 epochs, batch 96, Cutout 16, drop path 0.2, auxiliary head 0.4), "
                    "trained on 45,000 training images, validation error on the other 5,000, "
                    "test error on the 10,000 test images; 2 seeds",
        preset="paper-c10",
        train={"dataset": "cifar10", "eval": "both", "holdout_fraction": 0.1},
        seeds=(0, 1),
    ),
}


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise ConfigError(f"unknown S5 benchmark protocol {name!r}; known: "
                          f"{', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


# ---- the table ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One architecture's row: mean and standard deviation over its seeds (errors are
    fractions, 0.1 = 10%)."""

    key: str
    index: int
    test_error: float
    test_error_std: float
    val_error: float
    val_error_std: float
    parameters: int
    train_seconds: float
    seeds: tuple[int, ...]
    runs: tuple[dict[str, Any], ...]

    @property
    def genotype(self) -> Genotype:
        return ARCHITECTURE_BY_KEY[self.key].genotype


def _number(value: Any, where: str, low: float = 0.0, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not low <= value <= high:
        raise BenchmarkError(f"{where} must be a number in [{low}, {high}], got {value!r}")
    return float(value)


def entry_from_dict(data: Any, where: str) -> Entry:
    """One validated table row; BenchmarkError naming what is wrong."""
    if not isinstance(data, dict):
        raise BenchmarkError(f"{where}: expected a mapping, got {data!r}")
    missing = [k for k in ("key", "index", "test_error", "val_error", "parameters",
                           "train_seconds", "seeds", "runs") if k not in data]
    if missing:
        raise BenchmarkError(f"{where}: missing {', '.join(missing)}")
    key = data["key"]
    if key not in ARCHITECTURE_BY_KEY:
        raise BenchmarkError(f"{where}: {key!r} is not an S5 architecture key")
    where = f"{where} ({key})"
    if data["index"] != ARCHITECTURE_BY_KEY[key].index:
        raise BenchmarkError(f"{where}: index {data['index']!r} does not match the key "
                             f"(expected {ARCHITECTURE_BY_KEY[key].index})")
    if "genotype" in data:
        try:
            same = architecture_key(data["genotype"]) == key
        except GenotypeError as error:
            raise BenchmarkError(f"{where}: genotype: {error}") from None
        if not same:
            raise BenchmarkError(f"{where}: its genotype is not the architecture {key}")
    seeds = data["seeds"]
    runs = data["runs"]
    if not isinstance(seeds, list) or not seeds or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise BenchmarkError(f"{where}: seeds must be a non-empty list of integers")
    if not isinstance(runs, list) or [r.get("seed") if isinstance(r, dict) else None
                                      for r in runs] != seeds:
        raise BenchmarkError(f"{where}: runs must list one result per seed, in seed order")
    errors = {}
    for name in ("test_error", "val_error"):
        stats = data[name]
        if not isinstance(stats, dict):
            raise BenchmarkError(f"{where}: {name} must be a mapping of mean and std")
        per_seed = [_number(r.get(name), f"{where}: runs[{i}].{name}", 0.0, 1.0)
                    for i, r in enumerate(runs)]
        mean = _number(stats.get("mean"), f"{where}: {name}.mean", 0.0, 1.0)
        std = _number(stats.get("std"), f"{where}: {name}.std")
        if abs(mean - statistics.fmean(per_seed)) > 1e-6:
            raise BenchmarkError(f"{where}: {name}.mean {mean} is not the mean of its runs")
        errors[name] = (mean, std)
    parameters = data["parameters"]
    if isinstance(parameters, bool) or not isinstance(parameters, int) or parameters <= 0:
        raise BenchmarkError(f"{where}: parameters must be a positive integer")
    return Entry(key=key, index=data["index"], test_error=errors["test_error"][0],
                 test_error_std=errors["test_error"][1], val_error=errors["val_error"][0],
                 val_error_std=errors["val_error"][1], parameters=parameters,
                 train_seconds=_number(data["train_seconds"], f"{where}: train_seconds"),
                 seeds=tuple(seeds), runs=tuple(runs))


class S5Table:
    """A validated S5 table: one entry per architecture, looked up by genotype."""

    def __init__(self, data: dict[str, Any], source: str = "S5 table") -> None:
        if not isinstance(data, dict) or data.get("format") != TABLE_FORMAT:
            raise BenchmarkError(f"{source} is not an rdarts S5 table (format {TABLE_FORMAT!r})")
        if data.get("version") != TABLE_VERSION:
            raise BenchmarkError(f"{source}: table version {data.get('version')!r} is not "
                                 f"supported (this rdarts reads version {TABLE_VERSION})")
        raw = data.get("entries")
        if not isinstance(raw, list):
            raise BenchmarkError(f"{source}: 'entries' must be a list")
        entries: dict[str, Entry] = {}
        for position, item in enumerate(raw):
            entry = entry_from_dict(item, f"{source}: entries[{position}]")
            if entry.key in entries:
                raise BenchmarkError(f"{source}: architecture {entry.key} appears twice")
            entries[entry.key] = entry
        missing = [key for key in ARCHITECTURE_BY_KEY if key not in entries]
        if missing:
            raise BenchmarkError(f"{source} is incomplete: {len(missing)} of {ARCHITECTURES} "
                                 f"architectures missing (e.g. {', '.join(missing[:3])})")
        protocol = data.get("protocol")
        if not isinstance(protocol, dict) or not isinstance(protocol.get("name"), str):
            raise BenchmarkError(f"{source}: 'protocol' must be a mapping with a name")
        self.source = source
        self.data = data
        self.protocol: dict[str, Any] = protocol
        self.entries: list[Entry] = sorted(entries.values(), key=lambda e: e.index)
        self._by_key = entries
        self.best: Entry = min(self.entries, key=lambda e: (e.test_error, e.index))

    @property
    def name(self) -> str:
        return f"s5-{self.protocol['name']}"

    @property
    def dataset(self) -> str | None:
        return self.protocol.get("train", {}).get("dataset")

    def entry(self, genotype: Genotype | dict) -> Entry:
        """The row of an S5 genotype; BenchmarkError if it is not one of the 81."""
        try:
            return self._by_key[architecture_key(genotype)]
        except GenotypeError as error:
            raise BenchmarkError(f"not an S5 architecture: {error}") from None

    def test_regret(self, genotype: Genotype | dict) -> float:
        """Table test error of `genotype` minus the best table test error (paper Fig. 2)."""
        return self.entry(genotype).test_error - self.best.test_error

    def lookup(self, genotype: Genotype | dict) -> dict[str, Any]:
        """What a search logs per epoch: the architecture, its errors and test regret (fractions)
        and the parameter count of the table's network."""
        entry = self.entry(genotype)
        return {"table": self.name, "architecture": entry.key, "test_error": entry.test_error,
                "val_error": entry.val_error,
                "test_regret": entry.test_error - self.best.test_error,
                "parameters": entry.parameters}

    def expected_random_regret(self) -> float:
        """The test regret (a fraction) of an architecture drawn uniformly from the 81: the
        mean table test error minus the best, the baseline a search method has to beat."""
        return statistics.fmean(e.test_error for e in self.entries) - self.best.test_error

    def spread(self) -> dict[str, Any]:
        """Best, median and worst architecture by mean test error, and the seed noise."""
        return spread(self.entries)


def spread(entries: list[Entry]) -> dict[str, Any]:
    """Best, median and worst of `entries` by mean test error, the mean standard deviation
    over seeds, and Spearman's rank correlation of test and validation error."""
    ranked = sorted(entries, key=lambda e: (e.test_error, e.index))

    def row(entry: Entry) -> dict[str, Any]:
        return {"architecture": entry.key, "test_error": entry.test_error,
                "test_error_std": entry.test_error_std, "val_error": entry.val_error,
                "parameters": entry.parameters}

    return {"best": row(ranked[0]), "median": row(ranked[len(ranked) // 2]),
            "worst": row(ranked[-1]),
            "mean_seed_std": statistics.fmean(e.test_error_std for e in entries),
            "test_val_spearman": _spearman([e.test_error for e in entries],
                                           [e.val_error for e in entries])}


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    position = 0
    while position < len(order):
        end = position
        while end + 1 < len(order) and values[order[end + 1]] == values[order[position]]:
            end += 1
        for k in range(position, end + 1):
            ranks[order[k]] = (position + end) / 2
        position = end + 1
    return ranks


def _spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's rank correlation (ties share their mean rank)."""
    rx, ry = _ranks(x), _ranks(y)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    return None if sxx == 0 or syy == 0 else sxy / math.sqrt(sxx * syy)


def shipped_table_path(protocol: str = "cpu") -> Path:
    return Path(str(resources.files("rdarts.domains.image") / "tables" / f"s5-{protocol}.json"))


def load_table(path: str | Path | None = None) -> S5Table:
    """A table file, or (None) the shipped `cpu` table; BenchmarkError when it is missing,
    unreadable, malformed or incomplete."""
    if path is None:
        path = shipped_table_path("cpu")
        if not path.exists():
            raise BenchmarkError("this rdarts ships no S5 table yet; build one with "
                                 "`rdarts bench s5 build --protocol cpu`")
    data = read_user_file(path, "S5 table", "JSON", BenchmarkError)
    return S5Table(data, source=str(path))


def table_for_search(setting: str | None, space: CellSpace, dataset: str) -> S5Table | None:
    """The table a search logs its regret against (`--regret-table`): `auto` (the shipped
    table, when the space is S5's and the dataset is the table's), `none`, or a file."""
    if setting in (None, "none"):
        return None
    if setting == "auto":
        if not fits_s5(space) or not shipped_table_path("cpu").exists():
            return None
        table = load_table(None)
        return table if table.dataset == dataset else None
    if not fits_s5(space):
        raise ConfigError(f"--regret-table needs the S5 space (1 node; {', '.join(OPS)} on "
                          f"every edge); space {space.name!r} is not")
    return load_table(setting)
