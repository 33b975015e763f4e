"""Sweeps (the paper's grids for Tables 1, 2, 5 and Figures 4, 5): expansion, validation, a tiny
sweep on a local Ray, resume after a kill, and failing jobs."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from rdarts.errors import ConfigError
from rdarts.experiments.executors import RayExecutor
from rdarts.experiments.jobs import expand, select_jobs
from rdarts.experiments.runner import result_line, run_sweep, summary_table, sweep_command
from rdarts.experiments.sweepfile import load_sweep, shipped_sweeps, sweep_from_dict
from rdarts.runs.rundir import RunDir

TINY = {"space": "s3", "nodes": 1, "layers": 3, "channels": 4, "batch_size": 16,
        "max_train_images": 48, "epochs": 2, "val_batches": 1, "hessian_every": 1,
        "device": "cpu"}
EVAL = {"dataset": "fashion-mnist", "epochs": 1, "channels": 4, "layers": 3, "batch_size": 16,
        "max_train_images": 80}
# A DARTS-ES rule that fires as soon as it can (epoch 1 returns epoch 0), so that a two-epoch
# search has an early-stopping genotype to evaluate.
EAGER_ES = {"method": "darts-es", "es_simulate": True, "es_window": 1, "es_lag": 1,
            "es_threshold": 1e6}


def quiet(_: str) -> None:
    """A log that drops the executor's progress lines."""


def tiny_sweep(**changes: Any) -> dict[str, Any]:
    return {"name": "t", "kind": "search", "base": dict(TINY), "grid": {"seed": [0, 1]},
            **changes}


# ---- expansion and validation --------------------------------------------------------------


def test_expansion_is_the_ordered_product_with_readable_names():
    sweep = sweep_from_dict({"name": "g", "base": {"epochs": 3},
                             "grid": {"space": ["s1", "s3"], "dataset": ["cifar10", "svhn"],
                                      "seed": [0, 1, 2], "weight_decay": [0.0009]}})
    jobs = expand(sweep)
    assert len(jobs) == 2 * 2 * 3 * 1
    assert [job.name for job in jobs[:4]] == [
        "s1_cifar10_seed0_wd-0.0009", "s1_cifar10_seed1_wd-0.0009",
        "s1_cifar10_seed2_wd-0.0009", "s1_svhn_seed0_wd-0.0009"]
    assert [job.name for job in expand(sweep)] == [job.name for job in jobs]
    assert len({job.name for job in jobs}) == len(jobs)
    first = jobs[0]
    assert first.steps == ("search",) and first.kind == "search"
    assert first.settings["space"] == "s1" and first.settings["weight_decay"] == 0.0009
    assert first.settings["epochs"] == 3 and first.settings["lr"] == 0.025  # fully resolved
    assert first.point == {"space": "s1", "dataset": "cifar10", "seed": 0,
                           "weight_decay": 0.0009}

    drop = expand(sweep_from_dict({"name": "d", "grid": {"drop-path": [0, 0.2]}}))
    assert [job.name for job in drop] == ["dp-0", "dp-0.2"]
    assert drop[0].settings["drop_path"] == 0.0
    assert [job.name for job in expand(sweep_from_dict({"name": "one"}))] == ["one"]


@pytest.mark.parametrize(("data", "named"), [
    ({"grid": {"seed": [0]}, "epochs": 3}, "'epochs'"),
    ({"kind": "benchmark"}, "'benchmark'"),
    ({"base": {"epochz": 3}}, "'epochz'"),
    ({"grid": {"spcae": ["s1"]}}, "'spcae'"),
    ({"grid": {"seed": []}}, "'seed'"),
    ({"grid": {"epochs": ["ten"]}}, "'epochs' expects int"),
    ({"preset": "huge"}, "'huge'"),
    ({"analyses": ["spectra"]}, "'spectra'"),
    ({"evaluate": {"preset": "paper-c10", "early_stop": True}}, "'early_stop'"),
    ({"evaluate": {"preset": "paper-c99"}}, "'paper-c99'"),
    ({"evaluate": {"overrides": {"epoch": 1}}}, "'epoch'"),
    ({"kind": "selection", "selection": {"seed": 4}}, "'seed'"),
    ({"kind": "selection", "selection": {"protocol": "best"}}, "protocol must be one of"),
    ({"selection": {"seeds": 4}}, "needs kind: selection"),
    ({"grid": {"variant": [{"name": "a", "methd": "darts"}]}}, "'methd'"),
])
def test_unknown_keys_and_values_name_the_key(data, named):
    with pytest.raises(ConfigError, match=named):
        sweep_from_dict({"name": "bad", **data}, "bad.yaml")


def test_resolve_errors_name_the_job():
    sweep = sweep_from_dict({"name": "r", "grid": {"layers": [8, 2]}})
    with pytest.raises(ConfigError, match="job layers2: layers must be >= 3"):
        expand(sweep)
    darts = sweep_from_dict({"name": "e", "base": {"method": "darts"},
                             "evaluate": {"preset": "quick", "early_stopping": True}})
    with pytest.raises(ConfigError, match="early_stopping needs method darts-es with es_sim"):
        expand(darts)


def test_shipped_sweeps_load_and_expand():
    counts = {name: len(expand(load_sweep(name))) for name in shipped_sweeps()}
    assert counts == {"fig5_l2": 60, "table1": 36, "table2_fig4_drop_path": 48, "table5": 72,
                      "tiny": 2, "s5_regret": 9, "s5_rdarts": 6, "cpu_pilot": 2,
                      "fig16_cpu": 8, "fig16_ptb": 16, "table3_cpu": 12, "table4_cpu": 8,
                      "table3": 6, "table4": 4, "table1_cpu": 12, "fig5_l2_cpu": 16,
                      "table2_drop_path_cpu": 16, "exact_cpu": 4}

    table1 = expand(load_sweep("table1"))
    assert table1[0].name == "s1_cifar10_seed0" and table1[-1].name == "s4_svhn_seed2"
    assert table1[0].steps == ("search", "eval", "eval-es")
    by_dataset = {job.settings["dataset"]: job.evaluate for job in table1}
    assert (by_dataset["cifar10"]["channels"], by_dataset["cifar10"]["layers"]) == (36, 20)
    assert (by_dataset["svhn"]["channels"], by_dataset["svhn"]["layers"]) == (16, 8)
    assert {job.evaluate["epochs"] for job in table1} == {600}

    l2 = sorted({job.settings["weight_decay"] for job in expand(load_sweep("fig5_l2"))})
    assert l2 == pytest.approx([3 * i * 1e-4 for i in (1, 3, 9, 27, 81)])
    drop = expand(load_sweep("table2_fig4_drop_path"))
    assert {job.settings["drop_path"] for job in drop} == {0.0, 0.2, 0.4, 0.6}
    assert drop[0].steps[-2:] == ("spectrum", "discretization")
    assert {job.settings["cutout_schedule"] for job in drop} == {"linear"}

    # The CPU-scale S1-S4 study: seeds vary slowest, the `cpu` search with its scaled alpha
    # learning rate, Fashion-MNIST's real test set for the evaluation.
    cpu_table1 = expand(load_sweep("table1_cpu"))
    assert [job.name for job in cpu_table1[:4]] == ["seed0_s2", "seed0_s3", "seed0_s1",
                                                    "seed0_s4"]
    assert {job.settings["arch_lr"] for job in cpu_table1} == {7.8e-3}
    assert {job.evaluate["epochs"] for job in cpu_table1} == {2}
    assert cpu_table1[0].steps == ("search", "eval", "eval-es")
    cpu_grids = expand(load_sweep("fig5_l2_cpu")) + expand(load_sweep("table2_drop_path_cpu"))
    assert {job.steps for job in cpu_grids} == {("search", "eval")}
    assert {job.settings["space"] for job in cpu_grids} == {"s2", "s3"}
    assert {job.settings["second_order"] for job in expand(load_sweep("exact_cpu"))} == {
        "exact"}

    table5 = expand(load_sweep("table5"))
    labels = {job.selection["label"] for job in table5}
    assert labels == {"select(rs-ws, 4 seeds)", "select(darts, 4 seeds)",
                      "select(darts-es, 4 seeds)", "select(darts-ada, 4 seeds)",
                      "r-darts(dp)", "r-darts(l2)"}
    assert {job.selection["retrain"]["epochs"] for job in table5} == {100}
    assert {job.selection["retrain"]["eval"] for job in table5} == {"holdout"}
    assert load_sweep(Path(__file__).parents[1] / "src/rdarts/sweeps/tiny.yaml").name == "tiny"
    s5_jobs = expand(load_sweep("s5_regret")) + expand(load_sweep("s5_rdarts"))
    assert {job.settings["space"] for job in s5_jobs} == {"s5"}
    assert {job.settings["seed"] for job in s5_jobs} == {0, 1, 2}
    with pytest.raises(ConfigError,
                       match="shipped sweeps: cpu_pilot, exact_cpu, fig16_cpu, fig16_ptb"):
        load_sweep("table9")


def test_result_lines_give_regret_in_points():
    record = {"status": "done", "test_error": 0.1275, "test_regret": 0.0366,
              "es_test_regret": 0.01015}
    line = result_line(record)
    assert "test regret 3.66 points" in line and "ES test regret 1.01 points" in line
    assert "test error 0.1275" in line


def test_only_selects_by_pattern():
    jobs = expand(load_sweep("table1"))
    assert len(select_jobs(jobs, "s1_*")) == 9
    assert [j.name for j in select_jobs(jobs, "s2_svhn_seed1, s3_cifar100_seed0")] == [
        "s2_svhn_seed1", "s3_cifar100_seed0"]
    with pytest.raises(ConfigError, match="matches no job"):
        select_jobs(jobs, "s9_*")


def test_dry_run_lists_jobs_and_runs_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert sweep_command("table5", dry_run=True, only="r-darts-dp_s1_*") == 0
    out = capsys.readouterr().out
    assert "r-darts-dp_s1_cifar10: selection, eval" in out
    assert "selection: r-darts(dp)" in out and "cutout_prob=1.0" in out
    assert out.count("r-darts-dp_s1_") == 3
    assert list(tmp_path.iterdir()) == []


# ---- running -------------------------------------------------------------------------------


@pytest.mark.slow
def test_tiny_sweep_on_a_local_ray(tmp_path):
    pytest.importorskip("ray")
    sweep = sweep_from_dict(tiny_sweep(
        base={**TINY, **EAGER_ES},
        evaluate={"preset": "quick", "overrides": EVAL, "early_stopping": True},
        analyses=["discretization"]))
    with RayExecutor(num_cpus=2, log=quiet) as executor:
        summary = run_sweep(sweep, tmp_path / "out", executor)
    out = tmp_path / "out"
    assert summary["counts"] == {"done": 2, "failed": 0, "skipped": 0}
    assert {p.name for p in out.iterdir()} == {"sweep.yaml", "jobs.json", "summary.json",
                                               "seed0", "seed1"}
    assert yaml.safe_load((out / "sweep.yaml").read_text())["base"]["es_lag"] == 1
    jobs = json.loads((out / "jobs.json").read_text())["jobs"]
    assert [(j["name"], j["status"]) for j in jobs] == [("seed0", "done"), ("seed1", "done")]
    assert json.loads((out / "summary.json").read_text()) == summary
    for record in summary["jobs"]:
        job_dir = out / record["name"]
        same = record["es_genotype"] == record["genotype"]  # then eval/ serves both
        assert {p.name for p in job_dir.iterdir()} == {"search", "eval", *(() if same else
                                                                          ("eval-es",))}
        assert record["attempts"] == 1 and record["seconds"] > 0
        search = json.loads((job_dir / "search" / "result.json").read_text())
        trained = json.loads((job_dir / "eval" / "result.json").read_text())
        trained_es = json.loads((job_dir / ("eval" if same else "eval-es") /
                                 "result.json").read_text())
        assert record["genotype"] == search["genotype"] == trained["genotype"]
        assert record["es_triggered"] and record["es_return_epoch"] == 0
        assert record["es_genotype"] == search["early_stopping"]["genotype"]
        assert trained_es["genotype"] == record["es_genotype"]
        assert record["test_error"] == trained["test_error"]
        assert record["es_test_error"] == trained_es["test_error"]
        assert record["lambda_max"] == search["final"]["lambda_max"]
        assert "discretization_drop" in record
        assert trained["epochs"] == 1 and trained["eval"] == "test"

    # The report of this real sweep: its table holds the runs' own numbers, its figures exist.
    from rdarts.report.build import build_report

    built = build_report([out], tmp_path / "report")
    names = {Path(f).name for f in built["figures"]}
    assert {"lambda_max.png", "test_error_vs_lambda.png", "discretization.png",
            "alpha_seed0_normal.png", "cells_seed1_reduce.png"} <= names
    assert all(Path(f).stat().st_size > 5000 for f in built["figures"])
    with open(tmp_path / "report" / "table_search.csv") as handle:
        (row,) = list(csv.DictReader(handle))
    errors = [100 * r["test_error"] for r in summary["jobs"]]
    assert row["seeds"] == "2"
    assert float(row["test_error_pct_mean"]) == pytest.approx(sum(errors) / 2, abs=1e-6)


@pytest.mark.slow
def test_a_killed_sweep_resumes_and_skips_finished_jobs(tmp_path, monkeypatch):
    sweep = sweep_from_dict(tiny_sweep(base={**TINY, "epochs": 3}))
    out = tmp_path / "out"
    save = RunDir.save_checkpoint
    saved_in_seed1: list[int] = []

    def kill_at_second_epoch_of_seed1(self: RunDir, state: dict[str, Any]) -> None:
        if self.path.parent.name == "seed1":
            saved_in_seed1.append(state["epoch"])
            if len(saved_in_seed1) == 2:
                raise KeyboardInterrupt
        save(self, state)

    monkeypatch.setattr(RunDir, "save_checkpoint", kill_at_second_epoch_of_seed1)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, out, "local", retries=0, log=quiet)
    monkeypatch.undo()
    assert json.loads((out / "seed0" / "search" / "result.json").read_text())["status"] == \
        "completed"
    assert not (out / "seed1" / "search" / "result.json").exists()
    assert [r["epoch"] for r in RunDir(out / "seed1" / "search").read_metrics()] == [0, 1]
    stamps = {p: p.stat().st_mtime_ns for p in (out / "seed0").rglob("*") if p.is_file()}

    lines: list[str] = []
    summary = run_sweep(sweep, out, "local", retries=0, log=lines.append)
    assert summary["counts"]["done"] == 2
    first, second = summary["jobs"]
    assert first["reused"] and first["attempts"] == 0 and "skip seed0: finished earlier" in lines
    assert first["seconds"] is None  # the killed sweep never wrote its summary: cost unknown
    assert summary_table(summary).splitlines()[1].split()[3] == "-"
    assert second["attempts"] == 1 and "reused" not in second
    assert {p: p.stat().st_mtime_ns for p in (out / "seed0").rglob("*") if p.is_file()} == stamps
    assert [r["epoch"] for r in RunDir(out / "seed1" / "search").read_metrics()] == [0, 1, 2]
    assert json.loads((out / "seed1" / "search" / "result.json").read_text())["status"] == \
        "completed"

    # The sweep file changed since: the job says so in one line instead of reusing old runs.
    changed = sweep_from_dict(tiny_sweep(base={**TINY, "epochs": 4}))
    summary = run_sweep(changed, out, "local", retries=0, only="seed1", log=quiet)
    assert [r["status"] for r in summary["jobs"]] == ["skipped", "failed"]
    assert "holds a different run (epochs: 3 -> 4)" in summary["jobs"][1]["error"]


@pytest.mark.slow
def test_a_failing_job_is_one_line_and_the_others_run(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "bad", "base": {**TINY, "epochs": 1},
                                    "grid": {"dataset": ["nope", "fashion-mnist"]}}))
    assert sweep_command(path, out=tmp_path / "out", retries=2) == 1
    lines = capsys.readouterr().out.splitlines()
    failed = [line for line in lines if line.startswith("nope ")]
    assert len(failed) == 1 and "failed" in failed[0]
    assert "DataError: unknown dataset 'nope'" in failed[0]
    assert any(line.startswith("fashion-mnist ") and " done " in line for line in lines)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    bad, good = summary["jobs"]
    assert (bad["status"], bad["attempts"]) == ("failed", 3)  # 1 + retries
    assert "\n" not in bad["error"]
    assert (good["status"], good["attempts"]) == ("done", 1)
    assert summary["counts"] == {"done": 1, "failed": 1, "skipped": 0}
    with pytest.raises(ConfigError, match="options of --executor ray"):
        sweep_command(path, out=tmp_path / "out", max_parallel=2)


def selection_sweep(retrain_epochs: int) -> dict[str, Any]:
    return {
        "name": "sel", "kind": "selection", "base": {**TINY, "epochs": 1, "hessian_every": 0},
        "selection": {"seeds": 2, "retrain_preset": "quick", "retrain_epochs": retrain_epochs,
                      "retrain_overrides": EVAL},
        "grid": {"variant": [{"name": "r-darts-l2", "method": "darts", "selection": {
            "protocol": "rdarts", "regularizer": "l2", "values": [0.0003, 0.0027]}}]},
        "evaluate": {"preset": "quick", "overrides": EVAL}}


@pytest.mark.slow
def test_a_selection_sweep_chooses_and_evaluates(tmp_path):
    sweep = sweep_from_dict(selection_sweep(retrain_epochs=1))
    [job] = expand(sweep)
    assert job.name == "r-darts-l2" and job.steps == ("selection", "eval")
    summary = run_sweep(sweep, tmp_path / "out", "local", log=quiet)
    [record] = summary["jobs"]
    assert record["status"] == "done" and record["protocol"] == "r-darts(l2)"
    job_dir = tmp_path / "out" / "r-darts-l2"
    selection = json.loads((job_dir / "selection" / "result.json").read_text())
    assert sorted(p.name for p in (job_dir / "selection" / "searches").iterdir()) == [
        "l2-0.0003", "l2-0.0027"]
    assert record["chosen"] == selection["chosen"] and record["genotype"] == selection["genotype"]
    trained = json.loads((job_dir / "eval" / "result.json").read_text())
    assert trained["genotype"] == selection["genotype"]
    assert record["test_error"] == trained["test_error"]

    # The report's Table 5: the chosen cell's test error and retraining validation error.
    from rdarts.report.build import build_report

    built = build_report([tmp_path / "out"], tmp_path / "report")
    assert built["selection_runs"] == 1 and built["search_runs"] == 2
    with open(tmp_path / "report" / "table_selection.csv") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["setting"] == "r-darts(l2) s3 fashion-mnist"
    assert row["chosen"] == "weight_decay=" + record["chosen"].removeprefix("l2-")
    test = 100 * trained["test_error"]
    assert float(row["test_error_pct_mean"]) == pytest.approx(test, abs=1e-6)
    assert row["test_error_pct_std"] == "0.0" and row["test_error_pct_n"] == "1"
    val = 100 * (1 - selection["val_accuracy"])
    assert float(row["val_error_pct_mean"]) == pytest.approx(val, abs=1e-6)
    assert "Selection protocols (Table 5)" in (tmp_path / "report" / "report.md").read_text()

    again = run_sweep(sweep, tmp_path / "out", "local", log=quiet)["jobs"][0]
    assert again["reused"] and again["chosen"] == record["chosen"]
    changed = run_sweep(sweep_from_dict(selection_sweep(retrain_epochs=2)), tmp_path / "out",
                        "local", retries=0, log=quiet)["jobs"][0]
    assert changed["status"] == "failed" and "holds a different selection" in changed["error"]


# ---- training sweeps (kind: train, e.g. a tabular benchmark) -------------------------------


def test_a_training_sweep_trains_each_genotype_and_reports_both_errors(tmp_path, capsys):
    genotype = {"normal": [["sep_conv_3x3", 0], ["skip_connect", 1]], "normal_concat": [2],
                "reduce": [["max_pool_3x3", 0], ["sep_conv_3x3", 1]], "reduce_concat": [2]}
    (tmp_path / "g.json").write_text(json.dumps(genotype))
    data = {"name": "tr", "kind": "train", "preset": "quick",
            "base": {**EVAL, "eval": "both", "holdout_fraction": 0.25, "device": "cpu"},
            "grid": {"variant": [{"name": "mine", "genotype": genotype},
                                 {"name": "v2", "genotype": "darts_v2", "layers": 4}]}}
    sweep = sweep_from_dict(data)
    jobs = expand(sweep)
    assert [(j.name, j.steps) for j in jobs] == [("mine", ("train",)), ("v2", ("train",))]
    assert jobs[1].settings["layers"] == 4 and jobs[1].settings["genotype"]["normal"][0] == \
        ["sep_conv_3x3", 0]
    summary = run_sweep(sweep, tmp_path / "out", "local", retries=0, log=quiet)
    assert summary["counts"]["done"] == 2
    for record in summary["jobs"]:
        result = json.loads((tmp_path / "out" / record["name"] / "train" /
                             "result.json").read_text())
        assert record["test_error"] == result["test_error"]
        assert record["val_error"] == result["val_error"]
        assert 0.0 <= result["val_error"] <= 1.0 and result["eval"] == "both"
    metrics = RunDir(tmp_path / "out" / "mine" / "train").read_metrics()
    assert {"val_accuracy", "test_accuracy"} <= set(metrics[0])
    again = run_sweep(sweep, tmp_path / "out", "local", retries=0, log=quiet)
    assert all(r.get("reused") for r in again["jobs"])
    # A rerun keeps each job's measured cost and records its own time apart, rerun after rerun.
    cost = [r["seconds"] for r in summary["jobs"]]
    assert all(seconds > 0 for seconds in cost)
    for rerun in (again, run_sweep(sweep, tmp_path / "out", "local", retries=0, log=quiet)):
        assert [r["seconds"] for r in rerun["jobs"]] == cost
        assert all(0 <= r["rerun_seconds"] < 60 for r in rerun["jobs"])
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["jobs"][0]["seconds"] \
        == cost[0]
    # A genotype axis of names; a dry run shows the training settings.
    path = tmp_path / "axis.yaml"
    path.write_text(yaml.safe_dump({"name": "axis", "kind": "train", "base": EVAL,
                                    "grid": {"genotype": ["darts_v2", str(tmp_path / "g.json")],
                                             "seed": [0, 1]}}))
    assert sweep_command(path, dry_run=True) == 0
    listing = capsys.readouterr().out
    assert "4 jobs" in listing and "darts-v2_seed1: train" in listing
    assert "g_seed0: train" in listing and "train: dataset=fashion-mnist" in listing


@pytest.mark.parametrize("change, message", [
    ({"grid": {"seed": [0]}}, "needs a genotype"),
    ({"evaluate": {"preset": "quick"}}, "evaluate"),
    ({"analyses": ["spectrum"]}, "analyses"),
    ({"preset": "paper"}, "unknown training preset 'paper'"),
    ({"base": {"genotype": "darts_v2", "order": 2}}, "unknown option 'order'"),
    ({"grid": {"genotype": [{"normal": []}]}}, "genotype axis takes files"),
])
def test_training_sweep_mistakes_are_named(change, message):
    data = {"name": "tr", "kind": "train", "base": {"genotype": "darts_v2"}, **change}
    if "grid" in change and "genotype" not in str(change["grid"]) and "base" not in change:
        data["base"] = {}
    with pytest.raises(ConfigError, match=message):
        sweep_from_dict(data)


def test_the_darts_es_cell_is_trained_only_when_it_differs_from_the_final_one(tmp_path):
    """Seed 1 of this tiny sweep stops early on the cell it ends with: one training serves
    DARTS and DARTS-ES (the same genotype, settings and seed train identically)."""
    sweep = sweep_from_dict(tiny_sweep(
        base={**TINY, **EAGER_ES},
        evaluate={"preset": "quick", "overrides": EVAL, "early_stopping": True}))
    summary = run_sweep(sweep, tmp_path / "out", "local", log=quiet)
    same = {r["name"]: r["es_genotype"] == r["genotype"] for r in summary["jobs"]}
    assert same == {"seed0": False, "seed1": True}
    for record in summary["jobs"]:
        job_dir = tmp_path / "out" / record["name"]
        assert (job_dir / "eval-es").exists() is not same[record["name"]]
        es_dir = job_dir / ("eval" if same[record["name"]] else "eval-es")
        assert record["es_test_error"] == json.loads(
            (es_dir / "result.json").read_text())["test_error"]
    rerun = run_sweep(sweep, tmp_path / "out", "local", log=quiet)
    assert [(r["attempts"], r.get("reused")) for r in rerun["jobs"]] == [(0, True)] * 2
    assert not (tmp_path / "out" / "seed1" / "eval-es").exists()

