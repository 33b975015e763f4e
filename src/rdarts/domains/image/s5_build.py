"""Building an S5 table: every architecture trained with every seed of a protocol.

The trainings run as a `kind: train` sweep (`rdarts sweep` machinery: one run directory per
architecture and seed, exact resume, retries, Ray). A build of the `cpu` protocol takes about
3 hours on 2 cores and the `paper` protocol days of GPU time, so a build must survive more than
its sweep directory: every finished training is also recorded in a small *progress file*
(default OUT/progress.json). A build started with an existing progress file trains only what
it does not list yet, in any sweep directory, on any machine, so a table can be built in
slices (`max_jobs`) across sessions or machines that keep nothing but that file. The table is
written once every architecture has a result for every seed.
"""

from __future__ import annotations

import datetime
import json
import platform
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rdarts import __version__
from rdarts.domains.image.s5 import (
    ARCHITECTURE_BY_KEY,
    TABLE_FORMAT,
    TABLE_VERSION,
    Architecture,
    Entry,
    Protocol,
    S5Table,
    architectures,
    entry_from_dict,
    get_protocol,
)
from rdarts.errors import BenchmarkError, ConfigError
from rdarts.runs.atomic import atomic_write_json
from rdarts.userfiles import read_user_file

PROGRESS_FORMAT = "rdarts-s5-progress"
PROGRESS_VERSION = 1
# Job settings that say where and how a training ran, not what it computed: they may differ
# between the slices of one build.
NOT_PROTOCOL = ("genotype", "seed", "device", "data_dir", "download")
RUN_FIELDS = ("test_error", "val_error", "parameters", "train_seconds")


def build_sweep_data(protocol: Protocol, data_dir: str | None = None,
                     device: str = "cpu", seeds: tuple[int, ...] | None = None
                     ) -> dict[str, Any]:
    """The `kind: train` sweep that trains every architecture with every seed."""
    base = dict(protocol.train)
    data_dir = data_dir if data_dir is not None else protocol.default_data_dir
    if data_dir is not None:
        base["data_dir"] = data_dir
    base["device"] = device
    return {
        "name": f"s5-{protocol.name}",
        "description": f"S5 tabular benchmark, protocol {protocol.name}: {protocol.description}",
        "kind": "train",
        "preset": protocol.preset,
        "base": base,
        "grid": {"variant": [{"name": arch.key, "genotype": arch.genotype.to_dict()}
                             for arch in architectures()],
                 "seed": list(protocol.seeds if seeds is None else seeds)},
    }


def protocol_settings(job_settings: dict[str, Any]) -> dict[str, Any]:
    """The fully resolved training settings every architecture shares (JSON-normalised, so
    that a progress file read back compares equal)."""
    kept = {k: v for k, v in job_settings.items() if k not in NOT_PROTOCOL}
    return json.loads(json.dumps(kept, sort_keys=True))


# ---- the progress file --------------------------------------------------------------------


@dataclass
class BuildProgress:
    """The finished trainings of one build, keyed by (architecture, seed)."""

    path: Path
    protocol: str
    settings: dict[str, Any]
    runs: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    changed: bool = False

    @classmethod
    def read(cls, path: str | Path) -> BuildProgress:
        """An existing progress file, whatever its settings; BenchmarkError when it is
        missing or malformed."""
        path = Path(path)
        data = read_user_file(path, "S5 build progress file", "JSON", BenchmarkError)
        where = str(path)
        if not isinstance(data, dict) or data.get("format") != PROGRESS_FORMAT:
            raise BenchmarkError(f"{where} is not an S5 build progress file "
                                 f"(format {PROGRESS_FORMAT!r})")
        if data.get("version") != PROGRESS_VERSION:
            raise BenchmarkError(f"{where}: progress file version {data.get('version')!r} is "
                                 f"not supported (this rdarts reads {PROGRESS_VERSION})")
        protocol, settings, runs = data.get("protocol"), data.get("settings"), data.get("runs")
        if not isinstance(protocol, str) or not isinstance(settings, dict):
            raise BenchmarkError(f"{where}: 'protocol' must be a name and 'settings' a mapping")
        if not isinstance(runs, list):
            raise BenchmarkError(f"{where}: 'runs' must be a list")
        progress = cls(path, protocol, settings)
        for position, run in enumerate(runs):
            progress.runs[_check_run(run, f"{where}: runs[{position}]")] = run
        return progress

    @classmethod
    def open(cls, path: str | Path, protocol: str, settings: dict[str, Any]
             ) -> BuildProgress:
        """The progress file of a build with these settings (an empty one when there is no
        file yet); BenchmarkError when it is malformed or records other settings."""
        if not Path(path).exists():
            return cls(Path(path), protocol, settings)
        progress = cls.read(path)
        if progress.protocol != protocol or progress.settings != settings:
            raise BenchmarkError(f"{path} records trainings of other settings (protocol "
                                 f"{progress.protocol!r}"
                                 f"{_difference(progress.settings, settings)}); "
                                 "use another --progress file")
        return progress

    def seeds(self) -> tuple[int, ...]:
        """The protocol's seeds when it is a known protocol, else every recorded seed."""
        from rdarts.domains.image.s5 import PROTOCOLS

        if self.protocol in PROTOCOLS:
            return PROTOCOLS[self.protocol].seeds
        return tuple(sorted({seed for _, seed in self.runs}))

    def add(self, key: str, seed: int, run: dict[str, Any]) -> None:
        self.runs[(key, seed)] = {"key": key, "seed": seed, **run}
        self.changed = True

    def save(self) -> None:
        """Write the file atomically (only when something was added)."""
        if not self.changed:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path, {
            "format": PROGRESS_FORMAT, "version": PROGRESS_VERSION, "protocol": self.protocol,
            "settings": self.settings, "rdarts_version": __version__,
            "runs": [self.runs[k] for k in sorted(self.runs, key=_run_order)]})
        self.changed = False


def _run_order(item: tuple[str, int]) -> tuple[int, int]:
    return ARCHITECTURE_BY_KEY[item[0]].index, item[1]


def _difference(recorded: dict[str, Any], settings: dict[str, Any]) -> str:
    differing = [k for k in sorted(set(recorded) | set(settings))
                 if recorded.get(k) != settings.get(k)]
    return "".join(f", {k}: {recorded.get(k)!r} there, {settings.get(k)!r} here"
                   for k in differing[:3])


def _check_run(run: Any, where: str) -> tuple[str, int]:
    if not isinstance(run, dict):
        raise BenchmarkError(f"{where}: expected a mapping, got {run!r}")
    key, seed = run.get("key"), run.get("seed")
    if key not in ARCHITECTURE_BY_KEY:
        raise BenchmarkError(f"{where}: {key!r} is not an S5 architecture key")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise BenchmarkError(f"{where}: seed must be an integer, got {seed!r}")
    missing = [name for name in RUN_FIELDS if not isinstance(run.get(name), int | float)]
    if missing:
        raise BenchmarkError(f"{where} ({key}, seed {seed}): missing {', '.join(missing)}")
    return key, seed


def _device_of(run_dir: Path) -> str | None:
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return manifest.get("device") if isinstance(manifest, dict) else None


def record_finished(progress: BuildProgress, jobs: list[Any], out: Path) -> int:
    """Add every training that is finished in the sweep directory `out` and not yet in the
    progress file; returns how many were added. Reads `out`, never writes it."""
    from rdarts.experiments.steps import job_finished, job_results

    added = 0
    for job in jobs:
        key, seed = job.point["variant"], job.settings["seed"]
        if (key, seed) in progress.runs or not (out / job.name).is_dir():
            continue
        data = job.to_dict()
        if not job_finished(data, out / job.name):
            continue
        results = job_results(data, out / job.name)
        if not all(isinstance(results.get(name), int | float) for name in RUN_FIELDS):
            continue
        progress.add(key, seed, {**{name: results[name] for name in RUN_FIELDS},
                                 "device": _device_of(out / job.name / "train")})
        added += 1
    return added


# ---- the table ----------------------------------------------------------------------------


def _entry_dict(arch: Architecture, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A table row from one architecture's trainings (mean and sample std over seeds)."""
    entry: dict[str, Any] = {"key": arch.key, "index": arch.index,
                             "genotype": arch.genotype.to_dict()}
    for name in ("test_error", "val_error"):
        values = [row[name] for row in rows]
        entry[name] = {"mean": statistics.fmean(values),
                       "std": statistics.stdev(values) if len(values) > 1 else 0.0}
    entry.update(parameters=rows[0]["parameters"],
                 train_seconds=round(statistics.fmean(r["train_seconds"] for r in rows), 3),
                 seeds=[row["seed"] for row in rows],
                 runs=[{k: v for k, v in row.items() if k != "key"} for row in rows])
    return entry


def partial_entries(progress: BuildProgress) -> list[Entry]:
    """The rows of the architectures that every seed has finished, for watching a build:
    `rdarts bench s5 show --progress FILE`."""
    seeds = sorted(progress.seeds())
    return [entry_from_dict(_entry_dict(arch, [progress.runs[(arch.key, s)] for s in seeds]),
                            f"{progress.path} ({arch.key})")
            for arch in architectures()
            if all((arch.key, seed) in progress.runs for seed in seeds)]


def table_from_runs(progress: BuildProgress, protocol: Protocol, seeds: tuple[int, ...]
                    ) -> dict[str, Any]:
    """Aggregate the recorded trainings (mean and sample std over `seeds`) into a table;
    BenchmarkError naming what is missing."""
    missing = [f"{arch.key}_seed{seed}" for arch in architectures() for seed in seeds
               if (arch.key, seed) not in progress.runs]
    if missing:
        raise BenchmarkError(f"{len(missing)} trainings are unfinished (e.g. "
                             f"{', '.join(missing[:3])}); rerun the build to continue it")
    entries = [_entry_dict(arch, [progress.runs[(arch.key, seed)] for seed in sorted(seeds)])
               for arch in architectures()]
    return {"format": TABLE_FORMAT, "version": TABLE_VERSION, "space": "s5",
            "protocol": {**protocol.to_dict(), "seeds": sorted(seeds),
                         "resolved_train_settings": progress.settings},
            "rdarts_version": __version__,
            "built": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": {"python": platform.python_version(), "platform": platform.platform()},
            "entries": entries}


# ---- the build ----------------------------------------------------------------------------


def build_table(protocol_name: str | Protocol, out: str | Path | None = None, *,
                table_out: str | Path | None = None, progress: str | Path | None = None,
                max_jobs: int | None = None, executor: str = "local",
                address: str | None = None, max_parallel: int | None = None,
                retries: int = 1, data_dir: str | None = None, device: str = "cpu",
                seeds: int | None = None, quiet: bool = True,
                log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train every architecture not yet recorded in the progress file (at most `max_jobs` of
    them this time; 0 only records what `out` has finished), resuming interrupted trainings
    in `out`, and, once every training is recorded, write the table to `table_out` (default
    OUT/s5-NAME.json).

    Returns {"sweep": summary or None, "table": path or None, "done", "total", "progress"}.
    """
    from rdarts.domains.image.loading import load_dataset
    from rdarts.experiments.jobs import expand
    from rdarts.experiments.runner import run_sweep
    from rdarts.experiments.sweepfile import sweep_from_dict

    protocol = (protocol_name if isinstance(protocol_name, Protocol)
                else get_protocol(protocol_name))
    chosen = protocol.seeds if seeds is None else tuple(range(seeds))
    if not chosen:
        raise ConfigError("--seeds must be >= 1")
    if max_jobs is not None and max_jobs < 0:
        raise ConfigError("--max-jobs must be >= 0")
    options: dict[str, Any] = {}
    if executor == "ray":
        options = {"address": address, "max_parallel": max_parallel}
    elif address is not None or max_parallel is not None:
        raise ConfigError("--address and --max-parallel are options of --executor ray")
    data = build_sweep_data(protocol, data_dir, device, chosen)
    sweep = sweep_from_dict(data, source=f"s5 {protocol.name} build")
    jobs = expand(sweep)
    out = Path("sweeps") / sweep.name if out is None else Path(out)
    ledger = BuildProgress.open(out / "progress.json" if progress is None else progress,
                                protocol.name, protocol_settings(jobs[0].settings))
    record_finished(ledger, jobs, out)
    ledger.save()
    remaining = [job for job in jobs
                 if (job.point["variant"], job.settings["seed"]) not in ledger.runs]
    batch = remaining if max_jobs is None else remaining[:max_jobs]
    summary = None
    if batch:
        # One clear error now rather than a failed job per training: the data must be there.
        load_dataset(data["base"].get("dataset", "cifar10"), data["base"].get("data_dir"))
        summary = run_sweep(sweep, out, executor, retries, ",".join(j.name for j in batch),
                            quiet, executor_options=options, log=log)
        record_finished(ledger, jobs, out)
        ledger.save()
    done = sum((job.point["variant"], job.settings["seed"]) in ledger.runs for job in jobs)
    result: dict[str, Any] = {"sweep": summary, "table": None, "done": done,
                              "total": len(jobs), "progress": str(ledger.path)}
    if done == len(jobs):
        table = table_from_runs(ledger, protocol, chosen)
        S5Table(table, source="the built table")  # validate before writing
        path = out / f"s5-{protocol.name}.json" if table_out is None else Path(table_out)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, table)
        result["table"] = str(path)
    return result
