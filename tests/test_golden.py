"""Users see the same run files as before: four tiny searches equal their recorded fixtures
(tests/golden_runs.py explains how and when to regenerate them)."""

from __future__ import annotations

import json

import pytest
from golden_runs import FILES, GOLDEN, RUNS, differences, read, run, strip_timings


def _recorded(name: str) -> dict:
    folder = GOLDEN / name
    metrics = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return strip_timings({"metrics.jsonl": metrics,
                          "genotype.json": json.loads((folder / "genotype.json").read_text()),
                          "result.json": json.loads((folder / "result.json").read_text())})


@pytest.mark.parametrize("name", sorted(RUNS))
def test_run_files_equal_the_recorded_fixture(tmp_path, name):
    assert all((GOLDEN / name / file).exists() for file in FILES)
    found = read(run(name, tmp_path / name))
    problems = differences(_recorded(name), found)
    assert not problems, "\n".join(problems[:20])


def test_the_comparison_notices_a_changed_value():
    recorded = _recorded("s3-second-order-fd")
    changed = json.loads(json.dumps(recorded))
    changed["metrics.jsonl"][-1]["val_loss"] *= 1.001
    changed["genotype.json"]["normal"][0][0] = "other"
    assert len(differences(recorded, changed)) == 2
