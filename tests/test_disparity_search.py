"""The disparity domain end to end, through the same code paths as images: `rdarts search
--domain disparity` (one-shot validation EPE, lambda_max and the three cells per epoch), exact
resume after a kill, DARTS-ES, DARTS-ADA with the augmentation regulariser, RS-ws ranking by
EPE, R-DARTS' grids, `rdarts train`, `rdarts hessian`, the report and the shipped sweeps."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from rdarts.cli.app import main
from rdarts.core.genotype import load_genotype
from rdarts.domains.disparity.spaces import LAYOUTS
from rdarts.errors import ConfigError
from rdarts.experiments.jobs import expand
from rdarts.experiments.sweepfile import load_sweep
from rdarts.report.build import build_report
from rdarts.report.cells import cell_edges
from rdarts.runs.rundir import RunDir
from rdarts.search.config import resolve
from rdarts.search.registry import check_method
from rdarts.search.selection import rdarts_candidates
from rdarts.search.task import run_search

FIRES = {"es_window": 1, "es_lag": 1, "es_threshold": 100.0}  # triggers at its first decision
SMOKE = ["--domain", "disparity", "--space", "s6", "--preset", "smoke", "--device", "cpu",
         "--quiet"]


def _smoke(**changes):
    return resolve("smoke", None, {"domain": "disparity", "device": "cpu", **changes})


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("disparity") / "job" / "search"
    assert main(["search", *SMOKE, "--out", str(out)]) == 0
    return out


def test_search_logs_epe_lambda_max_and_the_three_cells_every_epoch(searched):
    lines = RunDir(searched).read_metrics()
    assert [line["epoch"] for line in lines] == [0, 1]
    for line in lines:
        assert line["val_epe"] > 0 and line["train_epe"] > 0 and line["lambda_max"] > 0
        assert line["augment_scale"] == 1.0
        assert [len(line["genotype"][c]) for c in ("normal", "reduce", "upsample")] == [6, 6, 8]
    result = json.loads((searched / "result.json").read_text())
    assert result["score"] == {"name": "epe", "higher": False}
    genotype = load_genotype(searched, layouts=LAYOUTS)
    assert [source for _, source in genotype.cell("upsample")[0]] == [0, 1, 2, 3]


def test_a_killed_search_resumes_exactly(tmp_path, monkeypatch):
    config = _smoke()  # 2 epochs: killed between the last metrics line and its checkpoint
    reference = run_search(config, tmp_path / "reference", quiet=True)
    real_save = RunDir.save_checkpoint

    def save_then_die(self, state):
        if state["epoch"] == 2:
            raise KeyboardInterrupt  # stands in for the kill
        real_save(self, state)

    monkeypatch.setattr(RunDir, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_search(config, tmp_path / "killed", quiet=True)
    monkeypatch.setattr(RunDir, "save_checkpoint", real_save)
    resumed = run_search(config, tmp_path / "killed", resume=True, quiet=True)
    assert resumed.genotype == reference.genotype
    lines = [RunDir(tmp_path / run).read_metrics() for run in ("reference", "killed")]
    for a, b in zip(*lines, strict=True):  # augmented batches and probes replayed exactly
        assert (a["val_epe"], a["lambda_max"], a["train_loss"]) == (
            b["val_epe"], b["lambda_max"], b["train_loss"])
    alpha = [torch.load(tmp_path / run / "checkpoint.pt", weights_only=True)["architecture"]
             for run in ("reference", "killed")]
    assert all(torch.equal(alpha[0][k], alpha[1][k]) for k in alpha[0])


def test_darts_es_runs_on_s6(tmp_path):
    outcome = run_search(_smoke(method="darts-es", epochs=3, **FIRES), tmp_path / "es",
                         quiet=True)
    assert outcome.result["early_stopping"]["triggered"]
    assert outcome.result["stopped_at_epoch"] == 1


def test_darts_ada_raises_the_augmentation_scale_up_to_its_ceiling(tmp_path):
    config = _smoke(method="darts-ada", epochs=3, ada_regularizer="augment", ada_eta=4.0,
                    augment_scale=0.5, **FIRES)
    outcome = run_search(config, tmp_path / "ada", quiet=True)
    rollbacks = outcome.result["rollbacks"]
    assert (rollbacks[0]["regularizer"], rollbacks[0]["old"], rollbacks[0]["new"]) == (
        "augment", 0.5, 2.0)
    assert outcome.result["final_regularization"] == {"augment": 2.0}
    assert outcome.result["ignored_triggers"]  # 8 is above R_max = 2
    lines = RunDir(tmp_path / "ada").read_metrics()
    assert lines[-1]["augment_scale"] == 2.0  # the raised factor reached the stream
    with pytest.raises(ConfigError, match="needs a starting --augment-scale > 0"):
        check_method(_smoke(method="darts-ada", ada_regularizer="augment", augment_scale=0.0,
                            hessian_every=1))
    with pytest.raises(ConfigError, match="cannot adapt drop_path in the disparity domain"):
        check_method(_smoke(method="darts-ada", ada_regularizer="drop_path", drop_path=0.2))


def test_rs_ws_ranks_by_the_lowest_epe(tmp_path):
    outcome = run_search(_smoke(method="rs-ws", epochs=1, rs_samples=4, rs_score_batches=1,
                                rs_top=2), tmp_path / "rs", quiet=True)
    top = outcome.result["rs_ws"]["top"]
    assert outcome.result["rs_ws"]["val_epe"] == min(t["val_epe"] for t in top)


def test_r_darts_varies_l2_or_the_augmentation_scale_with_the_paper_grids(capsys, tmp_path):
    l2 = rdarts_candidates(_smoke(), "l2")
    assert [c.setting["weight_decay"] for c in l2] == [3e-4, 9e-4, 27e-4, 81e-4]
    augment = rdarts_candidates(_smoke(), "augment")
    assert [c.search.domain_settings["augment_scale"] for c in augment] == [
        0.0, 0.1, 0.5, 1.0, 1.5, 2.0]
    assert [c.name for c in augment][:2] == ["aug-0", "aug-0.1"]
    code = main(["rdarts", *SMOKE[:-1], "--regularizer", "augment", "--augment-scale", "1",
                 "--out", str(tmp_path / "r")])
    assert code == 2 and "varies augment_scale itself" in capsys.readouterr().err


def test_train_hessian_and_report_of_a_disparity_run(searched, capsys):
    job = searched.parent
    assert main(["train", str(searched), "--domain", "disparity", "--preset", "smoke",
                 "--device", "cpu", "--quiet", "--out", str(job / "eval")]) == 0
    result = json.loads((job / "eval" / "result.json").read_text())
    assert result["test_epe"] > 0 and result["test_shift_epe"] > 0 and result["parameters"] > 0
    assert "EPE" in capsys.readouterr().out
    assert main(["hessian", str(searched)]) == 0
    assert json.loads(capsys.readouterr().out)["lambda_max"] > 0
    assert main(["discretize", str(searched)]) == 0
    record = json.loads(capsys.readouterr().out)  # a rise of the EPE is the drop
    assert record["drop"] == pytest.approx(record["discretized_epe"] - record["one_shot_epe"])
    out = job.parent / "report"
    build_report([job], out)
    with open(out / "table_search.csv") as handle:
        (row,) = csv.DictReader(handle)
    assert float(row["test_epe_mean"]) == pytest.approx(result["test_epe"])
    assert float(row["test_shift_epe_mean"]) == pytest.approx(result["test_shift_epe"])
    assert float(row["one_shot_val_epe_mean"]) > 0 and float(row["lambda_max_mean"]) > 0
    assert "test_error_pct_mean" not in row  # EPE, not errors in %
    for cell in ("normal", "reduce", "upsample"):
        assert (out / f"cells_job_{cell}.png").exists()
    genotype = json.loads((searched / "genotype.json").read_text())
    targets = [target for *_, target in cell_edges(genotype, "upsample", (4, 2, 2))]
    assert targets == [0, 0, 0, 0, 1, 1, 2, 2]
    report = (out / "report.md").read_text()
    assert "Shifted-test EPE (DARTS)" in report and "test EPE" in report


def test_train_refuses_flags_of_another_domain(searched, capsys, tmp_path):
    code = main(["train", str(searched), "--domain", "disparity", "--cutout-prob", "0.5",
                 "--out", str(tmp_path / "bad")])
    assert code == 2 and "not a training setting of the disparity domain" in (
        capsys.readouterr().err)


def test_spaces_lists_s6(capsys):
    assert main(["spaces", "--domain", "disparity"]) == 0
    assert "s6" in capsys.readouterr().out


@pytest.mark.parametrize("name,axis,values", [
    ("table3_cpu", "augment_scale", [0.0, 0.1, 0.5, 1.0, 1.5, 2.0]),
    ("table4_cpu", "weight_decay", [3e-4, 9e-4, 27e-4, 81e-4]),
    ("table3", "augment_scale", [0.0, 0.1, 0.5, 1.0, 1.5, 2.0]),
    ("table4", "weight_decay", [3e-4, 9e-4, 27e-4, 81e-4])])
def test_the_table_3_and_4_sweeps_expand_to_the_paper_grids(name, axis, values):
    jobs = expand(load_sweep(name))
    settings = [job.settings.get(axis, job.settings["domain_settings"].get(axis))
                for job in jobs]
    assert sorted(set(settings)) == pytest.approx(values)
    first = jobs[0]
    assert first.settings["domain"] == "disparity" and first.settings["es_simulate"]
    assert first.steps == ("search", "eval", "eval-es")
    assert first.evaluate is not None and first.evaluate["domain"] == "disparity"
    assert first.settings["hessian_every"] == 1
    assert len(jobs) == len(values) * (2 if name.endswith("_cpu") else 1)


def test_a_sweep_trains_the_darts_and_the_darts_es_cells_of_s6(tmp_path, capsys):
    """The sweep's evaluations parse S6 genotypes with S6's layouts (the upsampling cell's
    first node keeps four inputs), for the DARTS and the DARTS-ES cell alike."""
    from rdarts.experiments.runner import run_sweep
    from rdarts.experiments.sweepfile import sweep_from_dict

    sweep = sweep_from_dict({
        "name": "s6", "kind": "search", "preset": "smoke",
        "base": {"domain": "disparity", "space": "s6", "device": "cpu", "method": "darts-es",
                 "es_simulate": True, "hessian_every": 1, "epochs": 3, **FIRES},
        "grid": {"weight_decay": [8.1e-3], "seed": [0]},
        "evaluate": {"preset": "smoke", "early_stopping": True, "overrides": {"epochs": 1}}})
    summary = run_sweep(sweep, tmp_path / "out", "local", retries=0, log=lambda _: None)
    assert summary["counts"] == {"done": 1, "failed": 0, "skipped": 0}
    record = summary["jobs"][0]
    job = tmp_path / "out" / record["name"]
    for step, key in (("eval", "genotype"), ("eval-es", "es_genotype")):
        trained = json.loads((job / step / "result.json").read_text())
        assert trained["genotype"] == record[key] and trained["test_epe"] > 0
        assert len(trained["genotype"]["upsample"]) == 8
    assert record["es_triggered"] and record["es_test_epe"] > 0

    # benchmarks/s6_tables.py, which docs/benchmarks/s6.md quotes, reads the same numbers.
    spec = importlib.util.spec_from_file_location(
        "s6_tables", Path(__file__).parents[1] / "benchmarks" / "s6_tables.py")
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    [row] = tables.rows([tmp_path / "out"])["weight_decay"][8.1e-3]
    assert row["darts"]["test_epe"] == record["test_epe"]
    assert row["es"]["test_shift_epe"] == record["es_test_shift_epe"]
    assert row["one_shot_val_epe"] == record["one_shot_val_epe"]
    text = tables.table("weight_decay", {8.1e-3: [row]})
    assert f"{record['test_epe']:.2f}" in text and "4.61 / 2.34 / 3.85 / 12.16" in text
    cells = tables.genotypes("weight_decay", {8.1e-3: [row]}).splitlines()
    heads = [line for line in cells if line.startswith("L2 = 0.0081, seed 0")]
    assert len(heads) == 2 and f"test EPE {record['es_test_epe']:.2f}" in heads[1]
    upsample = cells[cells.index(heads[1]) + 3].strip()
    first_node = upsample.removeprefix("upsample: ").split(" / ")[0]
    assert upsample.count(" / ") == 2 and first_node.count("<-") == 4
    assert upsample.count("<-") == 8


def test_select_keeps_the_lowest_retraining_epe_and_prints_the_s6_cell(tmp_path, capsys):
    out = tmp_path / "sel"
    assert main(["select", *SMOKE, "--epochs", "1", "--num-seeds", "2", "--retrain-preset",
                 "smoke", "--retrain-epochs", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "result.json").read_text())
    scores = {c["name"]: c["val_epe"] for c in result["candidates"]}
    assert len(scores) == 2 and result["chosen"] == min(scores, key=scores.get)
    assert "upsample:" in printed and "--domain disparity --preset paper" in printed


@pytest.mark.parametrize("flag", [["--mixed-sum", "batched"], ["--channels-last"]])
def test_the_image_layout_options_are_refused_not_ignored(flag, tmp_path, capsys):
    assert main(["search", *SMOKE, *flag, "--out", str(tmp_path / "run")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "speed options of the image domain; the disparity domain" in err[0]
