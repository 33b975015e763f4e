"""Run directories: the interface between stages (design.md).

One directory per run holds config.yaml, metrics.jsonl, checkpoint.pt, genotype.json,
result.json and manifest.json. Every file is replaced atomically (write to a temporary file in
the same directory, fsync, rename), so a run killed at any moment leaves either the old or the
new version of each file, never a torn one. metrics.jsonl is appended line by line; every
checkpoint keeps a copy of the lines it covers, so a resume makes the file hold exactly those
lines again (later ones are redone, lost or torn ones come back from the copy).

Nothing already written is lost to a resume: a directory whose epochs were recorded but whose
checkpoint is gone is refused rather than restarted, and a checkpoint is only loaded when its
own stored configuration (not only the hand-editable config.yaml) is this run's.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Any

import torch
import yaml

from rdarts.errors import RunDirError
from rdarts.runs.atomic import (
    atomic_torch_save,
    atomic_write_json,
    atomic_write_text,
    check_out,
)
from rdarts.runs.records import MetricsLine

RUN_FILES = ("config.yaml", "metrics.jsonl", "checkpoint.pt", "genotype.json", "result.json",
             "manifest.json", "metrics-superseded.jsonl", "rollbacks.json",  # these two: ADA
             "genotype_es.json")
METRICS_COPY = "metrics_lines"  # the checkpoint's copy of the metrics lines it covers
_MISSING = object()  # read_json's marker for "no such file"


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

    def check(self, config: dict[str, Any] | None, *, resume: bool, overwrite: bool) -> None:
        """Refuse (RunDirError) what `prepare` would refuse, writing nothing: contradicting
        flags, an --out that cannot be a directory of ours, a directory that holds another run
        (or anything that is not a run), a resume with nothing to resume or whose recorded
        epochs it could not continue. With `config` None the same-run rule is left to
        `prepare`, so callers can check before they know the run's full configuration."""
        if resume and overwrite:
            raise RunDirError("--resume and --overwrite contradict each other; choose one")
        check_out(self.path)
        if self.holds_run():
            existing = self.read_config()
            if overwrite:
                return
            if resume:
                if config is not None:
                    _check_same_run(existing, config, self.path)
                if not self.checkpoint.exists():
                    self._check_nothing_recorded()
                return
            hint = ""
            if config is not None:
                same = differences(existing, config) == []
                hint = " (use --resume to continue it)" if same else " (it holds a different run)"
            raise RunDirError(
                f"{self.path} already holds a run{hint}; pass --resume or --overwrite, "
                "or choose another --out"
            )
        if self.path.exists() and any(self.path.iterdir()):
            raise RunDirError(
                f"{self.path} is not empty and holds no rdarts run (no config.yaml); "
                "refusing to write into it"
            )
        if resume:
            raise RunDirError(f"nothing to resume in {self.path}; drop --resume to start a new "
                              "run")

    def prepare(self, config: dict[str, Any], *, resume: bool, overwrite: bool) -> bool:
        """Make the directory ready; return True when a checkpoint should be resumed.

        Refuses (RunDirError, see `check`) to touch a directory that holds another run, or
        anything that is not a run, unless told to; never deletes files it did not write. A
        resume needs a run to continue, and never restarts one whose recorded epochs it cannot
        continue.
        """
        self.check(config, resume=resume, overwrite=overwrite)
        if self.holds_run():
            if overwrite:
                self._clear()
            elif resume:
                return self.checkpoint.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.file("config.yaml"), yaml.safe_dump(config, sort_keys=False))
        return False

    def _check_nothing_recorded(self) -> None:
        """A resume without checkpoint.pt starts at epoch 0. That is only right for a run
        killed before its first checkpoint (no line, or epoch 0's line written just before the
        kill, which is redone); lines of later epochs or a completed result.json mean the
        checkpoint is gone, and restarting would throw the recorded run away."""
        epochs = {r.get("epoch") for r in self.read_metrics()}
        finished = self.finished_result() is not None
        if epochs <= {0} and not finished:
            return
        what = "a completed run" if finished else "a run"
        raise RunDirError(
            f"cannot resume {self.path}: it holds {what} with {len(epochs)} recorded epoch(s) "
            "but no checkpoint.pt to continue from, and resuming would restart it from epoch "
            "0; pass --overwrite to run it again from scratch, or choose another --out")

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
        """Every record of metrics.jsonl, [] before the first epoch (see `read_lines`)."""
        return self.read_lines("metrics.jsonl")

    def read_lines(self, name: str) -> list[MetricsLine]:
        """Every record of the JSON-lines file `name` (metrics.jsonl,
        metrics-superseded.jsonl), [] if there is none yet.

        A torn last line (a run killed mid-append, or a file read while being appended to) is
        skipped. Appends are whole, fsynced lines and a resume rewrites the file first, so any
        other line that is not a JSON object means damage: RunDirError naming the line.
        """
        path = self.file(name)
        if not path.exists():
            return []
        try:
            lines = [line for line in path.read_text().splitlines() if line.strip()]
        except OSError as error:
            raise RunDirError(f"{path} is unreadable: {error}") from None
        records = []
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                if number == len(lines):
                    break
                raise RunDirError(f"{path} line {number} is not JSON: {error}") from None
            if not isinstance(record, dict):
                raise RunDirError(f"{path} line {number}: expected a JSON object, got {record!r}")
            records.append(record)
        return records

    def write_lines(self, name: str, records: list[MetricsLine]) -> None:
        """Replace the JSON-lines file `name` with `records`, one line each."""
        atomic_write_text(self.file(name), "".join(json.dumps(r) + "\n" for r in records))

    def trim_metrics(self, next_epoch: int) -> None:
        """Keep the lines of epochs the checkpoint already holds; later ones will be redone."""
        self.write_lines("metrics.jsonl",
                         [r for r in self.read_metrics() if r.get("epoch", -1) < next_epoch])

    def restore_metrics(self, next_epoch: int, saved: list[MetricsLine] | None) -> list[int]:
        """Make metrics.jsonl hold exactly one line per epoch before `next_epoch` (what the
        checkpoint covers): later lines are dropped (those epochs are redone), lines the file
        lacks (lost, or a torn last line) come back from the checkpoint's copy `saved`.

        Returns the epochs restored. RunDirError when a line is missing from both (a checkpoint
        written before checkpoints kept a copy): resuming would lose it for good.
        """
        kept = {r.get("epoch"): r for r in self.read_metrics() if r.get("epoch", -1) < next_epoch}
        restored = [r for r in saved or [] if r.get("epoch") not in kept]
        kept.update({r["epoch"]: r for r in restored})
        missing = [epoch for epoch in range(next_epoch) if epoch not in kept]
        if missing:
            raise RunDirError(
                f"cannot resume {self.path}: metrics.jsonl lacks the line(s) of epoch(s) "
                f"{', '.join(map(str, missing))} that checkpoint.pt covers, and the checkpoint "
                "holds no copy of them; restore metrics.jsonl, or pass --overwrite to run it "
                "again from scratch")
        self.write_lines("metrics.jsonl", [kept[epoch] for epoch in sorted(kept)])
        return [r["epoch"] for r in restored]

    def _with_metrics(self, state: dict[str, Any]) -> dict[str, Any]:
        """`state` with a copy of the metrics lines it covers (epochs before state["epoch"]),
        read back from the file: plain JSON data, so it loads with weights_only=True."""
        covered = [r for r in self.read_metrics() if r.get("epoch", -1) < state["epoch"]]
        return {**state, METRICS_COPY: covered}

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Replace checkpoint.pt with `state` and its copy of the metrics lines it covers (so
        the epoch's line must be appended first, as the driver does)."""
        atomic_torch_save(self.checkpoint, self._with_metrics(state))

    def epoch_checkpoint(self, epoch: int) -> Path:
        return self.file("checkpoints") / f"epoch-{epoch:04d}.pt"

    def save_epoch_checkpoint(self, epoch: int, state: dict[str, Any]) -> None:
        """Keep the state at the end of `epoch` (for offline Hessians, discretisation and
        DARTS-ADA's rollback), with its copy of the metrics lines like checkpoint.pt."""
        atomic_torch_save(self.epoch_checkpoint(epoch), self._with_metrics(state))

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

    def resume_state(self, config: dict[str, Any],
                     map_location: torch.device | str = "cpu") -> dict[str, Any]:
        """checkpoint.pt, once its own stored configuration is found to be `config`'s.

        config.yaml is a text file anyone may edit; the checkpoint's "config" entry is what
        the state was computed with. A checkpoint without one (an older training) is checked
        against config.yaml only, as before.
        """
        state = self.load_checkpoint(map_location=map_location)
        stored = state.get("config")
        if stored is None:
            return state
        if not isinstance(stored, dict):
            raise RunDirError(f"checkpoint {self.checkpoint} holds no readable configuration")
        differing = differences(stored, config)
        if differing:
            raise RunDirError(
                f"cannot resume {self.path}: checkpoint.pt was computed with another "
                f"configuration ({_detail(stored, config, differing)}); config.yaml was edited "
                "or the checkpoint comes from another run: pass --overwrite to start again, "
                "or choose another --out")
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
                                   "domain_settings": {}, "gradient_check_every": 0,
                                   "channels_last": False, "mixed_sum": "loop",
                                   "lean_unroll": False, "amp": False}


def with_added_settings(config: dict[str, Any]) -> dict[str, Any]:
    """`config` with the settings added since it was recorded, at the value it then had."""
    return {**ADDED_SETTINGS, **config}


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The settings in which two runs' configurations differ (THE same-run rule: sweeps and
    resumes both ask it); settings that change only how a run executes may differ."""
    keys = sorted(set(old) | set(new))
    return [k for k in keys if k not in RESUMABLE_CHANGES
            and old.get(k, ADDED_SETTINGS.get(k)) != new.get(k, ADDED_SETTINGS.get(k))]


def _detail(old: dict[str, Any], new: dict[str, Any], differing: list[str]) -> str:
    return ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in differing[:4])


def _check_same_run(old: dict[str, Any], new: dict[str, Any], path: Path) -> None:
    differing = differences(old, new)
    if differing:
        raise RunDirError(f"cannot resume {path}: the configuration differs "
                          f"({_detail(old, new, differing)})")
