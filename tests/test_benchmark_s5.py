"""The S5 tabular benchmark: the 81 architectures, the table's validation and lookup, its
build through a `kind: train` sweep, and the test regret a search logs against it."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest
import yaml
from scipy.stats import spearmanr

from rdarts.core.genotype import Genotype, derive
from rdarts.domains.image import s5, s5_build
from rdarts.domains.image.spaces import get_space
from rdarts.errors import BenchmarkError, ConfigError, DataError, GenotypeError
from rdarts.experiments import steps as steps_module
from rdarts.experiments.jobs import expand
from rdarts.experiments.sweepfile import sweep_from_dict


def _error(key: str, seed: int) -> float:
    """A deterministic, distinct error per architecture: every sep_conv helps."""
    index = s5.ARCHITECTURE_BY_KEY[key].index
    return round(0.30 - 0.03 * key.count("sep") + 0.0001 * index + 0.002 * seed, 6)


def make_table(seeds: tuple[int, ...] = (0, 1), skip: int = 0) -> dict:
    """A valid hand-made table (the last `skip` architectures left out)."""
    entries = []
    for arch in s5.architectures()[: s5.ARCHITECTURES - skip]:
        runs = [{"seed": seed, "test_error": _error(arch.key, seed),
                 "val_error": _error(arch.key, seed) - 0.01, "parameters": 1000,
                 "train_seconds": 2.0} for seed in seeds]
        entry = {"key": arch.key, "index": arch.index, "genotype": arch.genotype.to_dict(),
                 "parameters": 1000, "train_seconds": 2.0, "seeds": list(seeds), "runs": runs}
        for name in ("test_error", "val_error"):
            values = [r[name] for r in runs]
            mean = sum(values) / len(values)
            std = math.sqrt(sum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1))
            entry[name] = {"mean": mean, "std": std}
        entries.append(entry)
    return {"format": s5.TABLE_FORMAT, "version": s5.TABLE_VERSION, "space": "s5",
            "protocol": {"name": "hand", "train": {"dataset": "fashion-mnist"},
                         "seeds": list(seeds)},
            "entries": entries}


def write_table(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


# ---- architectures ------------------------------------------------------------------------


def test_the_81_architectures_map_to_keys_exactly_once():
    archs = s5.architectures()
    assert len(archs) == 81 == s5.ARCHITECTURES
    assert [a.index for a in archs] == list(range(81))
    assert len({a.key for a in archs}) == 81
    assert len({json.dumps(a.genotype.to_dict()) for a in archs}) == 81
    for arch in archs:
        assert s5.architecture_key(arch.genotype) == arch.key
        assert s5.architecture_key(arch.genotype.to_dict()) == arch.key
    # Every combination of the 4 edges' ops appears: an independent enumeration.
    expected = {f"{a}.{b}-{c}.{d}" for a, b, c, d in itertools.product(("sep", "skip", "pool"),
                                                                       repeat=4)}
    assert {a.key for a in archs} == expected


def test_every_derived_s5_genotype_has_a_key_and_edge_order_does_not_matter():
    import torch

    space = get_space("s5")
    for trial in range(20):
        generator = torch.Generator().manual_seed(trial)
        weights = {cell: torch.rand(2, 3, generator=generator) for cell in ("normal", "reduce")}
        genotype = derive(weights, space)
        key = s5.architecture_key(genotype)
        normal = s5.LONG[key.split("-")[0].split(".")[0]]
        assert normal == space.normal[0][int(weights["normal"][0].argmax())]
    swapped = Genotype(normal=((("skip_connect", 1), ("sep_conv_3x3", 0)),),
                       reduce=((("max_pool_3x3", 0), ("sep_conv_3x3", 1)),))
    assert s5.architecture_key(swapped) == "sep.skip-pool.sep"


@pytest.mark.parametrize("genotype, message", [
    (Genotype(normal=((("sep_conv_3x3", 0), ("sep_conv_3x3", 0)),),
              reduce=((("sep_conv_3x3", 0), ("skip_connect", 1)),)), "one edge from each"),
    (Genotype(normal=((("dil_conv_3x3", 0), ("sep_conv_3x3", 1)),),
              reduce=((("sep_conv_3x3", 0), ("skip_connect", 1)),)), "not an S5 op"),
    (Genotype(normal=((("sep_conv_3x3", 0), ("sep_conv_3x3", 1)),) * 2,
              reduce=((("sep_conv_3x3", 0), ("skip_connect", 1)),) * 2), "1 node"),
])
def test_genotypes_outside_s5_are_rejected(genotype, message):
    with pytest.raises(GenotypeError, match=message):
        s5.architecture_key(genotype)


def test_fits_s5():
    assert s5.fits_s5(get_space("s5"))
    assert not s5.fits_s5(get_space("s3"))
    assert not s5.fits_s5(get_space("s5", 2))


# ---- the table ----------------------------------------------------------------------------


def test_lookup_regret_and_spread_of_a_hand_made_table(tmp_path):
    table = s5.load_table(write_table(tmp_path / "t.json", make_table()))
    assert table.best.key == "sep.sep-sep.sep"  # 4 sep_convs, smallest index
    worst_key = "skip.skip-skip.skip"
    worst = s5.ARCHITECTURE_BY_KEY[worst_key]
    assert table.entry(worst.genotype).key == worst_key
    mean = (_error(worst_key, 0) + _error(worst_key, 1)) / 2
    best = (_error("sep.sep-sep.sep", 0) + _error("sep.sep-sep.sep", 1)) / 2
    assert table.test_regret(worst.genotype) == pytest.approx(mean - best)
    assert table.test_regret(table.best.genotype) == 0.0
    found = table.lookup(worst.genotype.to_dict())
    assert found["architecture"] == worst_key and found["table"] == "s5-hand"
    assert found["parameters"] == 1000
    mean = sum(e.test_error for e in table.entries) / s5.ARCHITECTURES
    assert table.expected_random_regret() == pytest.approx(mean - table.best.test_error)
    assert 0 < table.expected_random_regret() < table.test_regret(worst.genotype)
    spread = table.spread()
    assert spread["best"]["architecture"] == "sep.sep-sep.sep"
    assert spread["worst"]["test_error"] == max(e.test_error for e in table.entries)
    expected = spearmanr([e.test_error for e in table.entries],
                         [e.val_error for e in table.entries]).statistic
    assert spread["test_val_spearman"] == pytest.approx(expected)
    with pytest.raises(BenchmarkError, match="not an S5 architecture"):
        table.entry({"normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 0]], "reduce":
                     [["sep_conv_3x3", 0], ["skip_connect", 1]]})


def _broken(change) -> dict:
    data = make_table()
    change(data)
    return data


@pytest.mark.parametrize("data, message", [
    (make_table(skip=1), "incomplete: 1 of 81"),
    (_broken(lambda d: d["entries"].append(d["entries"][0])), "appears twice"),
    (_broken(lambda d: d.update(format="other")), "not an rdarts S5 table"),
    (_broken(lambda d: d.update(version=99)), "version 99"),
    (_broken(lambda d: d["entries"][3]["test_error"].update(mean=0.9)), "not the mean"),
    (_broken(lambda d: d["entries"][3]["runs"][0].update(test_error=float("nan"))),
     "runs\\[0\\].test_error"),
    (_broken(lambda d: d["entries"][3].update(key="sep.sep-sep.bad")), "not an S5 architecture"),
    (_broken(lambda d: d["entries"][3].update(index=7)), "index 7"),
    (_broken(lambda d: d["entries"][3].pop("runs")), "missing runs"),
    (_broken(lambda d: d["entries"][3].update(genotype=d["entries"][4]["genotype"])),
     "is not the architecture"),
    (_broken(lambda d: d.pop("protocol")), "protocol"),
])
def test_malformed_or_incomplete_tables_are_one_clear_error(tmp_path, data, message):
    with pytest.raises(BenchmarkError, match=message):
        s5.load_table(write_table(tmp_path / "t.json", data))


def test_missing_unreadable_and_unshipped_tables(tmp_path, monkeypatch):
    with pytest.raises(BenchmarkError, match="does not exist"):
        s5.load_table(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(BenchmarkError, match="not valid JSON"):
        s5.load_table(tmp_path / "bad.json")
    monkeypatch.setattr(s5, "shipped_table_path", lambda protocol="cpu": tmp_path / "no.json")
    with pytest.raises(BenchmarkError, match="ships no S5 table"):
        s5.load_table(None)
    assert s5.table_for_search("auto", get_space("s5"), "fashion-mnist") is None


def test_table_for_search_choices(tmp_path, monkeypatch):
    path = write_table(tmp_path / "t.json", make_table())
    space = get_space("s5")
    assert s5.table_for_search("none", space, "fashion-mnist") is None
    assert s5.table_for_search(str(path), space, "cifar10").name == "s5-hand"
    with pytest.raises(ConfigError, match="needs the S5 space"):
        s5.table_for_search(str(path), get_space("s3"), "fashion-mnist")
    monkeypatch.setattr(s5, "shipped_table_path", lambda protocol="cpu": path)
    assert s5.table_for_search("auto", space, "fashion-mnist") is not None
    assert s5.table_for_search("auto", space, "cifar10") is None  # another dataset's table
    assert s5.table_for_search("auto", get_space("s3"), "fashion-mnist") is None


# ---- building a table ---------------------------------------------------------------------


def test_the_build_sweep_trains_every_architecture_with_every_seed():
    data = s5_build.build_sweep_data(s5.PROTOCOLS["cpu"], data_dir="/data/fm")
    sweep = sweep_from_dict(data)
    jobs = expand(sweep)
    assert len(jobs) == 162
    assert {job.point["variant"] for job in jobs} == set(s5.ARCHITECTURE_BY_KEY)
    first = jobs[0]
    assert first.name == "sep.sep-sep.sep_seed0" and first.steps == ("train",)
    assert first.settings["eval"] == "both" and first.settings["data_dir"] == "/data/fm"
    assert first.settings["lr_per_step"] and first.settings["holdout_fraction"] == 1 / 6
    assert s5.architecture_key(first.settings["genotype"]) == "sep.sep-sep.sep"
    paper = expand(sweep_from_dict(
        s5_build.build_sweep_data(s5.PROTOCOLS["paper"], device="cuda")))
    assert paper[0].settings["dataset"] == "cifar10" and paper[0].settings["layers"] == 20
    with pytest.raises(ConfigError, match="unknown S5 benchmark protocol"):
        s5.get_protocol("gpu")


def _fake_training(failing: set[str]):
    """A stand-in for the training step that writes what a finished training writes."""

    def run(job, job_dir, quiet):
        if job_dir.name in failing:
            failing.discard(job_dir.name)
            raise RuntimeError(f"{job_dir.name} killed")
        key = job_dir.name.rsplit("_", 1)[0]
        seed = job["settings"]["seed"]
        path = job_dir / "train"
        path.mkdir(parents=True)
        (path / "config.yaml").write_text(yaml.safe_dump(job["settings"]))
        (path / "result.json").write_text(json.dumps({
            "status": "completed", "genotype": job["settings"]["genotype"],
            "test_error": _error(key, seed), "val_error": _error(key, seed) - 0.01,
            "parameters": 1000, "train_seconds": 2.0}))

    return run


def test_build_table_resumes_and_writes_a_valid_table(tmp_path, monkeypatch):
    protocol = s5.Protocol(name="fake", description="fake", preset="quick",
                           train={"dataset": "fashion-mnist", "eval": "both"}, seeds=(0, 1))
    failing = {"pool.pool-pool.pool_seed1", "sep.skip-pool.sep_seed0"}
    done, _ = steps_module.STEPS["train"]
    monkeypatch.setitem(steps_module.STEPS, "train", (done, _fake_training(failing)))
    first = s5_build.build_table(protocol, tmp_path / "build", retries=0)
    assert (first["done"], first["total"], first["table"]) == (160, 162, None)
    second = s5_build.build_table(protocol, tmp_path / "build", retries=0)
    assert second["done"] == 162 and second["table"] == str(tmp_path / "build" / "s5-fake.json")
    table = s5.load_table(second["table"])
    assert table.name == "s5-fake" and table.best.key == "sep.sep-sep.sep"
    entry = table.entry(s5.ARCHITECTURE_BY_KEY["skip.pool-skip.pool"].genotype)
    values = [_error("skip.pool-skip.pool", seed) for seed in (0, 1)]
    assert entry.test_error == pytest.approx(sum(values) / 2)
    assert entry.test_error_std == pytest.approx(abs(values[0] - values[1]) / math.sqrt(2))
    assert entry.seeds == (0, 1)
    assert table.protocol["resolved_train_settings"]["channels"] == 8  # the quick preset


def _fake_protocol() -> s5.Protocol:
    return s5.Protocol(name="fake", description="fake", preset="quick",
                       train={"dataset": "fashion-mnist", "eval": "both"}, seeds=(0, 1))


def _counting_training(monkeypatch) -> list[str]:
    """Install the fake training step; returns the list of the trainings it runs."""
    trained: list[str] = []
    fake = _fake_training(set())

    def run(job, job_dir, quiet):
        trained.append(job_dir.name)
        fake(job, job_dir, quiet)

    done, _ = steps_module.STEPS["train"]
    monkeypatch.setitem(steps_module.STEPS, "train", (done, run))
    return trained


def test_a_build_continues_from_its_progress_file_in_a_fresh_directory(tmp_path, monkeypatch):
    trained = _counting_training(monkeypatch)
    progress = tmp_path / "kept" / "progress.json"
    first = s5_build.build_table(_fake_protocol(), tmp_path / "machine-a", progress=progress,
                                 max_jobs=5, retries=0)
    assert (first["done"], first["table"], len(trained)) == (5, None, 5)
    assert trained == ["sep.sep-sep.sep_seed0", "sep.sep-sep.sep_seed1",
                       "sep.sep-sep.skip_seed0", "sep.sep-sep.skip_seed1",
                       "sep.sep-sep.pool_seed0"]
    recorded = json.loads(progress.read_text())
    assert recorded["format"] == "rdarts-s5-progress" and len(recorded["runs"]) == 5
    assert recorded["runs"][2] == {"key": "sep.sep-sep.skip", "seed": 0,
                                   "test_error": _error("sep.sep-sep.skip", 0),
                                   "val_error": _error("sep.sep-sep.skip", 0) - 0.01,
                                   "parameters": 1000, "train_seconds": 2.0, "device": None}
    # machine-a's directory is gone; only the progress file travels
    second = s5_build.build_table(_fake_protocol(), tmp_path / "machine-b", progress=progress,
                                  retries=0)
    assert second["done"] == 162 and len(trained) == 162 and len(set(trained)) == 162
    table = s5.load_table(second["table"])
    entry = table.entry(s5.ARCHITECTURE_BY_KEY["sep.sep-sep.skip"].genotype)
    assert entry.runs[0]["test_error"] == _error("sep.sep-sep.skip", 0)
    assert len(json.loads(progress.read_text())["runs"]) == 162


def test_show_progress_ranks_the_architectures_every_seed_finished(tmp_path, monkeypatch,
                                                                   capsys):
    from rdarts.cli.app import main

    _counting_training(monkeypatch)
    progress = tmp_path / "progress.json"
    s5_build.build_table(_fake_protocol(), tmp_path / "a", progress=progress, max_jobs=5)
    entries = s5_build.partial_entries(s5_build.BuildProgress.read(progress))
    assert [e.key for e in entries] == ["sep.sep-sep.sep", "sep.sep-sep.skip"]
    assert entries[1].test_error == pytest.approx(
        (_error("sep.sep-sep.skip", 0) + _error("sep.sep-sep.skip", 1)) / 2)
    capsys.readouterr()
    assert main(["bench", "s5", "show", "--progress", str(progress), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["trainings"], shown["architectures_complete"]) == (5, 2)
    assert shown["ranked"] == ["sep.sep-sep.sep", "sep.sep-sep.skip"]
    assert main(["bench", "s5", "show", "--progress", str(progress)]) == 0
    assert "2 of 81 architectures finished" in capsys.readouterr().out


def test_max_jobs_zero_records_finished_trainings_and_trains_none(tmp_path, monkeypatch):
    trained = _counting_training(monkeypatch)
    out = tmp_path / "build"
    s5_build.build_table(_fake_protocol(), out, max_jobs=3, retries=0)
    assert len(json.loads((out / "progress.json").read_text())["runs"]) == 3
    elsewhere = tmp_path / "copy.json"
    before = sorted(p.name for p in out.iterdir())
    result = s5_build.build_table(_fake_protocol(), out, progress=elsewhere, max_jobs=0)
    assert (result["done"], result["sweep"], len(trained)) == (3, None, 3)
    assert len(json.loads(elsewhere.read_text())["runs"]) == 3
    assert sorted(p.name for p in out.iterdir()) == before


def test_a_progress_file_of_other_settings_or_malformed_is_refused(tmp_path, monkeypatch):
    _counting_training(monkeypatch)
    progress = tmp_path / "progress.json"
    s5_build.build_table(_fake_protocol(), tmp_path / "a", progress=progress, max_jobs=1)
    other = s5.Protocol(name="fake", description="fake", preset="quick",
                        train={"dataset": "fashion-mnist", "eval": "both", "epochs": 1},
                        seeds=(0, 1))
    with pytest.raises(BenchmarkError, match=r"other settings.*epochs"):
        s5_build.build_table(other, tmp_path / "b", progress=progress, max_jobs=0)
    data = json.loads(progress.read_text())
    data["runs"][0].pop("test_error")
    progress.write_text(json.dumps(data))
    with pytest.raises(BenchmarkError, match="missing test_error"):
        s5_build.build_table(_fake_protocol(), tmp_path / "b", progress=progress, max_jobs=0)
    progress.write_text("{not json")
    with pytest.raises(BenchmarkError, match="progress file"):
        s5_build.build_table(_fake_protocol(), tmp_path / "b", progress=progress, max_jobs=0)
    with pytest.raises(ConfigError, match="max-jobs"):
        s5_build.build_table(_fake_protocol(), tmp_path / "b", max_jobs=-1)


def test_build_needs_readable_data(tmp_path):
    with pytest.raises(DataError, match="no Fashion-MNIST IDX files"):
        s5_build.build_table("cpu", tmp_path / "b", data_dir=str(tmp_path / "nothing"))
    assert not (tmp_path / "b").exists()


# ---- regret during the search and in the report -------------------------------------------


@pytest.mark.slow
def test_a_search_on_s5_logs_its_test_regret_every_epoch(tmp_path):
    from rdarts.report import build as report
    from rdarts.search.config import resolve
    from rdarts.search.task import run_search

    path = write_table(tmp_path / "table.json", make_table())
    table = s5.load_table(path)
    config = resolve(overrides={"space": "s5", "method": "darts-es", "es_simulate": True,
                                "layers": 3, "channels": 4, "batch_size": 16,
                                "max_train_images": 64, "epochs": 3, "val_batches": 1,
                                "order": 1, "device": "cpu", "regret_table": str(path)})
    outcome = run_search(config, tmp_path / "run", quiet=True)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert len(records) == 3
    for record in records:
        assert record["test_regret"] == pytest.approx(table.test_regret(record["genotype"]))
        assert record["benchmark"]["architecture"] == s5.architecture_key(record["genotype"])
    assert outcome.result["test_regret"] == pytest.approx(
        table.test_regret(outcome.result["genotype"]))
    built = report.build_report([tmp_path / "run"], tmp_path / "report")
    assert str(tmp_path / "report" / "regret.png") in built["figures"]
    assert (tmp_path / "report" / "regret.png").stat().st_size > 5000
    rows = (tmp_path / "report" / "table_search.csv").read_text().splitlines()
    header = rows[0].split(",")
    value = rows[1].split(",")[header.index("test_regret_points_mean")]
    assert float(value) == pytest.approx(100 * outcome.result["test_regret"], abs=1e-6)


def test_rs_ws_chooses_every_epoch_when_asked_and_logs_regret(tmp_path):
    from rdarts.search.config import resolve
    from rdarts.search.task import run_search

    path = write_table(tmp_path / "table.json", make_table())
    common = {"space": "s5", "method": "rs-ws", "layers": 3, "channels": 4, "batch_size": 16,
              "max_train_images": 64, "epochs": 2, "device": "cpu", "rs_samples": 5,
              "rs_score_batches": 1, "rs_top": 2, "regret_table": str(path)}
    chosen = run_search(resolve(overrides={**common, "rs_choose_every": 1}),
                        tmp_path / "every", quiet=True)
    plain = run_search(resolve(overrides=common), tmp_path / "end", quiet=True)
    records = [json.loads(line) for line in (tmp_path / "every" / "metrics.jsonl").open()]
    assert all("test_regret" in r and "genotype" in r for r in records)
    # Choosing along the way leaves the search itself and its final answer unchanged, and the
    # final answer is the choice logged after the last epoch (same scoring batches).
    assert chosen.result["genotype"] == plain.result["genotype"]
    assert records[-1]["genotype"] == chosen.result["genotype"]
    assert records[-1]["rs_val_accuracy"] == chosen.result["rs_ws"]["val_accuracy"]
    # With the re-scored top cut to one, the first round alone decides: a final choice scored
    # on other batches than the last epoch's would pick another architecture.
    decided = run_search(resolve(overrides={**common, "rs_choose_every": 1, "rs_samples": 60,
                                            "rs_top": 1}), tmp_path / "first", quiet=True)
    last = json.loads((tmp_path / "first" / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["genotype"] == decided.result["genotype"]
    assert "test_regret" in plain.result
    # 81 architectures: 200 draws repeat some; each distinct one is scored once, the re-scored
    # top holds distinct architectures.
    many = run_search(resolve(overrides={**common, "epochs": 1, "rs_samples": 200,
                                         "rs_top": 5}), tmp_path / "many", quiet=True)
    rs = many.result["rs_ws"]
    assert rs["sampled"] == 200 and 40 < rs["scored"] < 81
    keys = [s5.architecture_key(entry["genotype"]) for entry in rs["top"]]
    assert len(set(keys)) == 5


# ---- the command line ---------------------------------------------------------------------


def test_cli_show_and_lookup(tmp_path, capsys):
    from rdarts.cli.app import main

    path = str(write_table(tmp_path / "t.json", make_table()))
    assert main(["bench", "s5", "show", "--table", path, "--top", "3"]) == 0
    shown = capsys.readouterr().out
    assert "best   sep.sep-sep.sep" in shown and shown.count("\n") >= 9
    assert main(["bench", "s5", "show", "--table", path, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ranked"][0] == "sep.sep-sep.sep" and len(data["ranked"]) == 81
    assert main(["bench", "s5", "lookup", "pool.skip-sep.sep", "--table", path]) == 0
    found = json.loads(capsys.readouterr().out)
    table = s5.load_table(path)
    expected = table.test_regret(s5.ARCHITECTURE_BY_KEY["pool.skip-sep.sep"].genotype)
    assert found["architecture"] == "pool.skip-sep.sep"
    assert found["test_regret"] == pytest.approx(expected)
    assert found["test_regret_points"] == pytest.approx(100 * expected)
    genotype = tmp_path / "g.json"
    genotype.write_text(json.dumps(s5.ARCHITECTURE_BY_KEY["skip.sep-pool.pool"].genotype
                                   .to_dict()))
    assert main(["bench", "s5", "lookup", str(genotype), "--table", path]) == 0
    assert json.loads(capsys.readouterr().out)["architecture"] == "skip.sep-pool.pool"


def test_cli_bench_errors_are_one_line(tmp_path, capsys, monkeypatch):
    from rdarts.cli.app import EXIT_USAGE, main

    monkeypatch.setattr(s5, "shipped_table_path", lambda protocol="cpu": tmp_path / "no.json")
    assert main(["bench", "s5", "show"]) == EXIT_USAGE
    assert main(["bench", "s5", "build", "--out", str(tmp_path / "b"),
                 "--data-dir", str(tmp_path / "missing")]) == EXIT_USAGE
    path = str(write_table(tmp_path / "t.json", make_table(skip=2)))
    assert main(["bench", "s5", "lookup", "sep.sep-sep.sep", "--table", path]) == EXIT_USAGE
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("rdarts: error:") for line in lines)
    assert "ships no S5 table" in lines[0] and "incomplete" in lines[2]


def test_shipped_cpu_table_is_complete_and_matches_its_build_record():
    """The shipped table loads, covers the 81 architectures with both seeds, states its
    protocol and version, and every number equals the committed build record's."""
    table = s5.load_table(None)
    assert table.name == "s5-cpu" and table.dataset == "fashion-mnist"
    assert table.data["rdarts_version"] and table.data["built"]
    record = Path(__file__).resolve().parents[1] / "benchmarks" / "s5" / "s5-cpu-progress.json"
    progress = s5_build.BuildProgress.read(record)
    assert len(progress.runs) == 2 * s5.ARCHITECTURES
    for entry in table.entries:
        assert list(entry.seeds) == [0, 1]
        errors = [progress.runs[(entry.key, seed)]["test_error"] for seed in (0, 1)]
        assert entry.test_error == pytest.approx(sum(errors) / 2)
        assert 0.0 < entry.test_error < 0.5
    assert table.best.test_error == min(e.test_error for e in table.entries)
