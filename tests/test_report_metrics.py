"""The report shows each domain's own score: perplexity for language runs (Figure 16), error %
for images, one table per metric when a report holds both, and the found cells against the
regularisation strength a sweep varies (Figures 4, 5 and 16)."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import yaml

from rdarts.report.build import build_report

GENOTYPE = {"recurrent": [["relu", 0], ["identity", 1]], "recurrent_concat": [1, 2]}
# (L2 factor, seed) -> test perplexity of the trained cell, one-shot val. perplexity, lambda_max
RUNS = {(5e-7, 0): (195.0, 560.0, 0.02), (5e-7, 1): (199.0, 600.0, 0.04),
        (1.5e-6, 0): (188.0, 700.0, 0.03), (1.5e-6, 1): (190.0, 720.0, 0.05),
        (4.5e-6, 0): (185.0, 810.0, 0.01)}


def _write(folder: Path, config: dict, result: dict, metrics: list[dict] | None = None) -> None:
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / "result.json").write_text(json.dumps(result))
    if metrics is not None:
        (folder / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))


def _language_sweep(root: Path) -> Path:
    """A sweep directory as `rdarts sweep fig16_cpu` writes it (JOB/search, JOB/eval)."""
    score = {"name": "perplexity", "higher": False}
    for (l2, seed), (test, val, lam) in RUNS.items():
        job = root / f"wd-{l2:g}_seed{seed}"
        search = {"domain": "language", "space": "darts-rnn", "method": "darts",
                  "weight_decay": l2, "epochs": 2, "seed": seed}
        metrics = [{"epoch": 0, "val_perplexity": 2 * val, "lambda_max": 3 * lam},
                   {"epoch": 1, "val_perplexity": val, "lambda_max": lam}]
        _write(job / "search", search,
               {"status": "completed", "genotype": GENOTYPE, "score": score,
                "final": {"val_perplexity": val, "lambda_max": lam}}, metrics)
        _write(job / "eval", {"domain": "language", "eval": "test", "seed": seed,
                              "genotype": GENOTYPE},
               {"status": "completed", "test_perplexity": test, "val_perplexity": test - 3,
                "parameters": 731920, "score": score})
    return root


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_language_runs_are_reported_in_perplexity(tmp_path: Path) -> None:
    sweep = _language_sweep(tmp_path / "sweep")
    build_report([sweep], tmp_path / "report")
    text = (tmp_path / "report" / "report.md").read_text()
    assert "| Test perplexity (DARTS) |" in text and "One-shot val. perplexity (end)" in text
    assert "Test error %" not in text
    table = {r["setting"]: r for r in _rows(tmp_path / "report" / "table_search.csv")}
    assert float(table["wd=5e-07"]["test_perplexity_median"]) == 197.0
    assert float(table["wd=1.5e-06"]["one_shot_val_perplexity_mean"]) == 710.0
    assert float(table["wd=4.5e-06"]["lambda_max_median"]) == 0.01
    assert not list((tmp_path / "report").glob("table_search_*.csv"))  # one metric, one table


def test_strength_figure_and_table_follow_the_l2_grid(tmp_path: Path) -> None:
    sweep = _language_sweep(tmp_path / "sweep")
    result = build_report([sweep], tmp_path / "report")
    assert str(tmp_path / "report" / "strength.png") in result["figures"]
    rows = _rows(tmp_path / "report" / "table_strength.csv")
    assert [float(r["weight_decay"]) for r in rows] == [5e-7, 1.5e-6, 4.5e-6]
    for row in rows:
        l2 = float(row["weight_decay"])
        seeds = [v for (f, _), v in RUNS.items() if f == l2]
        assert float(row["test_perplexity_median"]) == statistics.median(v[0] for v in seeds)
        assert float(row["one_shot_val_perplexity_median"]) == statistics.median(
            v[1] for v in seeds)
        assert int(row["seeds"]) == len(seeds)


def test_a_report_of_images_and_language_has_one_table_per_metric(tmp_path: Path) -> None:
    sweep = _language_sweep(tmp_path / "sweep")
    image = tmp_path / "image" / "job"
    _write(image / "search", {"space": "s3", "method": "darts", "seed": 0},
           {"status": "completed", "genotype": {"normal": [], "normal_concat": []},
            "final": {"val_accuracy": 0.8}},
           [{"epoch": 0, "val_accuracy": 0.8, "lambda_max": 0.1}])
    _write(image / "eval", {"eval": "test", "seed": 0, "genotype": {"normal": []}},
           {"status": "completed", "test_accuracy": 0.9, "parameters": 1000})
    build_report([sweep, tmp_path / "image"], tmp_path / "report")
    out = tmp_path / "report"
    assert len(_rows(out / "table_search_perplexity.csv")) == 3
    images = _rows(out / "table_search.csv")  # accuracy first
    assert len(images) == 1 and float(images[0]["test_error_pct_mean"]) == 10.0
    runs = {r["run"]: r for r in _rows(out / "runs.csv")}
    assert runs["job"]["test_error_pct"] == "10.0" and runs["job"]["test_perplexity"] == ""
    assert float(runs["wd-4.5e-06_seed0"]["test_perplexity"]) == 185.0
    text = (out / "report.md").read_text()
    assert "## Search results (Tables 1 and 2)" in text and "## Search results (perplexity)" in text


def test_runs_recorded_before_a_setting_existed_share_a_setting_with_newer_ones(tmp_path):
    """A sweep resumed with newer code: its later jobs record settings its earlier ones lack
    (at their default), and the report still groups them as seeds of one setting."""
    sweep = _language_sweep(tmp_path / "sweep")
    newer = sweep / "wd-5e-07_seed1" / "search" / "config.yaml"
    config = yaml.safe_load(newer.read_text())
    newer.write_text(yaml.safe_dump({**config, "gradient_check_every": 0,
                                     "channels_last": False}))
    build_report([sweep], tmp_path / "report")
    table = {r["setting"]: r for r in _rows(tmp_path / "report" / "table_search.csv")}
    assert table["wd=5e-07"]["seeds"] == "2" and len(table) == 3


def test_lambda_max_axis_turns_logarithmic_when_a_search_diverges() -> None:
    from matplotlib.figure import Figure

    from rdarts.report.figures import _log_scale_if_wide

    def scale(*series: list[float]) -> str:
        axes = Figure().subplots()
        for values in series:
            axes.plot(range(len(values)), values)
        _log_scale_if_wide(axes)
        return axes.get_yscale()

    assert scale([0.01, 0.02], [0.03, 0.05]) == "linear"
    assert scale([0.01, 0.02], [1e5, 1e12]) == "log"
    assert scale([0.01, -7e3], [1e5, 1e12]) == "symlog"
