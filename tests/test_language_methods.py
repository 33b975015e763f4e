"""Every method and the evaluation training on the language domain, through the same code
paths as images: DARTS-ES, DARTS-ADA (L2 rollback), RS-ws, R-DARTS' grid, `rdarts train`
with NT-ASGD, and the Figure 16 sweep files."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from language_tiny import tiny_corpus

from rdarts.cli.app import main
from rdarts.core.genotype import genotype_from_dict
from rdarts.domains.language.genotypes import KNOWN_GENOTYPES
from rdarts.domains.language.settings import LanguageTrainConfig
from rdarts.domains.language.training import LanguageTraining
from rdarts.experiments.jobs import expand
from rdarts.experiments.sweepfile import load_sweep
from rdarts.runs.rundir import RunDir
from rdarts.search.config import resolve, resolve_train, train_from_dict
from rdarts.search.selection import rdarts_candidates
from rdarts.search.task import run_search

FIRES = {"es_window": 1, "es_lag": 1, "es_threshold": 100.0}  # triggers at its first decision


def _smoke(**changes):
    return resolve("smoke", None, {"domain": "language", "device": "cpu", "epochs": 3,
                                   **changes})


def test_darts_es_stops_and_answers_an_earlier_genotype(tmp_path):
    outcome = run_search(_smoke(method="darts-es", **FIRES), tmp_path / "es", quiet=True)
    result = outcome.result
    assert result["early_stopping"]["triggered"] and result["stopped_at_epoch"] == 1
    assert len(result["genotype"]["recurrent"]) == 8


def test_darts_ada_rolls_back_and_raises_l2(tmp_path):
    outcome = run_search(_smoke(method="darts-ada", **FIRES), tmp_path / "ada", quiet=True)
    rollbacks = outcome.result["rollbacks"]
    assert rollbacks[0]["old"] == 5e-7 and rollbacks[0]["new"] == pytest.approx(5e-6)
    assert outcome.result["final_regularization"]["l2"] == pytest.approx(5e-6)
    assert outcome.result["ignored_triggers"]  # 5e-5 is above R_max = 1.35e-5


def test_rs_ws_ranks_by_perplexity(tmp_path):
    outcome = run_search(_smoke(method="rs-ws", epochs=1, rs_samples=6, rs_score_batches=1,
                                rs_top=2), tmp_path / "rs", quiet=True)
    top = outcome.result["rs_ws"]["top"]
    assert outcome.result["rs_ws"]["val_perplexity"] == min(t["val_perplexity"] for t in top)


def test_r_darts_uses_the_figure_16_grid_for_language():
    candidates = rdarts_candidates(_smoke(), "l2")
    assert [c.setting["weight_decay"] for c in candidates] == [5e-7, 15e-7, 45e-7, 135e-7]
    assert rdarts_candidates(resolve(), "l2")[0].setting == {"weight_decay": 3e-4}


def _training(**changes) -> LanguageTraining:
    config = resolve_train("smoke", None, {"domain": "language", "device": "cpu", **changes})
    genotype = genotype_from_dict(KNOWN_GENOTYPES["darts_rnn_v2"])
    return LanguageTraining(config, genotype, tiny_corpus(), torch.device("cpu"))


def test_nt_asgd_switches_when_validation_stops_improving_and_evaluates_averages():
    training = _training(epochs=4, nonmono=0, lr=200.0)  # a large lr stops improving soon
    records = []
    for _ in range(4):
        records.append(training.run_epoch())
        training.epoch += 1
    switched = [i for i, r in enumerate(records) if r.get("switched_to_asgd")]
    assert switched and isinstance(training.optimizer, torch.optim.ASGD)
    assert records[-1]["test_perplexity"] > 1
    assert records[-1]["best_val_perplexity"] == min(r["val_perplexity"] for r in records)


def test_training_state_round_trip_continues_identically():
    reference = _training(epochs=3, nonmono=0, dropout=0.3)
    reference.run_epoch()
    reference.epoch += 1
    state = copy.deepcopy(reference.state_dict())
    second = reference.run_epoch()
    resumed = _training(epochs=3, nonmono=0, dropout=0.3)
    resumed.load_state_dict(state)
    assert resumed.run_epoch() == second


def test_train_command_trains_darts_rnn_v2_and_refuses_image_flags(tmp_path, capsys):
    out = tmp_path / "train"
    code = main(["train", "darts_rnn_v2", "--domain", "language", "--preset", "smoke",
                 "--device", "cpu", "--quiet", "--out", str(out)])
    assert code == 0
    result = json.loads((out / "result.json").read_text())
    assert result["test_perplexity"] > 1 and result["score"]["higher"] is False
    assert "test perplexity" in capsys.readouterr().out
    settings = {k: v for k, v in RunDir(out).read_config().items() if k != "genotype"}
    assert isinstance(train_from_dict(settings), LanguageTrainConfig)
    code = main(["train", "darts_rnn_v2", "--domain", "language", "--cutout-prob", "0.5",
                 "--out", str(tmp_path / "bad")])
    assert code == 2 and "not a training setting of the language domain" in (
        capsys.readouterr().err)


@pytest.mark.parametrize("name,jobs", [("fig16_cpu", 8), ("fig16_ptb", 16)])
def test_figure_16_sweeps_expand_to_the_paper_grid(name, jobs):
    expanded = expand(load_sweep(name))
    assert len(expanded) == jobs
    factors = sorted({job.settings["weight_decay"] for job in expanded})
    assert factors == pytest.approx([5e-7, 15e-7, 45e-7, 135e-7])
    first = expanded[0]
    assert first.settings["domain"] == "language" and first.steps == ("search", "eval")
    assert first.evaluate is not None and first.evaluate["domain"] == "language"
