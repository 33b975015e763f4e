"""The search loop, its run directory and exact resume (also after SIGKILL)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from rdarts.cli.app import main
from rdarts.errors import DivergenceError, RunDirError
from rdarts.runs.rundir import RunDir
from rdarts.search.config import resolve
from rdarts.search.loop import Search, build_search
from rdarts.search.task import run_search

TINY = {"space": "s3", "nodes": 2, "layers": 3, "channels": 4, "batch_size": 16,
        "max_train_images": 64, "epochs": 3, "val_batches": 1, "device": "cpu"}
TINY_FLAGS = ["--space", "s3", "--nodes", "2", "--layers", "3", "--channels", "4",
              "--batch-size", "16", "--max-train-images", "64", "--val-batches", "1",
              "--device", "cpu"]


def _config(**changes):
    return resolve(overrides={**TINY, **changes})


def test_one_search_writes_every_run_file(tmp_path):
    outcome = run_search(_config(), tmp_path / "run", quiet=True)
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"config.yaml", "metrics.jsonl", "checkpoint.pt", "genotype.json", "result.json",
            "manifest.json"} <= names
    records = RunDir(tmp_path / "run").read_metrics()
    assert [r["epoch"] for r in records] == [0, 1, 2]
    first = records[0]
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds",
                "alpha_softmax", "genotype"):
        assert key in first
    assert len(first["alpha_softmax"]["normal"]) == 5  # E = 5 for 2 nodes
    assert abs(sum(first["alpha_softmax"]["reduce"][0]) - 1) < 1e-4
    assert records[0]["lr"] > records[2]["lr"]
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["status"] == "completed" and result["genotype"] == outcome.genotype.to_dict()
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["torch"] == torch.__version__


@pytest.mark.parametrize("order,second_order", [(1, "finite-difference"),
                                                (2, "finite-difference"), (2, "exact")])
def test_every_order_moves_alpha_and_lowers_nothing_to_nan(order, second_order):
    search = build_search(_config(order=order, second_order=second_order, epochs=1))
    before = [a.detach().clone() for a in search.architecture.parameters_list()]
    metrics = search.train_epoch()
    after = search.architecture.parameters_list()
    assert all(not torch.equal(b, a) for b, a in zip(before, after, strict=True))
    assert metrics["train_loss"] > 0


def test_state_dict_round_trip_continues_identically():
    config = _config(epochs=2)
    reference = build_search(config)
    reference.train_epoch()
    reference.epoch += 1
    state = copy.deepcopy(reference.state_dict())  # live tensors otherwise
    reference.train_epoch()

    resumed = build_search(config)
    resumed.load_state_dict(state)
    resumed.train_epoch()
    for a, b in zip(reference.architecture.parameters_list(),
                    resumed.architecture.parameters_list(), strict=True):
        assert torch.equal(a, b)
    for (name, a), b in zip(reference.supernet.state_dict().items(),
                            resumed.supernet.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_kill_between_metrics_line_and_checkpoint_resumes_exactly(tmp_path, monkeypatch):
    """The narrowest window: epoch 1's metrics line is written, its checkpoint is not."""
    reference = run_search(_config(), tmp_path / "reference", quiet=True)

    real_save = RunDir.save_checkpoint

    def save_then_die(self, state):
        if state["epoch"] == 2:
            raise KeyboardInterrupt  # stands in for the kill
        real_save(self, state)

    monkeypatch.setattr(RunDir, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_search(_config(), tmp_path / "killed", quiet=True)
    assert len(RunDir(tmp_path / "killed").read_metrics()) == 2  # epochs 0 and 1 logged
    monkeypatch.setattr(RunDir, "save_checkpoint", real_save)
    resumed = run_search(_config(), tmp_path / "killed", resume=True, quiet=True)
    assert resumed.genotype == reference.genotype
    _assert_same_alpha(tmp_path / "reference", tmp_path / "killed")
    assert [r["epoch"] for r in RunDir(tmp_path / "killed").read_metrics()] == [0, 1, 2]


def _final_alpha(run: Path) -> list[torch.Tensor]:
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    return [state["architecture"][k] for k in sorted(state["architecture"])]


def _assert_same_alpha(a: Path, b: Path) -> None:
    for x, y in zip(_final_alpha(a), _final_alpha(b), strict=True):
        assert torch.equal(x, y)


def _cli(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "rdarts", "search", *TINY_FLAGS, "--epochs", "4",
            "--quiet", "--out", str(out), *extra]


SINGLE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """The 4-epoch reference run both kill points are compared with (once per test worker
    that runs them: pytest-xdist 3.8's `--dist loadgroup` does not group tests under pytest
    9, so they may land on two workers)."""
    reference = tmp_path_factory.mktemp("sigkill") / "reference"
    subprocess.run(_cli(reference), check=True, env=SINGLE_THREAD, capture_output=True)
    return reference


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_lines", [1, 2])
def test_resume_after_sigkill_equals_uninterrupted_run(tmp_path, uninterrupted,
                                                       kill_after_lines):
    env = SINGLE_THREAD
    killed = tmp_path / "killed"
    process = subprocess.Popen(_cli(killed), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if len(RunDir(killed).read_metrics()) >= kill_after_lines:
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    done = subprocess.run(_cli(killed, "--resume"), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    _assert_same_alpha(uninterrupted, killed)
    reference = json.loads((uninterrupted / "genotype.json").read_text())
    assert json.loads((killed / "genotype.json").read_text()) == reference
    assert [r["epoch"] for r in RunDir(killed).read_metrics()] == [0, 1, 2, 3]


def test_refuses_to_reuse_a_run_directory(tmp_path):
    run_search(_config(epochs=1), tmp_path / "run", quiet=True)
    before = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    with pytest.raises(RunDirError, match="--resume"):
        run_search(_config(epochs=1), tmp_path / "run", quiet=True)
    with pytest.raises(RunDirError, match="different run"):
        run_search(_config(epochs=1, seed=3), tmp_path / "run", quiet=True)
    with pytest.raises(RunDirError, match="configuration differs"):
        run_search(_config(epochs=1, seed=3), tmp_path / "run", resume=True, quiet=True)
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == before
    run_search(_config(epochs=1, seed=3), tmp_path / "run", overwrite=True, quiet=True)
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() != before


def test_refuses_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="not empty"):
        run_search(_config(epochs=1), tmp_path, quiet=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_resume_extends_a_finished_run_only_with_same_config(tmp_path):
    run_search(_config(epochs=1), tmp_path / "run", quiet=True)
    again = run_search(_config(epochs=1), tmp_path / "run", resume=True, quiet=True)
    assert len(RunDir(tmp_path / "run").read_metrics()) == 1
    assert again.result["status"] == "completed"


def test_corrupted_checkpoint_is_a_clear_error(tmp_path):
    run_search(_config(epochs=1), tmp_path / "run", quiet=True)
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"garbage")
    with pytest.raises(RunDirError, match="unreadable"):
        run_search(_config(epochs=1), tmp_path / "run", resume=True, quiet=True)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    real_epoch = Search.train_epoch

    def poisoned(self, step=None, progress=None, validation_batches=True):
        if self.epoch == 1:
            with torch.no_grad():
                for p in self.supernet.parameters():
                    p.fill_(float("nan"))
        return real_epoch(self, step, progress, validation_batches)

    monkeypatch.setattr(Search, "train_epoch", poisoned)
    with pytest.raises(DivergenceError, match="checkpoint of epoch 0"):
        run_search(_config(), run_dir, quiet=True)
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in state["supernet"].values() if t.is_floating_point())
    assert json.loads((run_dir / "result.json").read_text())["status"] == "diverged"
    assert len(RunDir(run_dir).read_metrics()) == 1


# ---- nothing already written is lost to a resume -------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """One finished 3-epoch search, copied by each test that damages it."""
    run = tmp_path_factory.mktemp("finished") / "run"
    run_search(_config(), run, quiet=True)
    return run


def _copy(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy


def _files(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run.iterdir()) if p.is_file()}


def test_resume_refuses_a_run_whose_checkpoint_is_gone_and_truncates_nothing(
        finished_run, tmp_path, capsys):
    run = _copy(finished_run, tmp_path)
    (run / "checkpoint.pt").unlink()  # like every committed run under results/
    before = _files(run)
    with pytest.raises(RunDirError, match=r"completed run with 3 recorded epoch\(s\) but no "
                                          r"checkpoint.pt.*pass --overwrite"):
        run_search(_config(), run, resume=True, quiet=True)
    assert _files(run) == before

    flags = [*TINY_FLAGS, "--epochs", "3", "--quiet", "--out", str(run), "--resume"]
    assert main(["search", *flags]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("rdarts: error: cannot resume")
    assert _files(run) == before

    (run / "result.json").unlink()  # an unfinished run with recorded epochs: refused too
    with pytest.raises(RunDirError, match=r"a run with 3 recorded epoch\(s\).*from epoch 0"):
        run_search(_config(), run, resume=True, quiet=True)
    assert [r["epoch"] for r in RunDir(run).read_metrics()] == [0, 1, 2]


def test_resume_with_nothing_to_resume_is_refused(tmp_path, monkeypatch):
    missing, empty = tmp_path / "missing", tmp_path / "empty"
    empty.mkdir()
    for out in (missing, empty):
        with pytest.raises(RunDirError, match=f"^nothing to resume in {out}; drop --resume to "
                                              "start a new run$"):
            run_search(_config(epochs=1), out, resume=True, quiet=True)
    assert not missing.exists() and list(empty.iterdir()) == []

    def killed_before_the_first_checkpoint(self, state):
        raise KeyboardInterrupt

    # A run killed before its first checkpoint (epoch 0's line may be written): a resume
    # starts it again, and epoch 0's line is redone, not kept twice.
    with monkeypatch.context() as patch:
        patch.setattr(RunDir, "save_checkpoint", killed_before_the_first_checkpoint)
        with pytest.raises(KeyboardInterrupt):
            run_search(_config(epochs=1), empty, quiet=True)
    assert [r["epoch"] for r in RunDir(empty).read_metrics()] == [0]
    assert not (empty / "checkpoint.pt").exists()
    resumed = run_search(_config(epochs=1), empty, resume=True, quiet=True)
    assert resumed.result["status"] == "completed"
    assert [r["epoch"] for r in RunDir(empty).read_metrics()] == [0]


def test_checkpoint_keeps_every_metrics_line_and_restores_a_torn_one(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    metrics = run / "metrics.jsonl"
    whole = metrics.read_bytes()
    lines = whole.splitlines(keepends=True)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["metrics_lines"] == [json.loads(line) for line in lines]
    metrics.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    assert len(RunDir(run).read_metrics()) == 2  # the torn line is skipped by readers
    result = json.loads((run / "result.json").read_text())

    resumed = run_search(_config(), run, resume=True, quiet=True)
    assert metrics.read_bytes() == whole
    assert resumed.result["search_seconds"] == result["search_seconds"]


def test_a_line_missing_from_both_file_and_checkpoint_is_refused(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    del state["metrics_lines"]  # a checkpoint written before checkpoints kept a copy
    torch.save(state, run / "checkpoint.pt")
    lines = (run / "metrics.jsonl").read_text().splitlines(keepends=True)
    (run / "metrics.jsonl").write_text("".join(lines[:2]))
    before = _files(run)
    with pytest.raises(RunDirError, match=r"lacks the line\(s\) of epoch\(s\) 2 that "
                                          "checkpoint.pt covers"):
        run_search(_config(), run, resume=True, quiet=True)
    assert _files(run) == before


def test_resume_checks_the_checkpoint_config_not_only_config_yaml(finished_run, tmp_path):
    run = _copy(finished_run, tmp_path)
    edited = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**edited, "epochs": 5}, sort_keys=False))
    before = _files(run)
    with pytest.raises(RunDirError, match=r"checkpoint.pt was computed with another "
                                          r"configuration \(epochs: 3 -> 5\)"):
        run_search(_config(epochs=5), run, resume=True, quiet=True)
    assert _files(run) == before


def test_a_checkpoint_of_another_run_is_one_line_not_a_traceback(finished_run, tmp_path,
                                                                 capsys):
    other = _config(space="s2", epochs=3)
    run = RunDir(tmp_path / "s2")
    run.prepare(other.to_dict(), resume=False, overwrite=False)
    shutil.copy(finished_run / "checkpoint.pt", run.checkpoint)  # an s3 checkpoint
    with pytest.raises(RunDirError, match=r"another configuration \(space: 's3' -> 's2'\)"):
        run_search(other, run.path, resume=True, quiet=True)
    flags = [*TINY_FLAGS, "--epochs", "3", "--quiet", "--out", str(run.path), "--resume"]
    flags[flags.index("s3")] = "s2"
    assert main(["search", *flags]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "space: 's3' -> 's2'" in error

    state = torch.load(run.checkpoint, weights_only=True)
    del state["config"]  # nothing to compare: the state itself does not fit
    torch.save(state, run.checkpoint)
    with pytest.raises(RunDirError, match=r"^checkpoint .* does not fit this run \(RuntimeError: "
                                          r"Error\(s\) in loading state_dict"):
        run_search(other, run.path, resume=True, quiet=True)
    assert run.read_metrics() == []
