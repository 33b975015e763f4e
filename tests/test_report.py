"""`rdarts report` on a hand-written sweep: tables equal the files' numbers, figures are real."""

from __future__ import annotations

import csv
import json
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
import yaml
from matplotlib.image import imread

from rdarts.errors import RdartsError
from rdarts.report.alpha import alpha_figure
from rdarts.report.build import build_report, report_command
from rdarts.report.cells import write_cell
from rdarts.report.collect import find_runs, unique_names
from rdarts.report.figures import pearson
from rdarts.report.records import SearchRun
from rdarts.report.runfigures import figure_order
from rdarts.report.tables import group_settings, key_applies, setting_labels

EPOCHS = 4
OPS = ("none", "skip_connect", "sep_conv_3x3")  # S3
SETTINGS = {"wd3": 0.0003, "wd9": 0.0009}  # wd3: DARTS-ES fires; wd9: it never does
SEEDS = (0, 1)


def _genotype(shift: int) -> dict:
    pick = [OPS[1 + (shift + i) % 2] for i in range(4)]
    return {"normal": [[pick[0], 0], [pick[1], 1], [pick[2], 0], [pick[3], 2]],
            "normal_concat": [2, 3],
            "reduce": [[pick[3], 1], [pick[2], 0], [pick[1], 2], [pick[0], 1]],
            "reduce_concat": [2, 3]}


def _write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".yaml":
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in data))
    else:
        path.write_text(json.dumps(data))


def _alpha(rng: np.random.Generator) -> list[list[float]]:
    logits = rng.normal(size=(5, 3))  # 2 nodes: E = 5 edges x |O| = 3 ops
    weights = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return weights.round(6).tolist()


def _search(job_dir: Path, wd: float, seed: int, fires: bool) -> dict:
    """One search run plus eval/ (and eval-es/ when DARTS-ES fired); returns what it wrote."""
    rng = np.random.default_rng(seed + int(wd * 1e4))
    config = {"method": "darts-es", "space": "s3", "nodes": 2, "dataset": "fashion-mnist",
              "epochs": EPOCHS, "weight_decay": wd, "drop_path": 0.0, "es_simulate": True,
              "seed": seed, "device": "cpu", "data_dir": f"/data/{seed}"}
    lambdas = [round(0.1 * (1 + e) ** 2 * (1 + seed + 10 * wd), 6) for e in range(EPOCHS)]
    val_accuracy = [round(0.5 + 0.05 * e + 0.01 * seed, 4) for e in range(EPOCHS)]
    metrics = []
    for epoch in range(EPOCHS):
        record = {"epoch": epoch, "train_loss": 1.0 / (1 + epoch), "train_accuracy": 0.5,
                  "val_loss": 1.0, "val_accuracy": val_accuracy[epoch], "lr": 0.025,
                  "seconds": 1.0, "lambda_max": lambdas[epoch], "lambda_min": -0.01,
                  "alpha_softmax": {"normal": _alpha(rng), "reduce": _alpha(rng)},
                  "genotype": _genotype(epoch)}
        if fires and epoch == 3:
            record["early_stop"] = {"decided_at": 3, "return_epoch": 1, "ratio": 0.4,
                                    "lambda_bar_earlier": lambdas[1],
                                    "lambda_bar_later": lambdas[3]}
        metrics.append(record)
    early = ({"triggered": True, "return_epoch": 1, "decided_at": 3, "simulated": True,
              "genotype": _genotype(1)} if fires else {"triggered": False})
    spectrum = sorted(rng.normal(size=30).tolist(), reverse=True)  # dense: all 30 alphas
    hessian = {"epoch": 3, "lambda_max": lambdas[-1], "lambda_min": spectrum[-1],
               "spectrum": spectrum}
    if seed == 0:  # the other seed makes the report derive the top 30 itself
        hessian["top30_by_magnitude"] = sorted(spectrum, key=abs, reverse=True)
    drops = [{"epoch": e, "one_shot_accuracy": val_accuracy[e],
              "discretized_accuracy": val_accuracy[e] - 0.02 * e, "drop": 0.02 * e,
              "genotype": _genotype(e)} for e in (1, 3)]
    search = job_dir / "search"
    _write(search / "config.yaml", config)
    _write(search / "metrics.jsonl", metrics)
    _write(search / "result.json", {
        "status": "completed", "method": "darts-es", "space": "s3", "epochs": EPOCHS,
        "genotype": _genotype(EPOCHS - 1), "early_stopping": early,
        "final": {"val_accuracy": val_accuracy[-1], "lambda_max": lambdas[-1]}})
    _write(search / "hessian" / "epoch-0003.json", hessian)
    _write(search / "discretization.json", drops)
    trained = {"eval": _train(job_dir / "eval", _genotype(EPOCHS - 1), rng)}
    if fires:
        trained["eval-es"] = _train(job_dir / "eval-es", _genotype(1), rng)
    return {"lambdas": lambdas, "val_accuracy": val_accuracy, "spectrum": spectrum,
            "drops": drops, **trained}


def _train(path: Path, genotype: dict, rng: np.random.Generator) -> dict:
    accuracy = round(float(rng.uniform(0.8, 0.95)), 4)
    result = {"status": "completed", "eval": "test", "test_accuracy": accuracy,
              "test_error": 1 - accuracy, "parameters": int(rng.integers(10_000, 90_000)),
              "genotype": genotype, "train_seconds": 3.0}
    _write(path / "config.yaml", {"dataset": "fashion-mnist", "eval": "test", "epochs": 1,
                                  "seed": 0, "genotype": genotype})
    _write(path / "metrics.jsonl", [{"epoch": 0, "train_loss": 1.0, "test_accuracy": accuracy}])
    _write(path / "result.json", result)
    return result


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("sweep")
    _write(root / "sweep.yaml", {"name": "synthetic"})
    written = {(name, seed): _search(root / f"{name}-s{seed}", wd, seed, fires=name == "wd3")
               for name, wd in SETTINGS.items() for seed in SEEDS}
    return root, written


@pytest.fixture(scope="module")
def built(sweep: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("report")
    return build_report([sweep[0]], out)


def _stats(values: list[float], decimals: int) -> str:
    mean, std, median = np.mean(values), np.std(values), np.median(values)
    return f"{mean:.{decimals}f} +- {std:.{decimals}f} ({median:.{decimals}f})"


def _assert_numeric(row: dict[str, str], key: str, values: list[float]) -> None:
    """The CSV's mean, std, median and n columns of `key` are the numbers of `values`."""
    assert float(row[f"{key}_mean"]) == pytest.approx(np.mean(values), abs=1e-6)
    assert float(row[f"{key}_std"]) == pytest.approx(np.std(values), abs=1e-6)
    assert float(row[f"{key}_median"]) == pytest.approx(np.median(values), abs=1e-6)
    assert int(row[f"{key}_n"]) == len(values)


def test_every_figure_is_a_real_png(built: dict) -> None:
    out = Path(built["report"]).parent
    expected = ["lambda_max.png", "test_error_vs_lambda.png", "spectrum.png",
                "discretization.png"]
    expected += [f"{kind}_{name}-s{seed}_{cell}.png" for kind in ("alpha", "cells")
                 for name in SETTINGS for seed in SEEDS for cell in ("normal", "reduce")]
    assert built["runs"] == 4 + 6  # 4 searches, 4 eval/ and 2 eval-es/ trainings
    for name in expected:
        path = out / name
        assert str(path) in built["files"], name
        assert path.stat().st_size > 5_000, name
        assert np.var(imread(path)) > 0, name
    text = (out / "report.md").read_text()
    for name in [*expected, "table_search.csv"]:
        assert f"({name})" in text, name


def test_table_equals_the_numbers_in_the_files(sweep: tuple[Path, dict], built: dict) -> None:
    _, written = sweep
    out = Path(built["report"]).parent
    with open(out / "table_search.csv") as handle:
        rows = {row["setting"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {"wd=0.0003", "wd=0.0009"}  # only the weight decay differs
    for name, wd in SETTINGS.items():
        runs = [written[(name, seed)] for seed in SEEDS]
        row = rows[f"wd={wd}"]
        test_error = [100 * r["eval"]["test_error"] for r in runs]
        # DARTS-ES returns the final genotype when its rule never fires (wd9)
        es_error = [100 * r.get("eval-es", r["eval"])["test_error"] for r in runs]
        assert row["seeds"] == "2"
        _assert_numeric(row, "test_error_pct", test_error)
        _assert_numeric(row, "es_test_error_pct", es_error)
        _assert_numeric(row, "one_shot_val_error_pct",
                        [100 * (1 - r["val_accuracy"][-1]) for r in runs])
        _assert_numeric(row, "parameters_m", [r["eval"]["parameters"] / 1e6 for r in runs])
        _assert_numeric(row, "lambda_max", [r["lambdas"][-1] for r in runs])
        # report.md keeps the compact form
        assert f"| {_stats(test_error, 2)} | {_stats(es_error, 2)} |" in (
            out / "report.md").read_text()
    summary = json.loads((out / "summary.json").read_text())
    first = summary["settings"][0]["runs"][0]
    assert first["es_triggered"] and first["es_return_epoch"] == 1
    assert first["top_eigenvalues"] == sorted(written[("wd3", 0)]["spectrum"], key=abs,
                                              reverse=True)


def test_pearson_is_numpys(sweep: tuple[Path, dict], built: dict) -> None:
    _, written = sweep
    points = [(np.mean(r["lambdas"]), 100 * r["eval"]["test_error"]) for r in written.values()]
    expected = np.corrcoef(*np.asarray(points).T)[0, 1]
    out = Path(built["report"]).parent
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pearson"]["r"] == pytest.approx(expected, abs=1e-12)
    assert f"{expected:.4f}" in (out / "report.md").read_text()
    assert pearson([(1.0, 2.0)]) is None
    assert pearson([(1.0, 2.0), (1.0, 3.0)]) is None


def test_setting_labels_name_the_differing_keys() -> None:
    configs = [{"space": "s1", "dataset": "cifar10", "method": "darts-es", "weight_decay": 9e-4,
                "epochs": 50},
               {"space": "s2", "dataset": "svhn", "method": "darts", "weight_decay": 3e-4,
                "epochs": 50}]
    assert setting_labels(configs) == ["s1 cifar10 darts-es wd=0.0009",
                                       "s2 svhn darts wd=0.0003"]
    assert setting_labels(configs[:1]) == ["s1 cifar10 darts-es"]


def test_setting_labels_skip_keys_the_method_does_not_read() -> None:
    base = {"space": "s5", "rs_samples": 1000, "ada_eta": 10.0, "es_preset": "paper",
            "es_simulate": False}
    configs = [base | {"method": "darts-es", "es_simulate": True},
               base | {"method": "darts-ada"},
               base | {"method": "rs-ws", "rs_samples": 200}]
    assert setting_labels(configs) == ["darts-es", "darts-ada", "rs-ws"]
    two_rs = [base | {"method": "rs-ws", "rs_samples": n} for n in (200, 1000)]
    assert setting_labels(two_rs) == ["rs_samples=200", "rs_samples=1000"]
    assert not key_applies("es_threshold", base | {"method": "darts"})
    assert key_applies("es_threshold", base | {"method": "darts", "es_simulate": True})


def test_cell_drawing_without_graphviz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    files = write_cell(_genotype(0), "normal", tmp_path, "cells_run_normal")
    assert files == [tmp_path / "cells_run_normal.png"]
    assert files[0].stat().st_size > 5_000 and np.var(imread(files[0])) > 0
    assert not list(tmp_path.glob("*.dot"))


def test_cell_via_dot_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The graphviz path with a stand-in `dot` that records its arguments."""
    fake = tmp_path / "dot"
    fake.write_text('#!/bin/sh\necho "$@" > "$(dirname "$0")/args.txt"\n'
                    'while [ $# -gt 0 ]; do [ "$1" = "-o" ] && out="$2"; shift; done\n'
                    'printf PNG > "$out"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(shutil, "which", lambda name: str(fake) if name == "dot" else None)
    source, png = write_cell(_genotype(0), "reduce", tmp_path, "cells_run_reduce")
    assert png.read_text() == "PNG" and "-Tpng" in (tmp_path / "args.txt").read_text()
    dot = source.read_text()
    assert '"c_{k-1}" -> "0" [label="sep_conv_3x3"];' in dot  # reduce node 0 <- c_{k-1}
    assert '"0" -> "1" [label="sep_conv_3x3"];' in dot  # node 1 <- state 2 = node 0
    assert '"1" -> "c_{k}"' in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not installed")
def test_cell_with_real_graphviz(tmp_path: Path) -> None:
    _, png = write_cell(_genotype(1), "normal", tmp_path, "cells_run_normal")
    assert np.var(imread(png)) > 0


def test_no_runs_and_broken_files_are_errors(tmp_path: Path) -> None:
    with pytest.raises(RdartsError, match="no rdarts runs"):
        build_report([tmp_path], tmp_path / "out")
    with pytest.raises(RdartsError, match="not a directory"):
        build_report([tmp_path / "missing"], tmp_path / "out")
    run = tmp_path / "run"
    _write(run / "config.yaml", {"space": "s3", "seed": 0})
    (run / "metrics.jsonl").write_text('{"epoch": 0}\n{"epo\n')  # torn last line: skipped
    assert find_runs([run]).searches[0].metrics == [{"epoch": 0}]
    (run / "metrics.jsonl").write_text('{"epo\n{"epoch": 1}\n')
    with pytest.raises(RdartsError, match="line 1 is not JSON"):
        build_report([run], tmp_path / "out")


def test_report_command_prints_where(sweep: tuple[Path, dict], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    job = sweep[0] / "wd9-s0"  # one job: a search without eval-es, still reported
    assert report_command([job], tmp_path / "r") == 0
    assert str(tmp_path / "r" / "report.md") in capsys.readouterr().out
    with open(tmp_path / "r" / "table_search.csv") as handle:
        (row,) = csv.DictReader(handle)
    assert row["setting"] == "s3 fashion-mnist darts-es"


def test_every_csv_cell_is_a_number_or_empty(built: dict) -> None:
    out = Path(built["report"]).parent
    with open(out / "table_search.csv") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for key, value in row.items():
            if key != "setting" and value != "":
                float(value)
    assert not any("+-" in v for row in rows for v in row.values())


def test_runs_csv_has_one_row_per_search_with_its_numbers(sweep: tuple[Path, dict],
                                                          built: dict) -> None:
    _, written = sweep
    out = Path(built["report"]).parent
    with open(out / "runs.csv") as handle:
        rows = {row["run"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {f"{name}-s{seed}" for name in SETTINGS for seed in SEEDS}
    for (name, seed), files in written.items():
        row = rows[f"{name}-s{seed}"]
        assert row["seed"] == str(seed) and row["method"] == "darts-es"
        assert row["space"] == "s3" and row["setting"] == f"wd={SETTINGS[name]}"
        assert json.loads(row["genotype"]) == _genotype(EPOCHS - 1)
        assert row["es_return_epoch"] == ("1" if name == "wd3" else "")
        assert row["es_decided_at"] == ("3" if name == "wd3" else "")
        assert row["score_name"] == "accuracy"
        assert float(row["score"]) == pytest.approx(files["val_accuracy"][-1])
        assert float(row["test_error_pct"]) == pytest.approx(100 * files["eval"]["test_error"])
        assert row["test_error_source"] == "eval"
        assert float(row["lambda_max_end"]) == pytest.approx(files["lambdas"][-1])
        assert row["test_regret_points"] == ""  # S3: no table


def test_absent_figures_are_explained(built: dict) -> None:
    text = (Path(built["report"]).parent / "report.md").read_text()
    assert "## Figures not drawn" in text
    assert "- regret.png (Test regret during the search (Figure 2)): no search run was " \
           "scored against a tabular benchmark" in text


def test_alpha_figure_gives_every_edge_its_own_scale(sweep: tuple[Path, dict]) -> None:
    run = find_runs([sweep[0] / "wd3-s0"]).searches[0]
    figure = alpha_figure(run, "normal")
    panels = [a for a in figure.axes if a.get_visible()]
    assert len(panels) == 5  # 2 nodes: 5 edges, one panel each
    assert [a.get_title() for a in panels[:3]] == [
        "node 0 \u2190 $c_{k-2}$", "node 0 \u2190 $c_{k-1}$", "node 1 \u2190 $c_{k-2}$"]
    weights = np.asarray([r["alpha_softmax"]["normal"] for r in run.metrics])
    for edge, axes in enumerate(panels):
        low, high = axes.get_ylim()
        assert low <= weights[:, edge].min() and weights[:, edge].max() <= high
        assert len(axes.get_lines()) == 3 + 2  # 3 ops, the uniform line, the ES return epoch
    assert len({a.get_ylim() for a in panels}) == len(panels)  # not one fixed scale
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert labels == [*OPS, "uniform (1/3)", "DARTS-ES return epoch"]


def test_capped_run_figures_say_which_runs_and_why(sweep: tuple[Path, dict],
                                                   tmp_path: Path) -> None:
    built = build_report([sweep[0]], tmp_path / "r", max_run_figures=2)
    text = (tmp_path / "r" / "report.md").read_text()
    names = {Path(p).name for p in built["figures"]}
    # one seed per setting first: wd3-s0 and wd9-s0 drawn, the second seeds not
    assert {"alpha_wd3-s0_normal.png", "alpha_wd9-s0_reduce.png"} <= names
    assert not any("-s1_" in name for name in names)
    assert "(2 of 4 runs drawn)" in text
    assert text.count("not drawn: at most 2 runs get figures") == 2
    order = figure_order(group_settings(find_runs([sweep[0]]).searches))
    assert [r.name for r in order] == ["wd3-s0", "wd9-s0", "wd3-s1", "wd9-s1"]


def test_repeated_names_are_not_read_as_settings() -> None:
    assert unique_names(["dp-0", "dp-0", "a"]) == ["dp-0", "dp-0_dup2", "a"]
    same = [{"method": "darts", "space": "s5", "seed": 0}] * 2
    assert setting_labels(same) == ["s5 darts", "s5 darts #2"]


def test_cli_report_and_its_errors(sweep: tuple[Path, dict], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    from rdarts.cli.app import EXIT_USAGE, main

    assert main(["report", str(sweep[0]), "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "report.md").stat().st_size > 0
    assert main(["report", str(tmp_path / "nothing"), "--out", str(tmp_path / "r2")]) \
        == EXIT_USAGE
    error = capsys.readouterr().err.strip()
    assert error.startswith("rdarts: error:") and "\n" not in error


@pytest.mark.slow
def test_report_on_a_real_tiny_search(tmp_path: Path) -> None:
    from rdarts.search.config import resolve
    from rdarts.search.task import run_search

    config = resolve(overrides={"space": "s3", "nodes": 2, "layers": 3, "channels": 4,
                                "batch_size": 16, "max_train_images": 64, "epochs": 3,
                                "val_batches": 1, "device": "cpu"})
    run_search(config, tmp_path / "run", quiet=True)
    result = build_report([tmp_path / "run"], tmp_path / "report")
    names = {Path(p).name for p in result["figures"]}
    assert {"alpha_run_normal.png", "cells_run_reduce.png"} <= names
    with open(tmp_path / "report" / "table_search.csv") as handle:
        (row,) = csv.DictReader(handle)
    assert row["test_error_pct_n"] == "0" and row["test_error_pct_mean"] == ""
    assert row["one_shot_val_error_pct_n"] == "1"


def test_darts_ada_has_no_darts_es_answer(tmp_path: Path) -> None:
    result = {"genotype": {"normal": []}, "test_regret": 0.02,
              "early_stopping": {"triggered": False}}

    def run(method: str) -> SearchRun:
        return SearchRun(path=tmp_path, name=method, config={"method": method},
                         metrics=[], result=result, hessian=[], discretization=[])

    assert run("darts-es").es_test_regret == pytest.approx(2.0)
    assert run("darts-es").es_genotype == result["genotype"]
    assert run("darts-ada").es_test_regret is None
    assert run("darts-ada").es_genotype is None
    fired = {"epoch": 9, "early_stop": {"decided_at": 9, "return_epoch": 2}}
    ada = SearchRun(path=tmp_path, name="ada", config={"method": "darts-ada"},
                    metrics=[fired], result=None, hessian=[], discretization=[])
    assert ada.early_stop is None  # no DARTS-ES point is marked for DARTS-ADA


def test_settings_name_the_differing_domain_setting_not_the_nested_dict(tmp_path: Path) -> None:
    runs = [SearchRun(path=tmp_path / str(f), name=str(f), config={
        "space": "s6", "seed": 0,
        "domain_settings": {"augment_scale": f, "max_displacement": 6}},
        metrics=[], result=None, hessian=[], discretization=[]) for f in (0.5, 2.0)]
    settings = group_settings(runs)
    assert [s.label for s in settings] == ["augment_scale=0.5", "augment_scale=2.0"]
    assert all("domain_settings" not in s.config for s in settings)  # the settings table too
