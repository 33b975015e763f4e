"""The selection protocol and R-DARTS, in-process and on a local Ray."""

from __future__ import annotations

import json

import pytest
import torch

from rdarts.cli.app import main
from rdarts.errors import RunDirError
from rdarts.experiments.executors import LocalExecutor
from rdarts.runs.rundir import RunDir
from rdarts.search.config import resolve, resolve_train
from rdarts.search.selection import (
    RDARTS_VALUES,
    Candidate,
    rdarts_candidates,
    run_selection,
    seed_candidates,
)

TINY = {"space": "s3", "nodes": 1, "layers": 3, "channels": 4, "batch_size": 16,
        "max_train_images": 48, "epochs": 1, "val_batches": 1, "hessian_every": 0,
        "device": "cpu"}
RETRAIN = {"dataset": "fashion-mnist", "epochs": 1, "channels": 4, "layers": 3,
           "batch_size": 16, "max_train_images": 80, "device": "cpu"}


def test_candidates_vary_exactly_one_thing():
    base = resolve(overrides=TINY)
    l2 = rdarts_candidates(base, "l2")
    assert [c.search.weight_decay for c in l2] == list(RDARTS_VALUES["l2"])
    assert {c.search.drop_path for c in l2} == {0.0}
    dp = rdarts_candidates(base, "dp", (0.1, 0.3))
    assert [c.setting for c in dp] == [{"drop_path": 0.1}, {"drop_path": 0.3}]
    seeds = seed_candidates(base, 3)
    assert [c.search.seed for c in seeds] == [0, 1, 2]


def test_selection_picks_the_best_validation_score(tmp_path, monkeypatch):
    """With fixed scores, the choice must be the argmax, whatever order they come in."""
    import rdarts.search.selection as selection

    scores = {"a": 0.4, "b": 0.9, "c": 0.7}
    monkeypatch.setattr(selection, "search_job", lambda config, out, quiet: {
        "genotype": _some_genotype(), "status": "completed"})
    monkeypatch.setattr(selection, "retrain_job",
                        lambda genotype, config, out, quiet, domain=None:
                        scores[out.rsplit("/", 1)[1]])
    base = resolve(overrides=TINY)
    candidates = [Candidate(name, base, {"seed": i}) for i, name in enumerate(scores)]
    result = run_selection(candidates, resolve_train("quick", overrides=RETRAIN), tmp_path / "s",
                           executor=LocalExecutor(log=lambda _: None))
    assert result["chosen"] == "b" and result["val_accuracy"] == 0.9
    assert [c["val_accuracy"] for c in result["candidates"]] == [0.4, 0.9, 0.7]


def _some_genotype():
    return {"normal": [["skip_connect", 0], ["sep_conv_3x3", 1]],
            "reduce": [["sep_conv_3x3", 0], ["skip_connect", 1]]}


def test_tiny_rdarts_end_to_end_and_rerun_skips_finished_jobs(tmp_path, capsys):
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
    args = ["rdarts", "--regularizer", "l2", "--values", "3e-4", "27e-4", *flags,
            "--retrain-epochs", "1", "--quiet", "--out", str(tmp_path / "sel")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "chosen: l2-" in out
    result = json.loads((tmp_path / "sel" / "result.json").read_text())
    assert result["protocol"] == "r-darts(l2)" and len(result["candidates"]) == 2
    for candidate in result["candidates"]:
        retrain = json.loads((tmp_path / "sel" / "retrain" / candidate["name"] /
                              "result.json").read_text())
        assert retrain["eval"] == "holdout" and "test_accuracy" not in retrain
        assert retrain["val_accuracy"] == candidate["val_accuracy"]
    best = max(result["candidates"], key=lambda c: c["val_accuracy"])
    assert result["chosen"] == best["name"]

    stamp = (tmp_path / "sel" / "searches" / "l2-0.0003" / "checkpoint.pt").stat().st_mtime_ns
    assert main(args) == 0  # a rerun reads finished jobs back
    assert (tmp_path / "sel" / "searches" / "l2-0.0003" /
            "checkpoint.pt").stat().st_mtime_ns == stamp
    assert json.loads((tmp_path / "sel" / "result.json").read_text())["chosen"] == result["chosen"]


def test_rerun_resumes_an_unfinished_search(tmp_path, monkeypatch):
    base = resolve(overrides={**TINY, "epochs": 2})
    candidates = seed_candidates(base, 1)
    retrain = resolve_train("quick", overrides=RETRAIN)
    real_save = RunDir.save_checkpoint

    def killed_after_first_epoch(self, state):
        if state["epoch"] == 2:
            raise KeyboardInterrupt  # stands in for a kill during the search job
        real_save(self, state)

    monkeypatch.setattr(RunDir, "save_checkpoint", killed_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        run_selection(candidates, retrain, tmp_path / "sel",
                      executor=LocalExecutor(log=lambda _: None))
    monkeypatch.setattr(RunDir, "save_checkpoint", real_save)
    search_dir = RunDir(tmp_path / "sel" / "searches" / "seed-0")
    assert torch.load(search_dir.checkpoint, weights_only=True)["epoch"] == 1
    result = run_selection(candidates, retrain, tmp_path / "sel",
                           executor=LocalExecutor(log=lambda _: None))
    assert [r["epoch"] for r in search_dir.read_metrics()] == [0, 1]
    assert result["status"] == "completed"


def test_a_different_protocol_in_the_same_directory_is_refused(tmp_path):
    base = resolve(overrides=TINY)
    retrain = resolve_train("quick", overrides=RETRAIN)
    run_selection(seed_candidates(base, 1), retrain, tmp_path / "sel",
                  executor=LocalExecutor(log=lambda _: None))
    with pytest.raises(RunDirError, match="different selection"):
        run_selection(seed_candidates(base, 2), retrain, tmp_path / "sel",
                      executor=LocalExecutor(log=lambda _: None))


@pytest.mark.slow
def test_tiny_rdarts_on_a_local_ray(tmp_path):
    ray = pytest.importorskip("ray")
    from rdarts.experiments.executors import RayExecutor

    base = resolve(overrides=TINY)
    retrain = resolve_train("quick", overrides=RETRAIN)
    with RayExecutor(num_cpus=2, log=lambda _: None) as executor:
        result = run_selection(rdarts_candidates(base, "dp", (0.0, 0.2)), retrain,
                               tmp_path / "sel", executor=executor)
    assert not ray.is_initialized()
    assert result["status"] == "completed" and len(result["candidates"]) == 2
    for candidate in result["candidates"]:
        assert (tmp_path / "sel" / "searches" / candidate["name"] / "result.json").exists()
