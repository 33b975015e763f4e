"""No file in a run directory can run code: every checkpoint loader refuses pickled objects.

A checkpoint whose pickle runs a shell command on load is planted where each loading command
reads it; every command must answer with one line and exit 2, and the command must never run.
"""

from __future__ import annotations

import os

import pytest
import torch

from rdarts.cli.app import main
from rdarts.errors import RunDirError
from rdarts.runs.rundir import RunDir
from rdarts.search.config import resolve
from rdarts.search.task import run_search

TINY = ["--space", "s3", "--nodes", "2", "--layers", "3", "--channels", "4",
        "--batch-size", "16", "--max-train-images", "64", "--val-batches", "1",
        "--device", "cpu", "--epochs", "1", "--save-every", "1", "--quiet"]


class Payload:
    """Unpickling this runs `touch MARKER` in a shell."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _plant(path, marker) -> None:
    torch.save({"epoch": 0, "supernet": Payload(str(marker))}, path)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = tmp_path_factory.mktemp("sec") / "run"
    assert main(["search", *TINY, "--out", str(run)]) == 0
    return run


@pytest.mark.parametrize("command", [
    ["search", *TINY, "--resume"],
    ["hessian"],
    ["hessian", "--epoch", "0"],
    ["discretize"],
])
def test_malicious_checkpoint_never_runs(run_dir, tmp_path, capsys, command):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    marker = tmp_path / "pwned"
    _plant(run / "checkpoint.pt", marker)
    _plant(run / "checkpoints" / "epoch-0000.pt", marker)
    args = ([*command, "--out", str(run)] if command[0] == "search"
            else [command[0], str(run), *command[1:]])
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a valid rdarts checkpoint" in err[0]
    assert not marker.exists()


def test_darts_ada_rollback_refuses_a_planted_checkpoint(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setattr(RunDir, "save_epoch_checkpoint",
                        lambda self, epoch, state: (self.file("checkpoints").mkdir(
                            exist_ok=True), _plant(self.epoch_checkpoint(epoch), marker)))
    config = resolve(overrides={"space": "s3", "nodes": 2, "layers": 3, "channels": 4,
                                "batch_size": 16, "max_train_images": 64, "epochs": 3,
                                "val_batches": 1, "device": "cpu", "method": "darts-ada",
                                "es_window": 1, "es_lag": 1, "es_threshold": 100.0})
    with pytest.raises(RunDirError, match="not a valid rdarts checkpoint"):
        run_search(config, tmp_path / "ada", quiet=True)
    assert not marker.exists()


def test_checkpoints_hold_only_tensors_and_plain_data(run_dir):
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 1
    torch.load(run_dir / "checkpoints" / "epoch-0000.pt", weights_only=True)


@pytest.mark.parametrize("command", [["hessian"], ["discretize"]])
def test_a_checkpoint_of_another_space_is_one_line_offline(run_dir, tmp_path, capsys, command):
    import shutil

    other = tmp_path / "other"
    args = [a if a != "s3" else "s2" for a in TINY]
    assert main(["search", *args, "--out", str(other)]) == 0
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    shutil.copy(other / "checkpoint.pt", run / "checkpoint.pt")
    assert main([command[0], str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not fit this run" in err[0]
