"""`rdarts status`, `sweep --dry-run` job states and `sweep --set`: what is done, partial or
pending, read back through the run files' one reader and the sweep's own finished rule."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from rdarts.cli.app import main
from rdarts.errors import ConfigError
from rdarts.experiments.jobs import expand
from rdarts.experiments.overrides import with_settings
from rdarts.experiments.status import collect
from rdarts.experiments.sweepfile import load_sweep

GRID = {"name": "grid", "kind": "search",
        "base": {"space": "s3", "nodes": 1, "layers": 3, "channels": 4, "batch_size": 16,
                 "max_train_images": 48, "epochs": 1, "val_batches": 1, "device": "cpu"},
        "grid": {"seed": [0, 1, 2]}}


@pytest.fixture
def sweep_file(tmp_path: Path) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(GRID))
    return path


def _write_run(path: Path, config: dict, metrics: list[dict] = (), result: dict | None = None):
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metrics))
    if result is not None:
        (path / "result.json").write_text(json.dumps(result))


def test_dry_run_and_status_say_done_partial_pending(tmp_path, sweep_file, capsys):
    out = tmp_path / "sweeps" / "grid"
    flags = ["--set", "hessian_every=0", "--out", str(out)]
    assert main(["sweep", str(sweep_file), *flags, "--only", "seed0", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "start seed0" not in captured.err and "epoch 1/1" not in captured.err  # --quiet
    assert "seed0  done" in captured.out  # the result table stays
    [job1] = [j for j in json.loads((out / "jobs.json").read_text())["jobs"]
              if j["name"] == "seed1"]
    _write_run(out / "seed1" / "search", job1["settings"])  # started, then killed

    assert main(["sweep", str(sweep_file), *flags, "--dry-run"]) == 0
    listing = capsys.readouterr().out
    assert "seed0: search  [done]" in listing and "seed1: search  [partial]" in listing
    assert "seed2: search  [pending]" in listing
    assert f"in {out}: 1 done, 1 partial, 1 pending" in listing

    rows = {row.path: row for row in collect(tmp_path / "sweeps")}
    assert rows["grid/seed0"].kind == "search job" and rows["grid/seed0"].status == "done"
    assert (rows["grid/seed1"].status, rows["grid/seed2"].status) == ("partial", "pending")
    search = rows["grid/seed0/search"]
    assert (search.kind, search.method, search.space, search.status, search.epoch) == (
        "search", "darts", "s3", "completed", "1/1")
    assert search.score.startswith("val_accuracy 0.")
    assert rows["grid/seed1/search"].status == "not started"


def test_status_lists_every_kind_of_run_with_its_numbers(tmp_path, capsys):
    search = {"method": "darts-es", "space": "s5", "epochs": 5}
    _write_run(tmp_path / "running", search, [{"epoch": 0, "val_accuracy": 0.5,
                                               "test_regret": 0.0123}])
    _write_run(tmp_path / "nan", search, [{"epoch": 0}], {"status": "diverged", "epoch": 1})
    _write_run(tmp_path / "train", {"genotype": {}, "eval": "test", "epochs": 2},
               [{"epoch": 0}, {"epoch": 1}], {"status": "completed", "test_error": 0.0625})
    _write_run(tmp_path / "sel", {"protocol": "r-darts(l2)",
                                  "candidates": {"l2-0.0003": {"space": "s3"}}},
               result={"status": "completed", "chosen": "l2-0.0003", "val_accuracy": 0.75,
                       "score": {"name": "accuracy", "higher": True}})
    assert main(["status", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["PATH", "KIND", "METHOD", "SPACE", "STATUS", "EPOCH", "SCORE",
                                "REGRET(pts)"]
    rows = {line.split()[0]: line.split() for line in lines[1:-1]}
    assert rows["running"] == ["running", "search", "darts-es", "s5", "unfinished", "1/5",
                               "val_accuracy", "0.5", "1.23"]
    assert rows["nan"][4:6] == ["diverged", "1/5"]
    assert rows["train"][1:] == ["train", "-", "-", "completed", "2/2", "test_error", "0.0625",
                                 "-"]
    assert rows["sel"][1:5] == ["selection", "r-darts(l2)", "s3", "completed"]
    assert "chosen l2-0.0003: val_accuracy 0.75" in " ".join(rows["sel"])
    assert lines[-1] == "4 listed: 1 diverged, 1 unfinished, 2 completed"  # in path order


def test_status_of_a_missing_directory_is_one_line(tmp_path, capsys):
    assert main(["status", str(tmp_path / "nothing")]) == 2
    missing = tmp_path / "nothing"
    assert capsys.readouterr().err.strip() == f"rdarts: error: {missing} is not a directory"


def test_set_overrides_base_settings_of_every_job(sweep_file):
    sweep = with_settings(load_sweep(sweep_file), ["data_dir=~/data", "weight_decay=1e-3",
                                                   "download=true"])
    jobs = expand(sweep)
    assert {job.settings["data_dir"] for job in jobs} == {"~/data"}
    assert {job.settings["weight_decay"] for job in jobs} == {0.001}
    assert sweep.to_dict()["base"]["download"] is True  # OUT/sweep.yaml records it


@pytest.mark.parametrize(("assignment", "message"), [
    ("seed=4", "sweep grid sets seed per job"),
    ("data_dir", "expected KEY=VALUE"),
    ("=3", "expected KEY=VALUE"),
    ("data-dirr=/x", "unknown option 'data-dirr' (did you mean 'data_dir'?)"),
    ("epochs=many", "option 'epochs' expects int, got 'many'"),
    ("epochs=[1", "--set epochs is not valid YAML"),
])
def test_set_refuses_what_would_not_take_effect(sweep_file, assignment, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        with_settings(load_sweep(sweep_file), [assignment])
