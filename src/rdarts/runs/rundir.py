"""Run directories: the interface between stages (design.md).

One directory per run holds config.yaml, metrics.jsonl, checkpoint.pt, genotype.json,
result.json and manifest.json. Every file is replaced atomically (write to a temporary file in
the same directory, fsync, rename), so a run killed at any moment leaves either the old or the
new version of each file, never a torn one. metrics.jsonl is appended line by line and trimmed
back to the checkpoint on resume.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from rdarts.errors import RunDirError
from rdarts.runs.records import MetricsLine

RUN_FILES = ("config.yaml", "metrics.jsonl", "checkpoint.pt", "genotype.json", "result.json",
             "manifest.json")
_MISSING = object()  # read_json's marker for "no such file"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that readers and crashes see the old or the new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def atomic_torch_save(path: Path, obj: Any) -> None:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def git_revision() -> str | None:
    """The source checkout's commit (with '+dirty' when modified), if rdarts runs from one."""
    source = Path(__file__).resolve().parent
    try:
        revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True,
                                  text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=source, capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return revision + ("+dirty" if dirty.strip() else "")


def manifest(seed: int, device: torch.device) -> dict[str, Any]:
    """Versions, seed, device and git revision: what a reader needs to trust a figure."""
    import numpy
    import torchvision

    import rdarts

    return {
        "rdarts": rdarts.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "device": str(device),
        "device_name": (torch.cuda.get_device_name(device) if device.type == "cuda"
                        else platform.processor() or platform.machine()),
        "threads": torch.get_num_threads(),
        "seed": seed,
        "git_revision": git_revision(),
        "command": sys.argv,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


class RunDir:
    """A run directory and the rules for reusing one (fresh, --resume, --overwrite)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def checkpoint(self) -> Path:
        return self.file("checkpoint.pt")

    @property
    def metrics(self) -> Path:
        return self.file("metrics.jsonl")

    def holds_run(self) -> bool:
        return self.file("config.yaml").exists()

    def prepare(self, config: dict[str, Any], *, resume: bool, overwrite: bool) -> bool:
        """Make the directory ready; return True when a checkpoint should be resumed.

        Refuses (RunDirError) to touch a directory that holds another run, or anything that is
        not a run, unless told to; never deletes files it did not write.
        """
        if resume and overwrite:
            raise RunDirError("--resume and --overwrite contradict each other; choose one")
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"--out {self.path} exists and is not a directory")
        if self.holds_run():
            existing = self.read_config()
            if overwrite:
                self._clear()
            elif resume:
                _check_same_run(existing, config, self.path)
                return self.checkpoint.exists()
            else:
                same = differences(existing, config) == []
                hint = ("use --resume to continue it" if same else "it holds a different run")
                raise RunDirError(
                    f"{self.path} already holds a run ({hint}); pass --resume or --overwrite, "
                    "or choose another --out"
                )
        elif self.path.exists() and any(self.path.iterdir()):
            raise RunDirError(
                f"{self.path} is not empty and holds no rdarts run (no config.yaml); "
                "refusing to write into it"
            )
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.file("config.yaml"), yaml.safe_dump(config, sort_keys=False))
        return False

    def _clear(self) -> None:
        for name in RUN_FILES:
            self.file(name).unlink(missing_ok=True)
        for extra in self.path.glob(".*.tmp"):
            extra.unlink(missing_ok=True)
        for sub in ("checkpoints", "hessian"):
            shutil.rmtree(self.file(sub), ignore_errors=True)

    def read_config(self) -> dict[str, Any]:
        try:
            data = yaml.safe_load(self.file("config.yaml").read_text())
        except (OSError, yaml.YAMLError) as error:
            raise RunDirError(f"{self.file('config.yaml')} is unreadable: {error}") from None
        if not isinstance(data, dict):
            raise RunDirError(f"{self.file('config.yaml')} does not hold a configuration "
                              "(expected a mapping)")
        return data

    def append_metrics(self, record: MetricsLine) -> None:
        """Append one JSON line and fsync it: the line is on disk before the checkpoint is."""
        with open(self.metrics, "a") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def read_metrics(self) -> list[MetricsLine]:
        """Every record of metrics.jsonl, [] before the first epoch.

        A torn last line (a run killed mid-append, or a file read while being appended to) is
        skipped. Appends are whole, fsynced lines and a resume trims the file first, so any
        other line that is not a JSON object means damage: RunDirError naming the line.
        """
        if not self.metrics.exists():
            return []
        try:
            lines = [line for line in self.metrics.read_text().splitlines() if line.strip()]
        except OSError as error:
            raise RunDirError(f"{self.metrics} is unreadable: {error}") from None
        records = []
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                if number == len(lines):
                    break
                raise RunDirError(f"{self.metrics} line {number} is not JSON: {error}") from None
            if not isinstance(record, dict):
                raise RunDirError(
                    f"{self.metrics} line {number}: expected a JSON object, got {record!r}")
            records.append(record)
        return records

    def trim_metrics(self, next_epoch: int) -> None:
        """Keep the lines of epochs the checkpoint already holds; later ones will be redone."""
        kept = [r for r in self.read_metrics() if r.get("epoch", -1) < next_epoch]
        atomic_write_text(self.metrics, "".join(json.dumps(r) + "\n" for r in kept))

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        atomic_torch_save(self.checkpoint, state)

    def epoch_checkpoint(self, epoch: int) -> Path:
        return self.file("checkpoints") / f"epoch-{epoch:04d}.pt"

    def save_epoch_checkpoint(self, epoch: int, state: dict[str, Any]) -> None:
        """Keep the state at the end of `epoch` (for offline Hessians and discretisation)."""
        atomic_torch_save(self.epoch_checkpoint(epoch), state)

    def saved_epochs(self) -> list[int]:
        paths = self.file("checkpoints").glob("epoch-*.pt")
        return sorted(int(p.stem.split("-")[1]) for p in paths)

    def load_checkpoint(self, map_location: torch.device | str = "cpu",
                        epoch: int | None = None) -> dict[str, Any]:
        path = self.checkpoint if epoch is None else self.epoch_checkpoint(epoch)
        try:
            state = torch.load(path, map_location=map_location, weights_only=True)
        except FileNotFoundError:
            if epoch is not None:
                saved = ", ".join(map(str, self.saved_epochs())) or "none (see --save-every)"
                raise RunDirError(f"no checkpoint of epoch {epoch} in {self.path}; "
                                  f"saved epochs: {saved}") from None
            raise RunDirError(f"{path} does not exist") from None
        except pickle.UnpicklingError as error:
            if "GLOBAL" not in str(error):  # torch names the blocked global it found
                raise RunDirError(f"checkpoint {path} is unreadable (damaged: {error}); "
                                  "restore it or start again with --overwrite") from None
            raise RunDirError(
                f"{path} is not a valid rdarts checkpoint: it holds objects other than tensors "
                "and plain data, so it was not loaded (no code from it ran)") from None
        except Exception as error:  # torch raises many types for a damaged file
            raise RunDirError(
                f"checkpoint {path} is unreadable ({type(error).__name__}: "
                f"{str(error).splitlines()[0] if str(error) else 'corrupted'}); "
                "restore it or start again with --overwrite"
            ) from None
        if not isinstance(state, dict) or "epoch" not in state:
            raise RunDirError(f"checkpoint {path} does not hold an rdarts search state")
        return state

    def write_json(self, name: str, data: Any) -> None:
        atomic_write_json(self.file(name), data)

    def read_json(self, name: str) -> Any:
        """The JSON file `name` (relative to the run); RunDirError if missing or unreadable."""
        data = self.read_json_or(name, _MISSING)
        if data is _MISSING:
            raise RunDirError(f"{self.file(name)} does not exist")
        return data

    def finished_result(self) -> dict[str, Any] | None:
        """THE rule for "is this run finished": its result.json says completed (a diverged,
        unfinished or partial run gives None)."""
        result = self.read_json_or("result.json")
        return result if isinstance(result, dict) and result.get("status") == "completed" \
            else None

    def read_json_or(self, name: str, default: Any = None) -> Any:
        """Like `read_json`, but `default` for a file the run has not written (yet): readers of
        unfinished runs (the report) take a missing result.json as "no result"."""
        try:
            return json.loads(self.file(name).read_text())
        except FileNotFoundError:
            return default
        except (OSError, json.JSONDecodeError) as error:
            raise RunDirError(f"{self.file(name)} is unreadable: {error}") from None


# Options that change how a run is executed or shown, not what it computes.
# Settings that do not change what a run computes, so a resumed run may differ in them.
RESUMABLE_CHANGES = frozenset({"device", "data_dir", "download", "save_every", "regret_table"})


# Settings added after runs were first recorded, with the value every older run had: a
# config.yaml without them is the same run as one with these values.
ADDED_SETTINGS: dict[str, Any] = {"domain": "image", "virtual_step_clip": False,
                                   "domain_settings": {}}


def with_added_settings(config: dict[str, Any]) -> dict[str, Any]:
    """`config` with the settings added since it was recorded, at the value it then had."""
    return {**ADDED_SETTINGS, **config}


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The settings in which two runs' configurations differ (THE same-run rule: sweeps and
    resumes both ask it); settings that change only how a run executes may differ."""
    keys = sorted(set(old) | set(new))
    return [k for k in keys if k not in RESUMABLE_CHANGES
            and old.get(k, ADDED_SETTINGS.get(k)) != new.get(k, ADDED_SETTINGS.get(k))]





def _check_same_run(old: dict[str, Any], new: dict[str, Any], path: Path) -> None:
    differing = differences(old, new)
    if differing:
        details = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in differing[:4])
        raise RunDirError(f"cannot resume {path}: the configuration differs ({details})")
