"""`rdarts report` on S5 runs scored against the shipped table: Figure 2's curves (DARTS and
DARTS-ES apart, R-DARTS bands, the random baseline), table-filled test errors, numeric CSVs and
candidate names that cannot be misread."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from rdarts.domains.image import s5
from rdarts.report import regret
from rdarts.report.build import build_report
from rdarts.report.collect import find_runs
from rdarts.report.regret import es_regret, random_baselines, regret_curves, selection_bands
from rdarts.report.tables import group_settings

EPOCHS = 6
ARCHS = s5.architectures()
# the architecture of every epoch (indices into the 81), and DARTS-ES's return epoch
PATH = (40, 13, 5, 0, 80, 77)
DECIDED, RETURN = 4, 1
BASE = {"space": "s5", "dataset": "fashion-mnist", "epochs": EPOCHS, "regret_table": "auto",
        "device": "cpu"}


@pytest.fixture(scope="module")
def table() -> s5.S5Table:
    return s5.load_table(None)


def _write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in data))
    else:
        path.write_text(json.dumps(data))  # JSON is YAML: config.yaml too


def _genotype(index: int) -> dict:
    return ARCHS[index].genotype.to_dict()


def _search(folder: Path, table: s5.S5Table, config: dict, shift: int = 0,
            fires: bool = False, alphas: bool = True) -> None:
    metrics = []
    for epoch in range(EPOCHS):
        genotype = _genotype(PATH[(epoch + shift) % EPOCHS])
        record = {"epoch": epoch, "val_accuracy": 0.5 + 0.05 * epoch, "lambda_max": 0.1 * epoch,
                  "genotype": genotype, "test_regret": table.test_regret(genotype)}
        if alphas:
            weights = 1 / 3 + 0.01 * np.sin(np.arange(6) + epoch + shift).reshape(2, 3)
            record["alpha_softmax"] = {"normal": weights.tolist(), "reduce": weights.tolist()}
        metrics.append(record)
    result = {"status": "completed", "genotype": metrics[-1]["genotype"],
              "test_regret": metrics[-1]["test_regret"],
              "final": {"val_accuracy": metrics[-1]["val_accuracy"]}}
    if config["method"] == "darts-es":
        stop = {"triggered": False}
        if fires:
            returned = metrics[RETURN]["genotype"]
            stop = {"triggered": True, "decided_at": DECIDED, "return_epoch": RETURN,
                    "simulated": True, "genotype": returned,
                    "test_regret": table.test_regret(returned)}
        result["early_stopping"] = stop
    _write(folder / "config.yaml", config)
    _write(folder / "metrics.jsonl", metrics)
    _write(folder / "result.json", result)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, table: s5.S5Table) -> Path:
    root = tmp_path_factory.mktemp("s5")
    for seed in (0, 1):
        es = {**BASE, "method": "darts-es", "es_simulate": True, "seed": seed}
        _search(root / f"darts+es_seed{seed}" / "search", table, es, seed, fires=seed == 0)
        _search(root / f"darts-ada_seed{seed}" / "search", table,
                {**BASE, "method": "darts-ada", "seed": seed}, seed)
    _search(root / "rs-ws_seed0" / "search", table, {**BASE, "method": "rs-ws", "seed": 0},
            alphas=False)
    for seed in (0, 1):  # R-DARTS(DP): two candidates, the second chosen
        selection = root / f"r-darts-dp_seed{seed}" / "selection"
        candidates = {name: {**BASE, "method": "darts", "drop_path": dp, "seed": seed}
                      for name, dp in (("dp-0", 0.0), ("dp-0.2", 0.2))}
        for shift, (name, config) in enumerate(candidates.items()):
            _search(selection / "searches" / name, table, config, 2 + shift + seed)
        chosen = _genotype(PATH[(3 + seed + EPOCHS - 1) % EPOCHS])
        _write(selection / "config.yaml", {"protocol": "r-darts(dp)", "candidates": candidates})
        _write(selection / "result.json", {"protocol": "r-darts(dp)", "chosen": "dp-0.2",
                                           "genotype": chosen, "val_accuracy": 0.7,
                                           "test_regret": table.test_regret(chosen)})
    return root


def test_candidates_are_named_by_the_setting_they_differ_in(sweep: Path) -> None:
    runs = find_runs([sweep])
    candidates = {r.name: r for r in runs.searches if r.selection}
    assert set(candidates) == {f"r-darts-dp_seed{s}.drop_path={dp}" for s in (0, 1)
                               for dp in ("0.0", "0.2")}
    assert [r.chosen for r in candidates.values()] == [False, True, False, True]
    assert {r.chosen_label for r in runs.selections} == {"drop_path=0.2"}
    assert "darts+es_seed0" in {r.name for r in runs.searches}


def test_untrained_runs_take_test_error_and_parameters_from_the_table(
        sweep: Path, table: s5.S5Table) -> None:
    runs = find_runs([sweep])
    for run in runs.searches:
        entry = table.entry(run.genotype)
        assert run.test_value == pytest.approx(100 * entry.test_error)
        assert run.parameters == pytest.approx(entry.parameters / 1e6)
        assert run.test_source == "s5-cpu"
    fired = next(r for r in runs.searches if r.name == "darts+es_seed0")
    returned = table.entry(_genotype(PATH[RETURN]))
    assert fired.es_test_value == pytest.approx(100 * returned.test_error)
    for selection in runs.selections:
        entry = table.entry(selection.result["genotype"])
        assert selection.test_value == pytest.approx(100 * entry.test_error)


def test_darts_and_darts_es_are_separate_curves(sweep: Path, table: s5.S5Table) -> None:
    runs = find_runs([sweep])
    curves = regret_curves(group_settings(runs.searches))
    assert [c.label for c in curves] == ["DARTS", "DARTS-ES", "DARTS-ADA", "RS-ws"]
    assert [len(c.series) for c in curves] == [2, 2, 2, 1]  # candidates are no curves
    fired = next(r for r in runs.searches if r.name == "darts+es_seed0")
    per_epoch = [100 * table.test_regret(_genotype(i)) for i in PATH]
    assert curves[0].series[0] == pytest.approx(dict(enumerate(per_epoch)))
    returned = 100 * table.test_regret(_genotype(PATH[RETURN]))
    expected = {e: per_epoch[e] if e < DECIDED else returned for e in range(EPOCHS)}
    assert es_regret(fired) == pytest.approx(expected)
    never = next(r for r in runs.searches if r.name == "darts+es_seed1")
    assert es_regret(never) == never.test_regret  # the rule never fired: DARTS's answer
    (band,) = selection_bands(runs.selections)
    assert band.label == "R-DARTS (DP)"
    assert band.values == tuple(r.test_regret for r in runs.selections)


def test_random_baseline_is_the_tables_mean_minus_best(sweep: Path, table: s5.S5Table) -> None:
    runs = find_runs([sweep])
    expected = 100 * (np.mean([e.test_error for e in table.entries]) - table.best.test_error)
    assert 100 * table.expected_random_regret() == pytest.approx(expected)
    assert random_baselines(group_settings(runs.searches), runs.selections) == {
        "s5-cpu": pytest.approx(expected)}


def test_regret_figure_has_one_axis_and_the_legend_outside(
        sweep: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = []
    monkeypatch.setattr(regret, "save", lambda figure, path: drawn.append(figure) or path)
    runs = find_runs([sweep])
    regret.plot_regret(group_settings(runs.searches), tmp_path / "r.png", runs.selections)
    (figure,) = drawn
    assert len(figure.axes) == 1 and figure.axes[0].get_legend() is None  # no twin axis
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert labels[:4] == ["DARTS (2 runs)", "DARTS-ES (2 runs)", "DARTS-ADA (2 runs)",
                          "RS-ws (1 run)"]
    assert labels[4] == "R-DARTS (DP), final (2 runs)"
    assert labels[5].startswith("random architecture (s5-cpu): ")
    colors = [h.get_color() for h in figure.legends[0].legend_handles[:6]]
    assert len(set(colors)) == 6


def test_report_tables_are_numeric_in_points(sweep: Path, tmp_path: Path,
                                             table: s5.S5Table) -> None:
    built = build_report([sweep], tmp_path / "report")
    out = tmp_path / "report"
    assert np.var(imread(out / "regret.png")) > 0
    with open(out / "table_search.csv") as handle:
        rows = {row["setting"]: row for row in csv.DictReader(handle)}
    es_runs = find_runs([sweep / "darts+es_seed0", sweep / "darts+es_seed1"]).searches
    row = next(r for label, r in rows.items() if label.startswith("darts-es"))
    final = [r.final_test_regret for r in es_runs]
    assert float(row["test_regret_points_mean"]) == pytest.approx(np.mean(final), abs=1e-6)
    assert row["test_regret_points_n"] == "2"
    with open(out / "runs.csv") as handle:
        by_run = {r["run"]: r for r in csv.DictReader(handle)}
    fired = by_run["darts+es_seed0"]
    assert fired["architecture"] == ARCHS[PATH[-1]].key and fired["es_return_epoch"] == "1"
    assert float(fired["es_test_regret_points"]) == pytest.approx(
        100 * table.test_regret(_genotype(PATH[RETURN])), abs=1e-6)
    assert fired["test_error_source"] == "s5-cpu"
    with open(out / "table_selection.csv") as handle:
        (selection,) = csv.DictReader(handle)
    assert selection["chosen"] == "drop_path=0.2, drop_path=0.2"
    assert float(selection["test_regret_points_mean"]) > 0
    text = (out / "report.md").read_text()
    value = random_baselines([], find_runs([sweep]).selections)["s5-cpu"]
    assert f"s5-cpu table ({value:.2f} points)" in text
    assert "The 4 searches run inside selections are not drawn as curves" in text
    assert "rs-ws_seed0 | " in text and "its metrics log no softmax(alpha) (rs-ws)" in text
    assert built["search_runs"] == 9
