"""benchmarks/cpu_tables.py, which docs/benchmarks/cpu-reproduction.md quotes, on the committed
run files of the first pilot (results/cpu/pilot: S3, seed 0, both cells trained)."""

from __future__ import annotations

import importlib.util
import json
import statistics
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PILOT = ROOT / "results" / "cpu" / "pilot"


@pytest.fixture(scope="module")
def tables():
    spec = importlib.util.spec_from_file_location("cpu_tables",
                                                  ROOT / "benchmarks" / "cpu_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table_reads_the_pilot_search_and_both_trainings(tables):
    found = tables.collect([PILOT])
    [run] = found[("s3", None)]
    assert run["es_epoch"] == 8
    assert run["darts"]["test_error"] == pytest.approx(11.34, abs=1e-9)
    assert run["es"]["test_error"] == pytest.approx(10.42, abs=1e-9)
    assert run["darts"]["parameters"] == 60754
    genotype = json.loads((PILOT / "s3_seed0" / "search" / "genotype.json").read_text())
    assert run["darts"]["parameter_free"] == sum(op == "skip_connect"
                                                 for op, _ in genotype["normal"]) == 2
    metrics = [json.loads(line) for line in
               (PILOT / "s3_seed0" / "search" / "metrics.jsonl").read_text().splitlines()]
    lambdas = [m["lambda_max"] for m in metrics]
    assert run["lambda_max_last"] == lambdas[-1]
    assert run["lambda_max_end"] == pytest.approx(statistics.mean(lambdas[-5:]))
    assert run["lambda_max_es"] == pytest.approx(statistics.mean(lambdas[4:9]))
    text = tables.table(found)
    assert "| S3 | - | 1 (1) |" in text and "11.34" in text and "10.42" in text
    assert "4.12 +- 0.85 (3.73) / 3.71 +- 1.14 (3.07)" in text
    seconds = sorted(m["seconds"] for m in metrics)
    assert run["median_epoch_seconds"] == statistics.median(seconds)
    assert f"| {statistics.median(seconds) * len(seconds):.0f} | 2188 | 482 / 429 |" in \
        tables.cost(found)


def test_correlation_is_pearsons_r(tables, tmp_path):
    points = [{"space": s, "setting": None, "seed": i, "cell": c, "lambda_max": x,
               "test_error": y}
              for i, (s, c, x, y) in enumerate([("s2", "darts", 0.1, 9.0),
                                                ("s2", "es", 0.3, 9.5),
                                                ("s3", "darts", 0.2, 11.0),
                                                ("s3", "es", 0.5, 10.0)])]
    r = tables.pearson(points)
    assert r == pytest.approx(statistics.correlation([p["lambda_max"] for p in points],
                                                     [p["test_error"] for p in points]))
    assert "all cells: n = 4" in tables.correlation_text(points)
    tables.plot(points, tmp_path / "fig15.png")
    assert (tmp_path / "fig15.png").stat().st_size > 1000
    pilot = tables.correlation_points(tables.collect([PILOT]))
    assert [p["cell"] for p in pilot] == ["darts", "es"]
