"""DARTS-ES, DARTS-ADA and RS-ws as drivers over the search."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rdarts.core.genotype import check_fits, genotype_from_dict
from rdarts.domains.image.spaces import get_space
from rdarts.errors import ConfigError
from rdarts.runs import atomic
from rdarts.runs.rundir import RunDir
from rdarts.search.config import resolve
from rdarts.search.methods import DartsAda
from rdarts.search.task import build_task, run_search

TINY = {"space": "s3", "nodes": 2, "layers": 3, "channels": 4, "batch_size": 16,
        "max_train_images": 64, "epochs": 4, "val_batches": 1, "device": "cpu"}
# A rule that fires at its first decision: window 1, compare with the previous evaluation,
# and any positive ratio is "too much growth".
ALWAYS = {"es_window": 1, "es_lag": 1, "es_threshold": 100.0}


def _alpha(run):
    state = torch.load(run / "checkpoint.pt", weights_only=True)["architecture"]
    return [state[k] for k in sorted(state)]


def test_darts_es_stops_and_returns_the_earlier_architecture(tmp_path):
    outcome = run_search(resolve(overrides={**TINY, **ALWAYS, "method": "darts-es"}),
                         tmp_path / "es", quiet=True)
    records = RunDir(tmp_path / "es").read_metrics()
    assert [r["epoch"] for r in records] == [0, 1]  # decided at epoch 1, about epoch 0
    assert records[1]["early_stop"]["return_epoch"] == 0
    result = outcome.result
    assert result["early_stopping"]["triggered"] and result["stopped_at_epoch"] == 1
    assert result["genotype"] == records[0]["genotype"]
    assert outcome.genotype.to_dict() == records[0]["genotype"]
    saved = json.loads((tmp_path / "es" / "genotype.json").read_text())
    assert saved == records[0]["genotype"]
    assert _es_file(tmp_path / "es") == records[0]["genotype"]  # also under its own name


def _es_file(run):
    return json.loads((run / "genotype_es.json").read_text())


def test_darts_es_simulate_runs_on_and_reports_both(tmp_path):
    outcome = run_search(resolve(overrides={**TINY, **ALWAYS, "method": "darts-es",
                                            "es_simulate": True}), tmp_path / "sim", quiet=True)
    records = RunDir(tmp_path / "sim").read_metrics()
    assert len(records) == 4
    result = outcome.result
    assert result["genotype"] == records[-1]["genotype"]  # DARTS' answer
    assert result["early_stopping"]["genotype"] == records[0]["genotype"]  # DARTS-ES' answer
    assert result["early_stopping"]["simulated"]
    # Each answer in its own file: genotype.json stays the search's, genotype_es.json is ES'.
    assert json.loads((tmp_path / "sim" / "genotype.json").read_text()) == result["genotype"]
    assert _es_file(tmp_path / "sim") == records[0]["genotype"]


def test_flat_rule_never_stops(tmp_path):
    outcome = run_search(resolve(overrides={**TINY, "method": "darts-es"}), tmp_path / "flat",
                         quiet=True)
    assert not outcome.result["early_stopping"]["triggered"]
    assert len(RunDir(tmp_path / "flat").read_metrics()) == 4
    assert not (tmp_path / "flat" / "genotype_es.json").exists()  # the rule never fired


def test_es_needs_lambda_max_at_the_rule_period(tmp_path):
    with pytest.raises(ConfigError, match="--hessian-every 2"):
        run_search(resolve(overrides={**TINY, "method": "darts-es", "es_preset": "reference"}),
                   tmp_path / "x", quiet=True)


def _ada_config(**changes):
    return resolve(overrides={**TINY, **ALWAYS, "method": "darts-ada", "ada_max": 3e-3,
                              **changes})


def test_ada_rollback_equals_a_resume_from_that_epoch_with_the_new_regulariser(tmp_path):
    ada = run_search(_ada_config(), tmp_path / "ada", quiet=True)
    rollbacks = ada.result["rollbacks"]
    assert len(rollbacks) == 1  # 3e-4 -> 3e-3; 3e-2 would exceed R_max
    assert rollbacks[0]["to_epoch"] == 0 and rollbacks[0]["new"] == pytest.approx(3e-3)
    assert ada.result["ignored_triggers"]  # later triggers past R_max are ignored
    assert [r["epoch"] for r in RunDir(tmp_path / "ada").read_metrics()] == [0, 1, 2, 3]
    assert (tmp_path / "ada" / "metrics-superseded.jsonl").exists()
    assert not (tmp_path / "ada" / "genotype_es.json").exists()  # a trigger rolls back

    # Independent path: a plain search resumed from the epoch-0 checkpoint with L2 = 3e-3.
    task = build_task(_ada_config(method="darts"))
    state = torch.load(tmp_path / "ada" / "checkpoints" / "epoch-0000.pt", weights_only=True)
    task.load_state_dict(state)
    task.search.set_regularization(weight_decay=3e-3)
    while task.epoch < 4:
        task.run_epoch()
        task.epoch += 1
    expected = task.search.architecture.parameters_list()
    for a, b in zip(_alpha(tmp_path / "ada"), [expected[0], expected[1]], strict=True):
        assert torch.equal(a, b)


# The rollback's writes, in their order (DartsAda._rollback): the checkpoint is the commit.
ROLLBACK_WRITES = ["metrics-superseded.jsonl", "rollbacks.json", "checkpoint.pt",
                   "metrics.jsonl"]


def _watch_rollback_writes(patch: pytest.MonkeyPatch, kill_at: int | None = None) -> list[str]:
    """Record the files the rollback writes (every run file is written by
    atomic.atomic_write_bytes); with `kill_at`, a KeyboardInterrupt (the kill) replaces that
    write, so exactly `kill_at` writes of the rollback have happened."""
    written: list[str] = []
    inside = [False]
    real_write, real_rollback = atomic.atomic_write_bytes, DartsAda._rollback

    def write(path, data):
        if inside[0]:
            if len(written) == kill_at:
                raise KeyboardInterrupt
            written.append(Path(path).name)
        real_write(path, data)

    def rollback(self, *args):
        inside[0] = True
        try:
            real_rollback(self, *args)
        finally:
            inside[0] = False

    patch.setattr(atomic, "atomic_write_bytes", write)
    patch.setattr(DartsAda, "_rollback", rollback)
    return written


def _ada_files(run: Path) -> dict[str, object]:
    """What a kill must not change: the run's lines (timings aside), rollbacks and alpha."""
    def lines(name):
        return [{k: v for k, v in r.items() if not k.endswith("seconds")}
                for r in RunDir(run).read_lines(name)]

    return {"metrics": lines("metrics.jsonl"), "superseded": lines("metrics-superseded.jsonl"),
            "rollbacks": RunDir(run).read_json_or("rollbacks.json")}


def test_ada_loses_nothing_to_a_kill_at_any_write_of_the_rollback(tmp_path, monkeypatch):
    config = _ada_config(epochs=2)
    with monkeypatch.context() as patch:
        written = _watch_rollback_writes(patch)
        reference = run_search(config, tmp_path / "reference", quiet=True)
    assert written == ROLLBACK_WRITES and len(reference.result["rollbacks"]) == 1
    expected = _ada_files(tmp_path / "reference")
    assert [r["epoch"] for r in expected["superseded"]] == [1]
    for kill_at in range(len(ROLLBACK_WRITES)):
        killed = tmp_path / f"killed-{kill_at}"
        with monkeypatch.context() as patch:
            _watch_rollback_writes(patch, kill_at)
            with pytest.raises(KeyboardInterrupt):
                run_search(config, killed, quiet=True)
        resumed = run_search(config, killed, resume=True, quiet=True)
        assert _ada_files(killed) == expected, f"killed before {ROLLBACK_WRITES[kill_at]}"
        assert resumed.result["rollbacks"] == reference.result["rollbacks"]
        for a, b in zip(_alpha(tmp_path / "reference"), _alpha(killed), strict=True):
            assert torch.equal(a, b)


def test_overwrite_clears_the_rollback_files_so_no_stale_line_is_merged(tmp_path):
    run = RunDir(tmp_path / "run")
    run.prepare({"seed": 0}, resume=False, overwrite=False)
    run.write_lines("metrics-superseded.jsonl", [{"rollback": 1, "epoch": 1}])
    run.write_json("rollbacks.json", [{"rollback": 1}])
    run.prepare({"seed": 1}, resume=False, overwrite=True)
    assert run.read_lines("metrics-superseded.jsonl") == []
    assert run.read_json_or("rollbacks.json") is None


def test_ada_on_drop_path_needs_a_start_value(tmp_path):
    with pytest.raises(ConfigError, match="drop-path"):
        run_search(_ada_config(ada_regularizer="drop_path"), tmp_path / "x", quiet=True)


def test_rs_ws_returns_a_valid_architecture_from_its_scoring(tmp_path):
    outcome = run_search(resolve(overrides={**TINY, "epochs": 2, "method": "rs-ws",
                                            "rs_samples": 20, "rs_top": 3,
                                            "rs_score_batches": 1}), tmp_path / "rs", quiet=True)
    result = outcome.result
    genotype = genotype_from_dict(result["genotype"])
    check_fits(genotype, get_space("s3", 2))
    assert result["rs_ws"]["sampled"] == 20 and len(result["rs_ws"]["top"]) == 3
    assert result["rs_ws"]["scored"] == 20  # 20 draws from S3 (2 nodes): all distinct
    best = max(entry["val_accuracy"] for entry in result["rs_ws"]["top"])
    assert result["rs_ws"]["val_accuracy"] == best
    assert json.loads((tmp_path / "rs" / "genotype.json").read_text()) == result["genotype"]
    records = RunDir(tmp_path / "rs").read_metrics()
    assert len(records) == 2 and "train_loss" in records[0]


def test_drop_path_and_cutout_ramps_reach_the_search(tmp_path):
    run_search(resolve(overrides={**TINY, "drop_path": 0.6, "cutout_prob": 0.9,
                                  "hessian_every": 0}), tmp_path / "reg", quiet=True)
    records = RunDir(tmp_path / "reg").read_metrics()
    assert [r["drop_path_prob"] for r in records] == pytest.approx([0.0, 0.2, 0.4, 0.6])
    assert [r["cutout_prob"] for r in records] == pytest.approx([0.0, 0.3, 0.6, 0.9])
